"""The Deployment scaler through the official client against the local API server double: reads, compare-and-swap
writes, conflicts re-decided, and the 404/403 reasons an operator reads."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from autoscaler.kube import MERGE_PATCH, DeploymentScaler, KubeConnection
from autoscaler.model import ScaleConflict, ScalerError, ScaleState
from autoscaler.rescale import rescale
from doubles.kubernetes.server import KubeApp, create_app, serve_in_thread
from infra.retry import Backoff

NS = "kep"
TOKEN = "test-token"
ScalerFactory = Callable[..., DeploymentScaler]

NO_WAIT = Backoff(initial_s=0, max_s=0, jitter_s=0)


@pytest.fixture(scope="module")
def kube() -> Iterator[tuple[KubeApp, str]]:
    app = create_app(token=TOKEN)
    with serve_in_thread(app) as url:
        yield app, url


@pytest.fixture
def kube_app(kube: tuple[KubeApp, str]) -> Iterator[KubeApp]:
    app = kube[0]
    yield app
    app.cluster.allow_all()


@pytest.fixture
def make_scaler(kube: tuple[KubeApp, str]) -> Iterator[ScalerFactory]:
    """A Deployment of this test's own on the double, and a scaler for it."""
    app, url = kube
    made: list[DeploymentScaler] = []

    def create(replicas: int = 2, *, token: str = TOKEN, exists: bool = True, **options: Any) -> DeploymentScaler:
        name = f"worker-{uuid.uuid4().hex[:8]}"
        if exists:
            app.cluster.create(NS, name, replicas=replicas, **options)
        scaler = DeploymentScaler.connect(f"{NS}/{name}", KubeConnection(api_url=url, token=token))
        made.append(scaler)
        return scaler

    yield create
    for scaler in made:
        app.cluster.delete(scaler.namespace, scaler.name)
        scaler.close()


async def test_read_gives_the_size_the_ready_pods_and_the_version(
    make_scaler: ScalerFactory, kube_app: KubeApp
) -> None:
    scaler = make_scaler(3, ready=1, ready_after_reads=None)

    state = await scaler.read()

    stored = kube_app.cluster.deployment(NS, scaler.name)
    assert state == ScaleState(scaler.target, desired=3, ready=1, version=str(stored.resource_version))


async def test_write_is_a_merge_patch_carrying_the_version_that_was_read(
    make_scaler: ScalerFactory, kube_app: KubeApp
) -> None:
    scaler = make_scaler(2)
    state = await scaler.read()

    after = await scaler.write(5, state)

    assert after.desired == 5
    assert after.version is not None
    assert after.version != state.version
    assert kube_app.cluster.deployment(NS, scaler.name).replicas == 5
    patch = kube_app.seen[-1]
    assert patch.method == "PATCH"
    assert patch.path.endswith(f"/deployments/{scaler.name}/scale")
    assert patch.content_type == MERGE_PATCH
    assert patch.body == {"metadata": {"resourceVersion": state.version}, "spec": {"replicas": 5}}


async def test_scaling_to_zero_reads_back_as_zero(make_scaler: ScalerFactory) -> None:
    # the API server omits spec.replicas from a Scale when it is 0
    scaler = make_scaler(1)

    await scaler.write(0, await scaler.read())

    assert (await scaler.read()).desired == 0


async def test_a_write_on_a_stale_version_is_a_conflict_and_changes_nothing(
    make_scaler: ScalerFactory, kube_app: KubeApp
) -> None:
    # given a read, then somebody else writes the Deployment (a rollout: same size, new version)
    scaler = make_scaler(2)
    state = await scaler.read()
    kube_app.cluster.other_writer(NS, scaler.name)

    # when / then
    with pytest.raises(ScaleConflict) as caught:
        await scaler.write(6, state)
    assert "the object has been modified" in caught.value.reason
    assert kube_app.cluster.deployment(NS, scaler.name).replicas == 2


async def test_rescale_reads_and_decides_again_after_a_conflict(make_scaler: ScalerFactory, kube_app: KubeApp) -> None:
    # given another writer that resizes the Deployment to 7 right after our first read
    scaler = make_scaler(2)
    seen: list[int] = []

    def decide(state: ScaleState) -> int:
        seen.append(state.desired)
        if len(seen) == 1:
            kube_app.cluster.other_writer(NS, scaler.name, replicas=7)
        return state.desired + 1

    # when
    done = await rescale(scaler, decide, backoff=NO_WAIT)

    # then the second decision was made on what the other writer left, and that one was written
    assert seen == [2, 7]
    assert done.attempts == 2
    assert done.before.desired == 7
    assert done.after.desired == 8
    assert kube_app.cluster.deployment(NS, scaler.name).replicas == 8


async def test_rescale_gives_up_after_its_retries(make_scaler: ScalerFactory, kube_app: KubeApp) -> None:
    scaler = make_scaler(2)
    decisions = 0

    def decide(state: ScaleState) -> int:
        nonlocal decisions
        decisions += 1
        kube_app.cluster.other_writer(NS, scaler.name)  # always one step ahead of us
        return 4

    with pytest.raises(ScaleConflict):
        await rescale(scaler, decide, retries=3, backoff=NO_WAIT)
    assert decisions == 4
    assert kube_app.cluster.deployment(NS, scaler.name).replicas == 2


async def test_rescale_does_not_write_when_the_decision_keeps_the_size(
    make_scaler: ScalerFactory, kube_app: KubeApp
) -> None:
    scaler = make_scaler(3)

    done = await rescale(scaler, lambda state: state.desired)

    assert not done.changed
    assert all(r.method == "GET" for r in kube_app.seen if r.path.endswith(f"/{scaler.name}/scale"))


async def test_new_pods_count_as_ready_only_once_they_are(make_scaler: ScalerFactory, kube_app: KubeApp) -> None:
    # given pods that turn ready only when the test says so
    scaler = make_scaler(1, ready_after_reads=None)
    state = await scaler.read()

    # when it grows, the new pods are not ready yet
    await scaler.write(4, state)
    grown = await scaler.read()
    assert (grown.desired, grown.ready) == (4, 1)

    # then they pass their probes: a status write, so the version read before is stale too
    kube_app.cluster.make_ready(NS, scaler.name)
    ready = await scaler.read()
    assert (ready.desired, ready.ready) == (4, 4)
    assert ready.version != grown.version
    with pytest.raises(ScaleConflict):
        await scaler.write(5, grown)


async def test_readiness_catches_up_after_some_reads(make_scaler: ScalerFactory) -> None:
    scaler = make_scaler(1, ready_after_reads=2)
    await scaler.write(3, await scaler.read())

    first, second = await scaler.read(), await scaler.read()

    assert (first.ready, second.ready) == (1, 3)


async def test_a_missing_deployment_is_named(make_scaler: ScalerFactory) -> None:
    scaler = make_scaler(exists=False)

    with pytest.raises(ScalerError) as caught:
        await scaler.read()

    assert caught.value.reason == f"Deployment {scaler.target} not found"
    assert not isinstance(caught.value, ScaleConflict)


async def test_a_forbidden_patch_says_which_permission_is_missing(
    make_scaler: ScalerFactory, kube_app: KubeApp
) -> None:
    scaler = make_scaler(2)
    state = await scaler.read()
    kube_app.cluster.deny("patch", "deployments/scale", NS)

    with pytest.raises(ScalerError) as caught:
        await scaler.write(3, state)

    reason = caught.value.reason
    assert reason.startswith(f"forbidden: the service account needs patch on deployments/scale in {NS}")
    assert "deployments/k8s/autoscaler/rbac.yaml" in reason
    assert "cannot patch resource" in reason  # the API server's own words follow
    assert kube_app.cluster.deployment(NS, scaler.name).replicas == 2


async def test_a_forbidden_read_of_the_deployment_says_so(make_scaler: ScalerFactory, kube_app: KubeApp) -> None:
    scaler = make_scaler(2)
    kube_app.cluster.deny("get", "deployments")

    with pytest.raises(ScalerError) as caught:
        await scaler.read()

    assert caught.value.reason.startswith(f"forbidden: the service account needs get on deployments in {NS}")


async def test_a_wrong_token_is_unauthorized(make_scaler: ScalerFactory) -> None:
    scaler = make_scaler(2, token="not-the-token")

    with pytest.raises(ScalerError, match="unauthorized"):
        await scaler.read()


async def test_an_unreachable_api_server_is_reported(make_scaler: ScalerFactory) -> None:
    scaler = DeploymentScaler.connect(f"{NS}/worker", KubeConnection(api_url="http://127.0.0.1:9", timeout_s=2))
    try:
        with pytest.raises(ScalerError, match="unreachable"):
            await scaler.read()
    finally:
        scaler.close()


async def test_a_write_needs_a_version(make_scaler: ScalerFactory) -> None:
    scaler = make_scaler(2)

    with pytest.raises(ScalerError, match="no resourceVersion"):
        await scaler.write(3, ScaleState(scaler.target, desired=2, ready=2, version=None))


@pytest.mark.parametrize("target", ["worker", "kep/", "Kep/worker", "kep/worker/scale"])
def test_a_target_is_namespace_slash_name(target: str) -> None:
    with pytest.raises(ValueError, match="namespace/name"):
        DeploymentScaler.connect(target, KubeConnection(api_url="http://127.0.0.1:9"))

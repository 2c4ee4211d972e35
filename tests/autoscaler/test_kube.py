"""The Deployment scaler through the official client against a real kube-apiserver (the k8s service: etcd,
kube-apiserver with RBAC, kube-controller-manager, kube-scheduler, kwok's fake node), as the autoscaler's own
ServiceAccount with the repository's Role: reads, compare-and-swap writes the ReplicaSet and its pods follow,
conflicts re-decided, a server restart in the middle of a decision, what the Role allows and refuses, and the
401/403/404 reasons an operator reads."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from autoscaler.kube import DeploymentScaler, KubeConnection, api_client
from autoscaler.model import ScaleConflict, ScalerError, ScaleState, ScaleTargetRefused
from autoscaler.rescale import rescale
from infra.retry import Backoff
from kepctl import services
from tests.autoscaler.kube_cluster import SERVICE_ACCOUNT, KubeNamespace
from tests.helpers import eventually

ScalerFactory = Callable[..., tuple[DeploymentScaler, str]]

NO_WAIT = Backoff(initial_s=0, max_s=0, jitter_s=0)


@pytest.fixture
def make_scaler(kube_ns: KubeNamespace) -> Iterator[ScalerFactory]:
    """A Deployment of this test's own, its pods Running on kwok's node, and a scaler for it as the autoscaler."""
    made: list[DeploymentScaler] = []

    def create(
        replicas: int = 2, *, connection: KubeConnection | None = None, exists: bool = True, settle: bool = True
    ) -> tuple[DeploymentScaler, str]:
        name = kube_ns.create_deployment(replicas) if exists else f"missing-{uuid.uuid4().hex[:8]}"
        scaler = DeploymentScaler.connect(f"{kube_ns.name}/{name}", connection or kube_ns.connection())
        made.append(scaler)
        return scaler, name

    yield create
    for scaler in made:
        scaler.close()


async def settled(kube_ns: KubeNamespace, name: str) -> None:
    """Wait for the controllers to finish with the Deployment, so the version a test reads is not replaced under it
    by a status write (which the autoscaler takes as a conflict, and re-decides)."""
    await kube_ns.wait(lambda: kube_ns.settled(name))


async def test_read_gives_the_size_the_ready_pods_and_the_version(
    make_scaler: ScalerFactory, kube_ns: KubeNamespace
) -> None:
    scaler, name = make_scaler(3)
    await settled(kube_ns, name)

    state = await scaler.read()

    stored = kube_ns.deployment(name)
    assert state == ScaleState(scaler.target, desired=3, ready=3, version=stored.metadata.resource_version)
    assert len(kube_ns.running_pods(name)) == 3  # kwok's node runs them


async def test_a_write_scales_the_deployment_its_replica_set_and_its_pods(
    make_scaler: ScalerFactory, kube_ns: KubeNamespace
) -> None:
    scaler, name = make_scaler(2)
    await settled(kube_ns, name)
    state = await scaler.read()

    after = await scaler.write(5, state)

    assert after.desired == 5
    assert after.version not in (None, state.version)
    assert kube_ns.replicas(name) == 5
    # the server recorded the write as ours, through the scale subresource
    assert ("kep-autoscaler", "scale") in kube_ns.managers(name)
    # kube-controller-manager resizes the ReplicaSet, kube-scheduler places the pods, kwok runs them
    await kube_ns.wait(lambda: kube_ns.replica_set_sizes(name) == [5])
    await kube_ns.wait(lambda: len(kube_ns.running_pods(name)) == 5)
    await kube_ns.wait(lambda: kube_ns.settled(name))
    assert (await scaler.read()).ready == 5


async def test_scaling_to_zero_reads_back_as_zero(make_scaler: ScalerFactory, kube_ns: KubeNamespace) -> None:
    # the API server omits spec.replicas from a Scale when it is 0
    scaler, name = make_scaler(1)
    await settled(kube_ns, name)

    await scaler.write(0, await scaler.read())

    await kube_ns.wait(lambda: not kube_ns.running_pods(name))
    assert (await scaler.read()).desired == 0


async def test_pods_that_cannot_run_are_not_counted_ready(kube_ns: KubeNamespace, tmp_path: Path) -> None:
    # given pods no node will take (they select a node that does not exist): Pending, never Ready
    name = kube_ns.create_deployment(3, node_selector={"kep.test/node": "none"})
    scaler = DeploymentScaler.connect(f"{kube_ns.name}/{name}", kube_ns.connection())
    try:
        await kube_ns.wait(lambda: (kube_ns.deployment(name).status.replicas or 0) == 3)

        state = await scaler.read()

        assert (state.desired, state.ready) == (3, 0)  # readyReplicas is omitted when 0
    finally:
        scaler.close()


async def test_a_write_on_a_stale_version_is_a_conflict_and_changes_nothing(
    make_scaler: ScalerFactory, kube_ns: KubeNamespace
) -> None:
    # given a read, then somebody else writes the Deployment (same size, new version)
    scaler, name = make_scaler(2)
    await settled(kube_ns, name)
    state = await scaler.read()
    kube_ns.other_writer(name)

    # when / then
    with pytest.raises(ScaleConflict) as caught:
        await scaler.write(6, state)
    assert "the object has been modified" in caught.value.reason
    assert kube_ns.replicas(name) == 2
    assert ("kep-autoscaler", "scale") not in kube_ns.managers(name)


async def test_rescale_reads_and_decides_again_after_a_conflict(
    make_scaler: ScalerFactory, kube_ns: KubeNamespace
) -> None:
    # given another writer that resizes the Deployment to 7 right after our first read
    scaler, name = make_scaler(2)
    await settled(kube_ns, name)
    seen: list[int] = []

    def decide(state: ScaleState) -> int:
        seen.append(state.desired)
        if len(seen) == 1:
            kube_ns.other_writer(name, replicas=7)
        return state.desired + 1

    # when
    done = await rescale(scaler, decide, backoff=NO_WAIT)

    # then the second decision was made on what the other writer left, and that one was written
    assert seen[:2] == [2, 7]
    assert done.before.desired == 7
    assert done.after.desired == 8
    assert kube_ns.replicas(name) == 8


async def test_rescale_gives_up_after_its_retries(make_scaler: ScalerFactory, kube_ns: KubeNamespace) -> None:
    scaler, name = make_scaler(2)
    await settled(kube_ns, name)
    decisions = 0

    def decide(state: ScaleState) -> int:
        nonlocal decisions
        decisions += 1
        kube_ns.other_writer(name)  # always one step ahead of us
        return 4

    with pytest.raises(ScaleConflict):
        await rescale(scaler, decide, retries=3, backoff=NO_WAIT)
    assert decisions == 4
    assert kube_ns.replicas(name) == 2


async def test_rescale_does_not_write_when_the_decision_keeps_the_size(
    make_scaler: ScalerFactory, kube_ns: KubeNamespace
) -> None:
    scaler, name = make_scaler(3)
    await settled(kube_ns, name)

    done = await rescale(scaler, lambda state: state.desired)

    assert not done.changed
    assert ("kep-autoscaler", "scale") not in kube_ns.managers(name)


async def test_a_server_restart_in_the_middle_of_a_decision(
    make_scaler: ScalerFactory, kube_ns: KubeNamespace, k8s: services.Kubernetes
) -> None:
    # given a decision made on a read, and the API server going down before it is written
    scaler, name = make_scaler(2)
    await settled(kube_ns, name)
    state = await scaler.read()
    [apiserver] = [c for c in k8s.components if c.name == "k8s-apiserver"]
    apiserver.stop()
    try:
        # the write fails as unreachable (not as a conflict: the caller tries again at its next tick)
        with pytest.raises(ScalerError) as caught:
            await scaler.write(4, state)
        assert "unreachable" in caught.value.reason
        assert not isinstance(caught.value, ScaleConflict)
    finally:
        k8s.start()  # the API server again (and whatever lost it and gave up)
    # when it is back, the version read before survived in etcd: the same decision is written, exactly once
    after = await scaler.write(4, state)
    assert after.desired == 4
    assert kube_ns.replicas(name) == 4
    # and a second write on the version read before the restart is a conflict, not a second resize
    with pytest.raises(ScaleConflict):
        await scaler.write(6, state)
    assert kube_ns.replicas(name) == 4
    await kube_ns.wait(lambda: len(kube_ns.running_pods(name)) == 4)


async def test_a_missing_deployment_is_named(make_scaler: ScalerFactory) -> None:
    scaler, _ = make_scaler(exists=False)

    with pytest.raises(ScalerError) as caught:
        await scaler.read()

    name = scaler.target.split("/")[1]
    # ours, then the API server's own words
    assert caught.value.reason == f'Deployment {scaler.target} not found (deployments.apps "{name}" not found)'
    assert isinstance(caught.value, ScaleTargetRefused)


async def test_a_forbidden_patch_says_which_permission_is_missing(
    make_scaler: ScalerFactory, kube_ns: KubeNamespace
) -> None:
    # given the Role without patch on deployments/scale (an operator's edit of rbac.yaml)
    scaler, name = make_scaler(2)
    await settled(kube_ns, name)
    state = await scaler.read()
    kube_ns.set_role_verbs("deployments/scale", ["get"])
    try:
        # RBAC sees a changed Role within moments (its informer); until then the patch would still pass
        async def refused() -> bool:
            try:
                await scaler.write(2, await scaler.read())
            except ScalerError as exc:
                return exc.reason.startswith("forbidden")
            return False

        await eventually(refused, within=30)

        with pytest.raises(ScalerError) as caught:
            await scaler.write(3, await scaler.read())
    finally:
        kube_ns.set_role_verbs("deployments/scale", ["get", "patch"])

    reason = caught.value.reason
    assert reason.startswith(f"forbidden: the service account needs patch on deployments/scale in {kube_ns.name}")
    assert "deployments/k8s/autoscaler/rbac.yaml" in reason
    # the API server's own words follow
    who = f"system:serviceaccount:{kube_ns.name}:{SERVICE_ACCOUNT}"
    assert f'User "{who}" cannot patch resource "deployments/scale"' in reason
    assert kube_ns.replicas(name) == 2
    assert state.desired == 2


async def test_a_deployment_in_another_namespace_is_forbidden(
    kube_ns: KubeNamespace, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # the Role is namespaced: the same ServiceAccount may not even read a Deployment next door
    other = KubeNamespace.create(kube_ns.k8s, tmp_path_factory.mktemp("other"))
    try:
        name = other.create_deployment(1)
        scaler = DeploymentScaler.connect(f"{other.name}/{name}", kube_ns.connection())
        try:
            with pytest.raises(ScalerError) as caught:
                await scaler.read()
        finally:
            scaler.close()
        assert caught.value.reason.startswith(
            f"forbidden: the service account needs get on deployments in {other.name}"
        )
        assert other.replicas(name) == 1
    finally:
        other.delete()


def _status(call: Callable[[], Any]) -> int:
    try:
        call()
    except ApiException as exc:
        return int(exc.status)
    return 200


async def test_the_service_account_may_scale_and_nothing_else(
    make_scaler: ScalerFactory, kube_ns: KubeNamespace
) -> None:
    # given the autoscaler's ServiceAccount with the repository's Role, and a Deployment and a Secret beside it
    _, name = make_scaler(1)
    kube_ns.core.create_namespaced_secret(
        kube_ns.name, client.V1Secret(metadata=client.V1ObjectMeta(name="db-password"), string_data={"p": "s3cret"})
    )
    api = api_client(kube_ns.connection())
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    ns = kube_ns.name
    try:
        # it may read the Deployment and read and patch its scale
        assert _status(lambda: apps.read_namespaced_deployment(name, ns)) == 200
        assert _status(lambda: apps.read_namespaced_deployment_scale(name, ns)) == 200
        assert _status(lambda: apps.patch_namespaced_deployment_scale(name, ns, {"spec": {"replicas": 2}})) == 200
        # and is refused everything else: deleting or editing the Deployment, Secrets, pods, another namespace
        assert _status(lambda: apps.delete_namespaced_deployment(name, ns)) == 403
        assert _status(lambda: apps.patch_namespaced_deployment(name, ns, {"spec": {"replicas": 9}})) == 403
        assert _status(lambda: core.read_namespaced_secret("db-password", ns)) == 403
        assert _status(lambda: core.list_namespaced_secret(ns)) == 403
        assert _status(lambda: core.list_namespaced_pod(ns)) == 403
        assert _status(lambda: apps.list_deployment_for_all_namespaces()) == 403
        assert _status(lambda: apps.read_namespaced_deployment_scale(name, "default")) == 403
        assert kube_ns.replicas(name) == 2
        # and the server says so: in its namespace the Role is all it has (beyond what every user may do)
        review = client.V1SelfSubjectRulesReview(spec=client.V1SelfSubjectRulesReviewSpec(namespace=ns))
        rules = client.AuthorizationV1Api(api).create_self_subject_rules_review(review).status.resource_rules
        granted = {
            (resource, verb)
            for rule in rules
            if "authorization.k8s.io" not in (rule.api_groups or [])
            and "authentication.k8s.io" not in (rule.api_groups or [])
            for resource in rule.resources or []
            for verb in rule.verbs
        }
        assert granted == {("deployments/scale", "get"), ("deployments/scale", "patch"), ("deployments", "get")}
    finally:
        api.close()  # type: ignore[no-untyped-call]


async def test_a_wrong_token_is_unauthorized(make_scaler: ScalerFactory, kube_ns: KubeNamespace) -> None:
    scaler, _ = make_scaler(2, connection=kube_ns.connection("not-a-token"))

    with pytest.raises(ScalerError, match="unauthorized"):
        await scaler.read()


async def test_an_expired_token_is_unauthorized(make_scaler: ScalerFactory, kube_ns: KubeNamespace) -> None:
    # given the same token signed by the server's key: accepted while it lives, refused once it has expired
    living, name = make_scaler(2, connection=kube_ns.connection(kube_ns.signed_token(expires_in=600)))
    assert (await living.read()).desired == 2
    expired = DeploymentScaler.connect(
        f"{kube_ns.name}/{name}", kube_ns.connection(kube_ns.signed_token(expires_in=-60))
    )
    try:
        with pytest.raises(ScalerError) as caught:
            await expired.read()
    finally:
        expired.close()
    assert caught.value.reason == "unauthorized: the API server refused the credentials (token expired?) (Unauthorized)"


async def test_a_token_of_a_deleted_service_account_is_unauthorized(
    make_scaler: ScalerFactory, kube_ns: KubeNamespace
) -> None:
    # given a token from the TokenRequest API, then the ServiceAccount deleted and made again (same name, new uid)
    scaler, _ = make_scaler(2)
    assert (await scaler.read()).desired == 2
    kube_ns.core.delete_namespaced_service_account(SERVICE_ACCOUNT, kube_ns.name)
    kube_ns.core.create_namespaced_service_account(
        kube_ns.name, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=SERVICE_ACCOUNT))
    )

    async def refused() -> bool:
        try:
            await scaler.read()
        except ScalerError as exc:
            return "unauthorized" in exc.reason
        return False

    await eventually(refused, within=30)


async def test_an_unreachable_api_server_is_reported() -> None:
    scaler = DeploymentScaler.connect("kep/worker", KubeConnection(api_url="http://127.0.0.1:9", timeout_s=2))
    try:
        with pytest.raises(ScalerError, match="unreachable"):
            await scaler.read()
    finally:
        scaler.close()


async def test_a_write_needs_a_version(make_scaler: ScalerFactory) -> None:
    scaler, _ = make_scaler(2)

    with pytest.raises(ScalerError, match="no resourceVersion"):
        await scaler.write(3, ScaleState(scaler.target, desired=2, ready=2, version=None))


@pytest.mark.parametrize("target", ["worker", "kep/", "Kep/worker", "kep/worker/scale"])
def test_a_target_is_namespace_slash_name(target: str) -> None:
    with pytest.raises(ValueError, match="namespace/name"):
        DeploymentScaler.connect(target, KubeConnection(api_url="http://127.0.0.1:9"))


async def test_verify_passes_for_a_deployment_it_may_scale_and_changes_nothing(
    make_scaler: ScalerFactory, kube_ns: KubeNamespace
) -> None:
    scaler, name = make_scaler(2)
    await settled(kube_ns, name)
    version = kube_ns.deployment(name).metadata.resource_version

    await scaler.verify()  # the patch is a server-side dry run

    assert kube_ns.deployment(name).metadata.resource_version == version
    assert kube_ns.replicas(name) == 2


async def test_verify_refuses_a_missing_deployment_with_the_servers_answer(make_scaler: ScalerFactory) -> None:
    scaler, name = make_scaler(exists=False)

    with pytest.raises(ScaleTargetRefused) as caught:
        await scaler.verify()

    assert f'deployments.apps "{name}" not found' in caught.value.reason


async def test_verify_refuses_a_deployment_the_role_may_not_patch(
    make_scaler: ScalerFactory, kube_ns: KubeNamespace
) -> None:
    scaler, name = make_scaler(1)
    kube_ns.set_role_verbs("deployments/scale", ["get"])
    try:
        refusal: ScaleTargetRefused | None = None

        async def refused() -> bool:
            nonlocal refusal
            try:
                await scaler.verify()
            except ScaleTargetRefused as exc:
                refusal = exc
                return True
            return False

        await eventually(refused, within=30)  # RBAC sees the changed Role within moments
    finally:
        kube_ns.set_role_verbs("deployments/scale", ["get", "patch"])

    assert refusal is not None
    who = f"system:serviceaccount:{kube_ns.name}:{SERVICE_ACCOUNT}"
    assert f'User "{who}" cannot patch resource "deployments/scale"' in refusal.reason
    assert kube_ns.replicas(name) == 1

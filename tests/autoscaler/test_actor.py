"""The autoscaler on one machine, end to end: a flooded queue grows a pool of real consumer actors, the queue
drains, the pool shrinks back after its window, and no message is redelivered on the way (members are drained
before they go). Dry run decides without acting; a policy file that does not validate is refused, field by field.
A Kubernetes target is a Deployment on the real API server of the k8s service, scaled as the autoscaler's own
ServiceAccount: its pods follow on kwok's node, and a Role without patch is reported, not worked around.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
import ray

from actors.ray_options import ActorHandle, call_actor
from autoscaler.actor import AUTOSCALER_ACTOR, AutoscalerActor
from bpmn_bridge.engine import EngineClient
from infra import amqp
from infra.settings import Settings
from kepctl import services
from tests.autoscaler.kube_cluster import KubeNamespace
from tests.helpers import bearer, eventually
from tests.queues import flood, purge, queue_stats

MESSAGES = 300

POLICY = """
targets:
  - name: flood
    queues: [{queue}]
    scale:
      ray_pool:
        name: {queue}
        member: autoscaler.sink:pool_member
        options: {{queue: {queue}, service_time_s: 0.05, prefetch: 1}}
        drain_seconds: 10
    min_replicas: 1
    max_replicas: {max_replicas}
    target_backlog_per_replica: 20
    prefetch: 1
    interval_seconds: 1
    stale_after_seconds: 15
    rate_window_seconds: 10
    scale_down: {{stabilization_window_seconds: 5}}
"""


def members(pool: str) -> list[str]:
    return sorted(n for n in ray.util.list_named_actors() if n.startswith(f"{pool}-"))


@pytest.fixture
def start_autoscaler(
    ray_app: dict[str, Any], settings: Settings, tmp_path: Path, flood_queue: str
) -> Iterator[Callable[..., ActorHandle]]:
    started: list[ActorHandle] = []

    def start(dry_run: bool = False, max_replicas: int = 4) -> ActorHandle:
        policy = tmp_path / "policies.yaml"
        policy.write_text(POLICY.format(queue=flood_queue, max_replicas=max_replicas))
        handle = AutoscalerActor.options(name=f"autoscaler-{uuid.uuid4().hex[:6]}").remote(
            settings, str(policy), dry_run
        )
        started.append(handle)
        ray.get(handle.__ray_ready__.remote())
        return handle

    yield start
    for handle in started:
        ray.kill(handle, no_restart=True)
    for name in members(flood_queue):
        ray.kill(ray.get_actor(name), no_restart=True)


async def test_a_flood_grows_the_pool_which_drains_the_queue_and_shrinks_back(
    start_autoscaler: Callable[..., ActorHandle], settings: Settings, flood_queue: str
) -> None:
    autoscaler = start_autoscaler()

    async def at_min() -> bool:
        return len(members(flood_queue)) == 1  # "below min_replicas 1": the pool is started

    await eventually(at_min, within=60)
    await flood(settings, flood_queue, MESSAGES)

    peak = 0

    async def grown() -> bool:
        nonlocal peak
        peak = max(peak, len(members(flood_queue)))
        return peak > 1

    await eventually(grown, within=60)

    async def drained_and_shrunk() -> bool:
        stats = await queue_stats(settings, flood_queue)
        empty = stats.get("messages_ready") == 0 and stats.get("messages_unacknowledged") == 0
        return empty and len(members(flood_queue)) == 1

    await eventually(drained_and_shrunk, within=180)
    stats = await queue_stats(settings, flood_queue)
    # every message acknowledged once: none went back to the queue because its consumer was removed mid-work
    assert stats["message_stats"]["ack"] == MESSAGES
    assert stats["message_stats"].get("redeliver", 0) == 0

    view = await call_actor(autoscaler.view.remote(500))
    applied = [d for d in view["decisions"] if d["applied"]]
    assert any(d["desired"] > d["current"] and d["reason"].startswith("scale up") for d in applied)
    assert any(d["desired"] < d["current"] and d["reason"].startswith("scale down") for d in applied)
    [target] = view["targets"]
    assert target["replicas"] == {"desired": 1, "ready": 1}
    assert target["metrics"][flood_queue]["ready"] == 0


async def test_dry_run_decides_and_logs_but_leaves_the_pool_alone(
    start_autoscaler: Callable[..., ActorHandle], settings: Settings, flood_queue: str
) -> None:
    autoscaler = start_autoscaler(dry_run=True)
    await flood(settings, flood_queue, 100)

    async def wants_more() -> bool:
        view = await call_actor(autoscaler.view.remote(500))
        return any(d["desired"] > d["current"] for d in view["decisions"])

    await eventually(wants_more, within=60)
    view = await call_actor(autoscaler.view.remote(500))
    assert view["dry_run"] is True
    assert not any(d["applied"] for d in view["decisions"])
    assert members(flood_queue) == []  # not even the minimum was started


async def test_a_policy_file_that_does_not_validate_is_refused_and_the_old_one_stays(
    start_autoscaler: Callable[..., ActorHandle], tmp_path: Path
) -> None:
    autoscaler = start_autoscaler(dry_run=True)
    policy = tmp_path / "policies.yaml"
    policy.write_text(policy.read_text().replace("max_replicas: 4", "max_replicas: 0"))
    result = await call_actor(autoscaler.reload.remote())
    assert result["reloaded"] is False
    assert any(p.startswith("targets.0.max_replicas:") for p in result["problems"])
    view = await call_actor(autoscaler.view.remote())
    assert view["targets"][0]["policy"]["max_replicas"] == 4

    # valid YAML, but a pool member nobody can start: refused as well, and the loop goes on
    policy.write_text(
        policy.read_text()
        .replace("max_replicas: 0", "max_replicas: 5")
        .replace("autoscaler.sink:pool_member", "autoscaler.sink:no_such_member")
    )
    result = await call_actor(autoscaler.reload.remote())
    assert result["reloaded"] is False
    assert "no pool member factory 'autoscaler.sink:no_such_member'" in result["problems"][0]
    policy.write_text(policy.read_text().replace("autoscaler.sink:no_such_member", "autoscaler.sink:pool_member"))

    assert (await call_actor(autoscaler.view.remote()))["targets"][0]["policy"]["max_replicas"] == 4
    policy.write_text(policy.read_text().replace("max_replicas: 5", "max_replicas: 6"))
    assert (await call_actor(autoscaler.reload.remote()))["reloaded"] is True
    view = await call_actor(autoscaler.view.remote())
    assert view["targets"][0]["policy"]["max_replicas"] == 6


async def test_the_http_view_is_for_administrators(
    ray_app: dict[str, Any], http: httpx.AsyncClient, token_for: Callable[..., str]
) -> None:
    admin = bearer(token_for(uuid.uuid4(), roles=("administrator",)))
    view = await http.get("/api/admin/autoscaler", headers=admin)
    assert view.status_code == 200, view.text
    assert [t["name"] for t in view.json()["targets"]] == ["bridge-workers", "delivery-workers", "renderers"]
    assert view.json()["targets"][0]["scale"] == "ray_pool:kep-task-worker"
    employee = bearer(token_for(uuid.uuid4(), roles=("employee", "supervisor")))
    assert (await http.get("/api/admin/autoscaler", headers=employee)).status_code == 403
    assert (await http.post("/api/admin/autoscaler/reload", headers=employee)).status_code == 403
    assert (await http.get("/api/admin/autoscaler")).status_code == 401
    reloaded = await http.post("/api/admin/autoscaler/reload", headers=admin)
    assert reloaded.status_code == 200
    assert reloaded.json() == {"reloaded": True, "targets": ["bridge-workers", "delivery-workers", "renderers"]}
    assert ray.get_actor(AUTOSCALER_ACTOR) is not None


K8S_POLICY = """
targets:
  - name: k8s-workers
    queues: [{queue}]
    scale:
      kubernetes: {{namespace: {namespace}, name: {name}}}
    min_replicas: 1
    max_replicas: 5
    target_backlog_per_replica: 20
    interval_seconds: 1
    stale_after_seconds: 15
    scale_down: {{stabilization_window_seconds: 3}}
"""


async def test_a_kubernetes_deployment_is_scaled_through_its_scale_subresource(
    ray_app: dict[str, Any], settings: Settings, tmp_path: Path, flood_queue: str, k8s: services.Kubernetes
) -> None:
    # given a Deployment on the real API server, and the autoscaler reaching it as its own ServiceAccount
    kube_ns = KubeNamespace.create(k8s, tmp_path)
    name = kube_ns.create_deployment(1)
    policy = tmp_path / "k8s.yaml"
    policy.write_text(K8S_POLICY.format(queue=flood_queue, namespace=kube_ns.name, name=name))
    connection = kube_ns.connection()
    reach = settings.model_copy(update={"kube_api_url": None, "kube_token": None, "kubeconfig": connection.kubeconfig})
    autoscaler = AutoscalerActor.options(name=f"autoscaler-{uuid.uuid4().hex[:6]}").remote(reach, str(policy))
    try:
        await flood(settings, flood_queue, 200)  # nobody consumes: 200 waiting at 20 a replica

        def replicas(n: int) -> Callable[[], Awaitable[bool]]:
            async def check() -> bool:
                return await asyncio.to_thread(kube_ns.replicas, name) == n

            return check

        await eventually(replicas(5), within=60)  # 1 → 5: max_replicas (and the +4 step)
        # the ReplicaSet follows and kwok's node runs the pods
        await eventually(lambda: asyncio.to_thread(lambda: len(kube_ns.running_pods(name)) == 5), within=60)
        # RBAC takes the right away (the Role without patch): the decision says what to grant, the size stays
        kube_ns.set_role_verbs("deployments/scale", ["get"])
        await purge(settings, flood_queue)

        async def refused() -> bool:
            view = await call_actor(autoscaler.view.remote())
            return "deployments/k8s/autoscaler/rbac.yaml" in (view["targets"][0]["error"] or "")

        await eventually(refused, within=60)
        assert kube_ns.replicas(name) == 5
        kube_ns.set_role_verbs("deployments/scale", ["get", "patch"])
        await eventually(replicas(1), within=60)  # empty queue, after the 3 s window: back to min
    finally:
        ray.kill(autoscaler, no_restart=True)
        kube_ns.delete()


async def test_a_policy_naming_a_deployment_that_cannot_be_scaled_is_refused_with_the_servers_answer(
    ray_app: dict[str, Any], settings: Settings, tmp_path: Path, flood_queue: str, k8s: services.Kubernetes
) -> None:
    kube_ns = KubeNamespace.create(k8s, tmp_path)
    missing = f"later-{uuid.uuid4().hex[:8]}"
    policy = tmp_path / "k8s.yaml"
    policy.write_text(K8S_POLICY.format(queue=flood_queue, namespace=kube_ns.name, name=missing))
    connection = kube_ns.connection()
    reach = settings.model_copy(update={"kube_api_url": None, "kube_token": None, "kubeconfig": connection.kubeconfig})
    # at start, a Deployment that does not exist (yet): the actor runs, scales nothing and says why
    autoscaler = AutoscalerActor.options(name=f"autoscaler-{uuid.uuid4().hex[:6]}").remote(
        reach, str(policy), None, 1.0
    )
    try:
        view = await call_actor(autoscaler.view.remote())
        assert view["targets"] == []
        assert view["refused"]["problems"] == [
            f"targets.0.scale.kubernetes: Deployment {kube_ns.name}/{missing} not found "
            f'(deployments.apps "{missing}" not found)'
        ]
        # created afterwards (the same sync, a moment later): the load is tried again and taken
        kube_ns.create_deployment(1, name=missing)

        async def loaded() -> bool:
            view = await call_actor(autoscaler.view.remote())
            return [t["name"] for t in view["targets"]] == ["k8s-workers"] and view["refused"] is None

        await eventually(loaded, within=30)

        # a change naming a Deployment the ServiceAccount may not scale (another namespace): refused with the API
        # server's words, and the target in force stays
        policy.write_text(K8S_POLICY.format(queue=flood_queue, namespace="default", name=missing))
        result = await call_actor(autoscaler.reload.remote())
        assert result["reloaded"] is False
        [problem] = result["problems"]
        assert problem.startswith("targets.0.scale.kubernetes: forbidden: the service account needs get on ")
        who = f"system:serviceaccount:{kube_ns.name}:kep-autoscaler"
        assert f'User "{who}" cannot get resource "deployments/scale" in API group "apps"' in problem
        view = await call_actor(autoscaler.view.remote())
        assert view["targets"][0]["scale"] == f"kubernetes:{kube_ns.name}/{missing}"
        assert view["refused"] == result
    finally:
        ray.kill(autoscaler, no_restart=True)
        kube_ns.delete()


ENGINE_POLICY = """
targets:
  - name: engine-workers
    queues: [tasks.{topic}]
    scale:
      ray_pool:
        name: {pool}
        member: autoscaler.sink:pool_member
        options: {{queue: tasks.{topic}, service_time_s: 0.05, prefetch: 1}}
        drain_seconds: 10
    min_replicas: 1
    max_replicas: 3
    target_backlog_per_replica: 20
    prefetch: 1
    upstream_backlog: true
    engine_backlog: true
    interval_seconds: 1
    stale_after_seconds: 15
    scale_down: {{stabilization_window_seconds: 3}}
"""


async def test_work_waiting_in_the_engine_grows_the_pool(
    ray_app: dict[str, Any], settings: Settings, tmp_path: Path
) -> None:
    """Behind the bridge the backlog is in the engine, not in the queue: the autoscaler reads it there."""
    run = uuid.uuid4().hex[:8]
    topic, pool = f"backlog-{run}", f"engine-pool-{run}"
    tenant = f"autoscale-{run}"  # a tenant no bridge fetches from: the tasks stay in the engine
    bpmn = (Path(__file__).parents[1] / "bpmn_bridge" / "processes" / "engine_client.bpmn").read_text()
    key = f"ec_{run}_work"
    bpmn = bpmn.replace("RUN", run).replace(f"ec-{run}-work", topic)
    policy = tmp_path / "engine.yaml"
    policy.write_text(ENGINE_POLICY.format(topic=topic, pool=pool))
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    async with connection, EngineClient(settings.engine_url, tenant_id=tenant) as engine:
        await amqp.declare_queue(await connection.channel(), f"tasks.{topic}", [])
        deployed = await engine.deploy(f"autoscale-{run}", {"work.bpmn": bpmn.encode()})
        scoped = settings.model_copy(update={"engine_tenant": tenant})
        autoscaler = AutoscalerActor.options(name=f"autoscaler-{run}").remote(scoped, str(policy))
        try:
            for i in range(60):  # 60 waiting at 20 a replica: 3
                await engine.start_process(key, f"k-{i}", {})

            async def grown() -> bool:  # the autoscaler's own view: the members are up and the decision recorded
                view = await call_actor(autoscaler.view.remote(1))
                return bool(view["targets"][0]["replicas"] == {"desired": 3, "ready": 3})

            await eventually(grown, within=90)
            assert len(members(pool)) == 3
            view = await call_actor(autoscaler.view.remote(500))
            grew = [d for d in view["decisions"] if d["applied"] and d["desired"] > max(1, d["current"])]
            assert grew, [(d["current"], d["desired"], d["applied"], d["reason"]) for d in view["decisions"]]
            assert all(d["metrics"][f"tasks.{topic}"]["ready"] in (0, None) for d in grew)  # nothing in the queue
            assert all(d["metrics"][f"tasks.{topic}"]["upstream"] > 20 for d in grew)  # it was all in the engine

            async def all_counted() -> bool:
                view = await call_actor(autoscaler.view.remote(1))
                return bool(view["targets"][0]["metrics"][f"tasks.{topic}"]["upstream"] == 60)

            await eventually(all_counted, within=30)

            async with httpx.AsyncClient(base_url=settings.engine_url, timeout=30) as http:
                await http.delete(f"/deployment/{deployed.id}", params={"cascade": "true"})

            async def shrunk() -> bool:
                return len(members(pool)) == 1

            await eventually(shrunk, within=90)  # the engine's backlog gone: back to the minimum
        finally:
            ray.kill(autoscaler, no_restart=True)
            for name in members(pool):
                ray.kill(ray.get_actor(name), no_restart=True)
            channel = await connection.channel()
            await channel.queue_delete(f"tasks.{topic}")
            await channel.queue_delete(f"tasks.{topic}.dlq")


async def test_a_refused_reload_over_http_is_422_with_pointers_into_the_file(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    settings: Settings,
    token_for: Callable[..., str],
    tmp_path: Path,
    flood_queue: str,
) -> None:
    policy = tmp_path / "policies.yaml"
    policy.write_text(POLICY.format(queue=flood_queue, max_replicas=4))
    admin = bearer(token_for(uuid.uuid4(), roles=("administrator",)))
    # this test's autoscaler in place of the session's, so that the file it reads can be broken
    ray.kill(ray.get_actor(AUTOSCALER_ACTOR), no_restart=True)
    await eventually(_autoscaler_name_free, within=30)
    ours = AutoscalerActor.options(name=AUTOSCALER_ACTOR).remote(settings, str(policy), True)
    try:
        ray.get(ours.__ray_ready__.remote())
        policy.write_text(policy.read_text().replace("max_replicas: 4", "max_replicas: 0"))
        refused = await http.post("/api/admin/autoscaler/reload", headers=admin)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        [error] = refused.json()["errors"]
        assert (error["path"], error["type"]) == ("/targets/0/max_replicas", "policy")
    finally:
        ray.kill(ours, no_restart=True)
        await eventually(_autoscaler_name_free, within=30)
        # detached: nobody holds its handle after this test, and a named actor lives only as long as one is held
        session = AutoscalerActor.options(name=AUTOSCALER_ACTOR, lifetime="detached").remote(settings)
        ray.get(session.__ray_ready__.remote())

        async def served_again() -> bool:  # Ray's name table takes a moment to show the new holder of the name
            return (await http.get("/api/admin/autoscaler", headers=admin)).status_code == 200

        await eventually(served_again, within=30)


async def _autoscaler_name_free() -> bool:
    """`ray.kill` returns before the name is given up: a new actor of that name is refused until then."""
    try:
        ray.get_actor(AUTOSCALER_ACTOR)
    except ValueError:
        return True
    return False

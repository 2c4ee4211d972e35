"""The loop closed on one machine, as it runs in a cluster: a spike of messages → queue depth → the autoscaler →
PATCH of the Deployment's scale on the real API server (as its ServiceAccount) → ReplicaSet → pods on kwok's node →
the local kubelet runs each pod's command (`kep worker run sink`) → the queue drains → the pool shrinks back, each
leaving process drained by SIGTERM. Every message is handled once: none lost with a process stopped, none twice."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import ray

from actors.ray_options import call_actor
from autoscaler.actor import AutoscalerActor
from infra.settings import Settings, as_env
from kepctl import services
from kepctl.local_kubelet import LocalKubelet
from tests.autoscaler.kube_cluster import KubeNamespace
from tests.helpers import eventually
from tests.queues import consumers, flood, queue_stats, queued

KEP = str(Path(sys.executable).parent / "kep")
SPIKE = 400

POLICY = """
targets:
  - name: sinks
    queues: [{queue}]
    scale:
      kubernetes: {{namespace: {namespace}, name: {name}}}
    min_replicas: 1
    max_replicas: 4
    target_backlog_per_replica: 20
    prefetch: 1
    interval_seconds: 1
    stale_after_seconds: 15
    rate_window_seconds: 10
    scale_down: {{stabilization_window_seconds: 5}}
"""


async def test_a_spike_scales_the_deployment_its_processes_drain_the_queue_and_it_shrinks_back(
    ray_app: dict[str, Any], settings: Settings, tmp_path: Path, flood_queue: str, k8s: services.Kubernetes
) -> None:
    kube_ns = KubeNamespace.create(k8s, tmp_path)
    sink = [KEP, "worker", "run", "sink", "--queue", flood_queue, "--service-time", "0.1", "--prefetch", "1"]
    name = kube_ns.create_worker_deployment(1, [*sink, "--drain-seconds", "20"], grace_s=30)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEP_")} | as_env(settings)
    kubelet = LocalKubelet(kube_ns.core, kube_ns.name, tmp_path / "pods", selector=f"app={name}", base_env=env)
    stop = asyncio.Event()
    following = asyncio.create_task(kubelet.run(stop))
    policy = tmp_path / "policies.yaml"
    policy.write_text(POLICY.format(queue=flood_queue, namespace=kube_ns.name, name=name))
    reach = settings.model_copy(
        update={"kube_api_url": None, "kube_token": None, "kubeconfig": kube_ns.connection().kubeconfig}
    )
    autoscaler = AutoscalerActor.options(name=f"autoscaler-{uuid.uuid4().hex[:6]}").remote(reach, str(policy))
    peaks = {"replicas": 0, "processes": 0}

    async def watch() -> None:
        while True:
            peaks["replicas"] = max(peaks["replicas"], await asyncio.to_thread(kube_ns.replicas, name))
            peaks["processes"] = max(peaks["processes"], kubelet.running())
            await asyncio.sleep(0.2)

    watching = asyncio.create_task(watch())
    try:

        async def one_consumer() -> bool:
            return kubelet.running() == 1 and await consumers(settings, flood_queue) == 1

        await eventually(one_consumer, within=90)
        await flood(settings, flood_queue, SPIKE)

        async def drained_and_shrunk() -> bool:
            return (
                await queued(settings, flood_queue) == 0
                and kube_ns.replicas(name) == 1
                and kubelet.running() == 1
                and len(kubelet.processes) == 1  # the others drained and gone
            )

        await eventually(drained_and_shrunk, within=240)

        async def counted() -> bool:  # the management API's counters are samples: let them catch up
            return (await queue_stats(settings, flood_queue)).get("message_stats", {}).get("ack") == SPIKE

        await eventually(counted, within=30)
        stats = await queue_stats(settings, flood_queue)
        assert stats["message_stats"].get("redeliver", 0) == 0  # no process stopped holding a message
        assert peaks["replicas"] > 1
        assert peaks["processes"] > 1
        view = await call_actor(autoscaler.view.remote(500))
        applied = [d for d in view["decisions"] if d["applied"]]
        assert any(d["desired"] > d["current"] for d in applied)
        assert any(d["desired"] < d["current"] for d in applied)
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
        ray.kill(autoscaler, no_restart=True)
        stop.set()
        await following
        kube_ns.delete()

"""The real loop against the simulator, on the same recorded trace.

A window of a trace (default: the spike of deployments/autoscaler/traces/spike.csv) is replayed for real: a plain
producer publishes each second's arrivals into a queue of its own, each message carrying its service time and arrival
time; the autoscaler (the real actor code, in this process) reads the queue and PATCHes a Deployment's scale on the
local API server (the `k8s` service) as its ServiceAccount; the local kubelet runs each Running pod as a `kep worker
run sink` process, which sleeps the message's service time and reports its wait. The same window then goes through
the simulator twice, with our policy and with the KEDA + HPA emulation (its RabbitMQ trigger at the target value the
policy implies), and the three are printed side by side: drain time, p95 wait, replica-seconds, scale events, flaps.

The policy is the shipped target's (default bridge-workers) with a plain producer (no upstream backlog: the bench's
producer publishes everything) and one message at a time per replica (prefetch 1), for the real loop and the
simulator alike. Needs the local services and the k8s service (`./dev kep services start`, `... start k8s`).

  .venv/bin/python bench/autoscaler_loop.py                      # spike window 1100-1400 s, 300 s tail
  .venv/bin/python bench/autoscaler_loop.py --start 0 --seconds 600 --trace deployments/autoscaler/traces/steady.csv
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aio_pika
import httpx
import numpy as np
import yaml
from kubernetes import client, config

from autoscaler.actor import Autoscaler
from autoscaler.metrics import vhost_of
from autoscaler.policy import DEFAULT_POLICIES, KubernetesTarget, ScaleTargetRef, TargetPolicy, load_policies
from autoscaler.replay import default_keda
from autoscaler.scorecard import find_bursts, format_table, score
from autoscaler.simulator import Run, ScaleChange, SimulationConfig, run_keda, run_ours
from autoscaler.sink import ARRIVED_HEADER, SERVICE_HEADER
from autoscaler.traces import Trace, TraceRow, load_trace
from infra import amqp
from infra.settings import Settings, as_env, load_settings
from kepctl import cluster_workers, services
from kepctl.local_kubelet import LocalKubelet
from kepctl.stack import ROOT, StackSettings

KEP = str(Path(sys.executable).parent / "kep")


def window(trace: Trace, start: int, seconds: int) -> Trace:
    rows = tuple(
        TraceRow(second=r.second - start, arrivals=r.arrivals, service_time_s=r.service_time_s, duration_s=r.duration_s)
        for r in trace.rows
        if start <= r.second < start + seconds
    )
    return Trace(f"{trace.name}[{start}:{start + seconds}]", rows)


def bench_policy(target: TargetPolicy, queue: str, namespace: str, deployment: str) -> TargetPolicy:
    """The shipped target as the bench runs it: its queue, its Deployment, a plain producer, one message at a time."""
    return target.model_copy(
        update={
            "queues": [queue],
            "scale": ScaleTargetRef(kubernetes=KubernetesTarget(namespace=namespace, name=deployment)),
            "upstream_backlog": False,
            "engine_backlog": False,
            "prefetch": 1,
        }
    )


def sink_deployment(name: str, command: list[str]) -> client.V1Deployment:
    labels = {"app": name, "app.kubernetes.io/component": "queue-worker"}
    container = client.V1Container(name="sink", image="kep-backoffice", command=command)
    pod = client.V1PodSpec(containers=[container], termination_grace_period_seconds=60)
    spec = client.V1DeploymentSpec(
        replicas=1,
        selector=client.V1LabelSelector(match_labels={"app": name}),
        template=client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels=labels), spec=pod),
    )
    return client.V1Deployment(metadata=client.V1ObjectMeta(name=name, labels=labels), spec=spec)


async def produce(channel: aio_pika.abc.AbstractChannel, queue: str, trace: Trace, t0: float) -> int:
    """Each row's arrivals spread evenly over its seconds, at their time since `t0`."""
    sent = 0
    for row in trace.rows:
        for i in range(row.arrivals):
            due = t0 + row.second + (i + 0.5) * row.duration_s / row.arrivals
            if (delay := due - time.time()) > 0:
                await asyncio.sleep(delay)
            headers = {ARRIVED_HEADER: time.time(), SERVICE_HEADER: row.service_time_s}
            message = aio_pika.Message(b"{}", headers=headers, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
            await channel.default_exchange.publish(message, routing_key=queue)
            sent += 1
    return sent


async def real_loop(
    settings: Settings, stack: StackSettings, trace: Trace, target: TargetPolicy, tail_s: int, folder: Path
) -> tuple[Run, dict[str, Any]]:
    k8s = services.Kubernetes("k8s", stack)
    k8s.start()
    namespace, name = f"kep-bench-{uuid.uuid4().hex[:6]}", "sink"
    queue, reports = f"bench-{uuid.uuid4().hex[:8]}", f"bench-waits-{uuid.uuid4().hex[:8]}"
    cluster_workers.grant_autoscaler(k8s, namespace)
    kubeconfig = cluster_workers.autoscaler_kubeconfig(k8s, namespace, folder / "autoscaler.kubeconfig")
    admin: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(k8s.pki.admin_kubeconfig), persist_config=False
    )
    apps, core = client.AppsV1Api(admin), client.CoreV1Api(admin)
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    channel = await connection.channel()
    await amqp.declare_queue(channel, queue, [])
    report_queue = await channel.declare_queue(reports, auto_delete=False)
    sink = [KEP, "worker", "run", "sink", "--queue", queue, "--prefetch", "1", "--report-queue", reports]
    apps.create_namespaced_deployment(namespace, sink_deployment(name, [*sink, "--drain-seconds", "50"]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEP_")} | as_env(settings)
    kubelet = LocalKubelet(core, namespace, folder / "pods", selector=f"app={name}", base_env=env)
    stop = asyncio.Event()
    following = asyncio.create_task(kubelet.run(stop))
    policy_file = folder / "policies.yaml"
    policy = bench_policy(target, queue, namespace, name)
    policy_file.write_text(yaml.safe_dump({"targets": [policy.model_dump(mode="json", exclude_none=True)]}))
    load_policies(policy_file)  # what the autoscaler will read must be what was meant
    reach = settings.model_copy(update={"kube_api_url": None, "kube_token": None, "kubeconfig": kubeconfig})
    autoscaler = Autoscaler.__new__(Autoscaler)
    await Autoscaler.__init__(autoscaler, reach, str(policy_file))
    try:
        while (await channel.declare_queue(queue, passive=True)).declaration_result.consumer_count < 1:  # noqa: ASYNC110
            await asyncio.sleep(0.5)  # the broker tells: polled, as there is nothing to wait on
        t0 = time.time()
        producing = asyncio.create_task(produce(channel, queue, trace, t0))
        ready: list[int] = []
        replicas: list[int] = []
        unacked: list[int] = []
        processes: list[int] = []
        consuming: list[int] = []
        for t in range(trace.duration_s + tail_s):
            await asyncio.sleep(max(0.0, t0 + t + 1 - time.time()))
            declared = (await channel.declare_queue(queue, passive=True)).declaration_result
            ready.append(int(declared.message_count or 0))
            consuming.append(int(declared.consumer_count or 0))
            want = (await asyncio.to_thread(apps.read_namespaced_deployment_scale, name, namespace)).spec.replicas
            replicas.append(int(want or 0))
            processes.append(kubelet.running())
            unacked.append(int((await queue_stats(settings, queue)).get("messages_unacknowledged", 0)))  # sampled
            if t > trace.duration_s and ready[-1] == 0 and replicas[-1] == policy.min_replicas:
                break
        sent = await producing
        waits = await collect_waits(channel, reports, report_queue, sent)
        remaining = int((await channel.declare_queue(queue, passive=True)).declaration_result.message_count or 0)
    finally:
        autoscaler._loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await autoscaler._loop
        stop.set()
        await following
        await channel.queue_delete(queue)
        await channel.queue_delete(f"{queue}.dlq")
        await channel.queue_delete(reports)
        await connection.close()
        core.delete_namespace(namespace)
        admin.close()  # type: ignore[no-untyped-call]
    changes = [
        ScaleChange(t, replicas[t - 1], replicas[t], "real loop")
        for t in range(1, len(replicas))
        if replicas[t] != replicas[t - 1]
    ]
    n = len(ready)
    run = Run(
        label="real loop",
        seconds=np.arange(1, n + 1),
        ready=np.asarray(ready),
        unacked=np.asarray(unacked),
        upstream=np.zeros(n, int),
        replicas=np.asarray(replicas),
        waits=np.asarray(waits),
        changes=changes,
        arrived=sent,
        published=sent,
        acked=len(waits),
        remaining=remaining,
        remaining_upstream=0,
        requeued=0,
        interrupted=0,
        upstream_mode=False,
    )
    facts = {
        "peak_processes": max(processes, default=0),
        "reported_waits": len(waits),
        "sent": sent,
        "ready_delays_s": ready_delays(replicas, consuming),
    }
    return run, facts


def ready_delays(replicas: list[int], consuming: list[int]) -> list[int]:
    """For each scale-up, the seconds until the broker counted that many consumers: what the simulator calls the
    ready delay (a pod scheduled, its process started, connected and consuming)."""
    delays = []
    for t in range(1, len(replicas)):
        if replicas[t] > replicas[t - 1]:
            reached = next((u for u in range(t, len(consuming)) if consuming[u] >= replicas[t]), None)
            if reached is not None:
                delays.append(reached - t)
    return delays


async def queue_stats(settings: Settings, queue: str) -> dict[str, Any]:
    """The management API's view of the queue (sampled every few seconds, as KEDA's HTTP reader sees it)."""
    assert settings.rabbit_mgmt_url is not None
    url = httpx.URL(settings.rabbit_mgmt_url.get_secret_value())
    vhost = quote(vhost_of(settings.amqp_url.get_secret_value()), safe="")
    async with httpx.AsyncClient(auth=(url.username, url.password)) as http:
        base = str(url.copy_with(username=None, password=None)).rstrip("/")
        answer: dict[str, Any] = (await http.get(f"{base}/api/queues/{vhost}/{quote(queue, safe='')}")).json()
    return answer


async def collect_waits(
    channel: aio_pika.abc.AbstractChannel, name: str, queue: aio_pika.abc.AbstractQueue, expected: int
) -> list[float]:
    waits: list[float] = []
    deadline = time.monotonic() + 120
    while len(waits) < expected and time.monotonic() < deadline:
        message = await queue.get(no_ack=True, fail=False)
        if message is None:
            await asyncio.sleep(0.5)
            continue
        waits.append(float(json.loads(message.body)["wait_s"]))
    return waits


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trace", type=Path, default=ROOT / "deployments" / "autoscaler" / "traces" / "spike.csv")
    parser.add_argument("--start", type=int, default=1100)
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--tail", type=int, default=300, help="at most this long after the window, to drain")
    parser.add_argument("--target", default="bridge-workers")
    parser.add_argument(
        "--ready-delay",
        type=float,
        default=None,
        help="the simulator's seconds from a replica asked to consuming (default: the real loop's median)",
    )
    parser.add_argument("--seeds", type=int, default=5, help="simulator runs, medians printed")
    args = parser.parse_args()

    stack = StackSettings()
    for k, v in stack.app_env().items():
        os.environ.setdefault(k, v)
    settings = load_settings()
    trace = window(load_trace(args.trace), args.start, args.seconds)
    target = load_policies(DEFAULT_POLICIES)[args.target]
    folder = Path(tempfile.mkdtemp(prefix="kep-bench-loop-"))
    real, facts = await real_loop(settings, stack, trace, target, args.tail, folder)
    delays = facts.pop("ready_delays_s")
    measured = float(np.median(delays)) if delays else 10.0
    ready_delay = args.ready_delay if args.ready_delay is not None else measured
    print(f"real loop: {facts}; pod logs in {folder / 'pods'}")
    print(f"ready delays measured (s): {delays}; the simulator's: {ready_delay:.0f} s")

    plain = bench_policy(target, "trace", "kep", "sink")
    bursts = find_bursts(trace)
    sim_ours, sim_keda = [], []
    for seed in range(1, args.seeds + 1):
        cfg = SimulationConfig(seed=seed, tail_s=args.tail, upstream=False, engine_backlog=False,
                               ready_delay_s=ready_delay)  # fmt: skip
        sim_ours.append(score(run_ours(trace, plain, cfg)[0], bursts))
        sim_keda.append(score(run_keda(trace, plain, default_keda(plain, cfg), cfg), bursts))
    real_score = score(real, bursts)

    def median(scores: list[Any]) -> Any:
        middle = sorted(scores, key=lambda s: s.replica_seconds)[len(scores) // 2]
        return replace(middle, label=f"sim {middle.label}")

    ours_m, keda_m = median(sim_ours), median(sim_keda)
    print(f"(sim: the simulator, the median of {args.seeds} seeds by replica-seconds)")
    print(format_table(trace, bursts, [real_score, ours_m, keda_m]))
    print(
        f"replica-seconds: real/sim-ours {real_score.replica_seconds / max(ours_m.replica_seconds, 1):.2f}, "
        f"real/KEDA {real_score.replica_seconds / max(keda_m.replica_seconds, 1):.2f}; "
        f"p95 wait real {real_score.p95_wait_s:.1f} s, sim-ours {ours_m.p95_wait_s:.1f} s, "
        f"KEDA {keda_m.p95_wait_s:.1f} s; "
        f"median wait real {float(np.median(real.waits)) if len(real.waits) else 0.0:.2f} s"
    )


if __name__ == "__main__":
    asyncio.run(main())

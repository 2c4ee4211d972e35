"""`kep worker run`: a pool member as a process of its own, as a worker Deployment's pod runs it. It consumes, its
probes answer, and SIGTERM drains it: what it held is finished and acknowledged, what it had not taken stays queued,
nothing is lost or handled twice. The task workers join the session's Ray cluster for the case shards."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import ray

from autoscaler.sink import ARRIVED_HEADER
from bpmn_bridge.topics import GROUPS
from bpmn_bridge.worker import task_queue
from infra.settings import Settings, as_env
from tests.helpers import eventually, free_port
from tests.queues import consumers, declare, flood, queue_stats, queued

KEP = str(Path(sys.executable).parent / "kep")


@pytest.fixture
def start_worker(settings: Settings) -> Iterator[Any]:
    started: list[subprocess.Popen[str]] = []

    def start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("KEP_")} | as_env(settings)
        process = subprocess.Popen(
            [KEP, "worker", "run", *args],
            env=environment | (env or {}),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


async def ready(port: int) -> bool:
    async with httpx.AsyncClient() as http:
        try:
            return (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200
        except httpx.TransportError:
            return False


async def stopped(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = await asyncio.to_thread(process.communicate, timeout=60)
    return process.returncode, out, err


async def test_a_sink_process_consumes_and_drains_on_sigterm(
    start_worker: Any, settings: Settings, flood_queue: str
) -> None:
    port = free_port()
    reports = f"{flood_queue}-waits"
    process = start_worker(
        "sink", "--queue", flood_queue, "--service-time", "0.2", "--prefetch", "2", "--health-port", str(port),
        "--report-queue", reports,
    )  # fmt: skip
    await eventually(lambda: ready(port), within=60)
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"http://127.0.0.1:{port}/livez")).status_code == 200
    await declare(settings, reports)
    await flood(settings, flood_queue, 60, headers={ARRIVED_HEADER: time.time()})

    async def some_handled() -> bool:
        return (await queue_stats(settings, flood_queue)).get("message_stats", {}).get("ack", 0) >= 5

    await eventually(some_handled, within=60)
    process.send_signal(signal.SIGTERM)
    code, out, err = await stopped(process)

    assert code == 0, err
    done = json.loads(out.strip().splitlines()[-1])
    assert done["unfinished"] == 0

    # what it held was finished and acknowledged; the rest waits for another member: none lost, none twice (the
    # broker's management counters are sampled every few seconds: wait for them; the queue's count is exact)
    async def settled() -> bool:
        stats = await queue_stats(settings, flood_queue)
        return stats.get("message_stats", {}).get("ack") == done["handled"]

    await eventually(settled, within=30)
    assert await consumers(settings, flood_queue) == 0
    assert await queued(settings, flood_queue) + done["handled"] == 60
    assert (await queue_stats(settings, flood_queue))["message_stats"].get("redeliver", 0) == 0
    # each handled message's wait was reported, for the closed-loop bench
    assert await queued(settings, reports) == done["handled"]


async def test_a_task_worker_needs_the_ray_cluster(start_worker: Any) -> None:
    process = start_worker("cases", env={"KEP_RAY_ADDRESS": ""})
    code, _, err = await stopped(process)
    assert code == 2
    assert "the cases workers reach the case shards: set KEP_RAY_ADDRESS" in err


async def test_a_task_worker_process_joins_the_ray_cluster_and_consumes_every_topic_of_its_group(
    ray_app: dict[str, Any], start_worker: Any, settings: Settings
) -> None:
    queues = [task_queue(topic) for topic in GROUPS["cases"]]
    before = {q: await consumers(settings, q) for q in queues}
    port = free_port()
    address = ray.get_runtime_context().gcs_address
    process = start_worker("cases", "--health-port", str(port), env={"KEP_RAY_ADDRESS": address})
    await eventually(lambda: ready(port), within=90)
    during = {q: await consumers(settings, q) for q in queues}
    process.send_signal(signal.SIGTERM)
    code, _, err = await stopped(process)

    assert code == 0, err
    assert during == {q: n + 1 for q, n in before.items()}
    after = {q: await consumers(settings, q) for q in queues}
    assert after == before

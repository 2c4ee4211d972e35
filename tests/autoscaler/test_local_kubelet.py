"""The dev-only kubelet (kepctl/local_kubelet.py) on the real API server: each Running pod of a followed Deployment
is a local process running the pod's command; a scale-down stops the pods' processes with SIGTERM, SIGKILL after the
grace period; a process that dies while its pod is wanted is started again."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from kepctl.local_kubelet import LocalKubelet
from tests.autoscaler.kube_cluster import KubeNamespace
from tests.helpers import eventually

Follow = Callable[[str], Awaitable[LocalKubelet]]


@pytest.fixture
async def follow(kube_ns: KubeNamespace, tmp_path: Path) -> AsyncIterator[Follow]:
    running: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

    async def start(deployment: str) -> LocalKubelet:
        kubelet = LocalKubelet(kube_ns.core, kube_ns.name, tmp_path / "logs", selector=f"app={deployment}")
        stop = asyncio.Event()
        running.append((stop, asyncio.create_task(kubelet.run(stop))))
        return kubelet

    yield start
    for stop, task in running:
        stop.set()
        await task


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def holds(condition: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return condition()

    return check


def processes(n: int, kubelet: LocalKubelet) -> Callable[[], Awaitable[bool]]:
    return holds(lambda: kubelet.running() == n)


async def test_running_pods_become_processes_and_leave_with_sigterm(
    kube_ns: KubeNamespace, follow: Follow, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    # each process writes its pod's name, and on SIGTERM a second file, then exits
    code = (
        "import os, pathlib, signal, sys, time\n"
        f"d = pathlib.Path({str(marks)!r})\n"
        "(d / os.environ['POD_NAME']).write_text('started')\n"
        "def bye(*_):\n"
        "    (d / (os.environ['POD_NAME'] + '.term')).write_text('drained')\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        "time.sleep(300)\n"
    )
    name = kube_ns.create_worker_deployment(3, python(code), grace_s=30)
    kubelet = await follow(name)

    await eventually(processes(3, kubelet), within=60)
    pods = {p.metadata.name for p in kube_ns.running_pods(name)}
    assert set(kubelet.processes) == pods

    async def marked() -> bool:
        return {p.name for p in marks.iterdir()} == pods

    await eventually(marked, within=30)

    kube_ns.scale(name, 1)
    await eventually(processes(1, kubelet), within=60)
    await eventually(holds(lambda: len(kubelet.processes) == 1), within=30)  # the others reaped
    [kept] = kubelet.processes
    gone = pods - {kept}
    assert {p.name for p in marks.glob("*.term")} == {f"{pod}.term" for pod in gone}


async def test_a_process_that_ignores_sigterm_is_killed_after_the_grace_period(
    kube_ns: KubeNamespace, follow: Follow
) -> None:
    stubborn = python("import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(300)\n")
    name = kube_ns.create_worker_deployment(1, stubborn, grace_s=1)
    kubelet = await follow(name)
    await eventually(processes(1, kubelet), within=60)
    [proc] = kubelet.processes.values()

    kube_ns.scale(name, 0)

    await eventually(holds(lambda: not kubelet.processes), within=60)
    assert proc.process.returncode == -signal.SIGKILL


async def test_a_process_that_dies_is_started_again_while_its_pod_is_wanted(
    kube_ns: KubeNamespace, follow: Follow
) -> None:
    name = kube_ns.create_worker_deployment(1, python("import time\ntime.sleep(300)\n"), grace_s=1)
    kubelet = await follow(name)
    await eventually(processes(1, kubelet), within=60)
    [proc] = kubelet.processes.values()
    first = proc.process.pid

    os.kill(first, signal.SIGKILL)

    async def restarted() -> bool:
        [now] = kubelet.processes.values()
        return now.restarts == 1 and now.process.pid != first and now.process.poll() is None

    await eventually(restarted, within=30)
    assert list(kubelet.processes) == [proc.pod]

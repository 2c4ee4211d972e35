"""A dev-only kubelet for kwok's fake node: every Running pod it follows becomes a local process running the pod's
container command, so on one machine a Deployment the autoscaler scales starts and stops real workers.

kwok takes pods to Running without running anything; this closes the loop (queue depth → autoscaler → PATCH scale
on the API server → ReplicaSet → pods → processes → the queue drains). Like the kubelet it is level-triggered: each
pass compares the pods with the processes. A pod that leaves (deleted, terminating, no longer Running) gets SIGTERM
and, after its `terminationGracePeriodSeconds`, SIGKILL; a process that exits while its pod is still wanted is
started again (restartPolicy Always). The process gets this machine's environment (the local stack's KEP_*), the
container's literal `env` values where this machine has none (the container's addresses name the cluster's
services), and POD_NAME/POD_NAMESPACE; `envFrom` and `valueFrom` are the cluster's and are skipped. Only the first
container runs; images, volumes and resources do not apply here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import structlog
from kubernetes import client

log = structlog.get_logger("local_kubelet")
QUEUE_WORKERS = "app.kubernetes.io/component=queue-worker"  # the label of the worker Deployments' pods
DEFAULT_GRACE_S = 30.0  # Kubernetes' default terminationGracePeriodSeconds
LOCAL_ENV = {"KEP_WORKER_HEALTH_PORT": "0"}


@dataclass
class PodProcess:
    pod: str
    argv: list[str]
    grace_s: float
    process: subprocess.Popen[bytes]
    log: IO[bytes]
    restarts: int = 0
    stopping_since: float | None = None


@dataclass(frozen=True)
class WantedPod:
    name: str
    argv: list[str]
    env: dict[str, str]
    grace_s: float


def wanted(pod: Any) -> WantedPod | None:
    """What the kubelet would run for this pod, or None if it should run nothing (not Running, terminating)."""
    if pod.status is None or pod.status.phase != "Running" or pod.metadata.deletion_timestamp is not None:
        return None
    container = pod.spec.containers[0]
    argv = [*(container.command or []), *(container.args or [])]
    if not argv:
        return None  # the image's entrypoint: nothing to run from here
    env = {e.name: e.value for e in container.env or [] if e.value is not None}
    grace = pod.spec.termination_grace_period_seconds
    return WantedPod(pod.metadata.name, argv, env, float(DEFAULT_GRACE_S if grace is None else grace))


@dataclass
class LocalKubelet:
    core: client.CoreV1Api
    namespace: str
    log_dir: Path
    selector: str = QUEUE_WORKERS
    base_env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    interval_s: float = 0.5
    processes: dict[str, PodProcess] = field(default_factory=dict)

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the pods until `stop`, then stop every process as if its pod had gone."""
        try:
            while not stop.is_set():
                try:
                    pods = await asyncio.to_thread(self._list)
                except (client.ApiException, OSError) as exc:  # the API server away: keep what runs, as a kubelet
                    log.warning("local_kubelet_list_failed", error=str(exc))
                else:
                    self.sync(pods)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.interval_s)
        finally:
            await self.stop_all()

    def _list(self) -> list[Any]:
        return list(self.core.list_namespaced_pod(self.namespace, label_selector=self.selector).items)

    def sync(self, pods: list[Any]) -> None:
        want = {w.name: w for pod in pods if (w := wanted(pod)) is not None}
        for name, proc in list(self.processes.items()):
            if name not in want:
                self._stop(proc)
            elif proc.process.poll() is not None and proc.stopping_since is None:
                log.warning("local_kubelet_restart", pod=name, exit_code=proc.process.returncode)
                proc.log.close()
                restarted = self._start(want[name])
                restarted.restarts = proc.restarts + 1
        for name, pod in want.items():
            if name not in self.processes:
                self._start(pod)
        self._reap()

    def running(self) -> int:
        """Processes started for wanted pods and not told to stop."""
        return sum(1 for p in self.processes.values() if p.stopping_since is None and p.process.poll() is None)

    def _start(self, pod: WantedPod) -> PodProcess:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        out = (self.log_dir / f"{pod.name}.log").open("ab")
        argv = [_executable(pod.argv[0]), *pod.argv[1:]]
        # this machine's values win: the container's addresses name the cluster's services. The pods share this
        # host's network, so the workers' probe port (one per pod in a cluster) is any free one here
        env = {**pod.env, **self.base_env, **LOCAL_ENV, "POD_NAME": pod.name, "POD_NAMESPACE": self.namespace}
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        proc = PodProcess(pod.name, argv, pod.grace_s, process, out)
        self.processes[pod.name] = proc
        log.info("local_kubelet_started", pod=pod.name, pid=process.pid, argv=argv)
        return proc

    def _stop(self, proc: PodProcess) -> None:
        if proc.stopping_since is None:
            proc.stopping_since = time.monotonic()
            with contextlib.suppress(ProcessLookupError):
                proc.process.send_signal(signal.SIGTERM)
            log.info("local_kubelet_stopping", pod=proc.pod, pid=proc.process.pid, grace_s=proc.grace_s)
        elif time.monotonic() - proc.stopping_since > proc.grace_s and proc.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.process.kill()
            log.warning("local_kubelet_killed", pod=proc.pod, pid=proc.process.pid)

    def _reap(self) -> None:
        for name, proc in list(self.processes.items()):
            if proc.stopping_since is not None and proc.process.poll() is not None:
                proc.log.close()
                del self.processes[name]
                log.info("local_kubelet_stopped", pod=name, exit_code=proc.process.returncode)

    async def stop_all(self) -> None:
        for proc in self.processes.values():
            self._stop(proc)
        while self.processes:
            for proc in list(self.processes.values()):
                self._stop(proc)  # SIGKILL once past its grace
            self._reap()
            await asyncio.sleep(0.1)


def _executable(command: str) -> str:
    """The pod's command as installed here: `kep` is this virtual environment's, whatever PATH says."""
    beside = Path(sys.executable).parent / command
    if "/" not in command and beside.exists():
        return str(beside)
    return shutil.which(command) or command

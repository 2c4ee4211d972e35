"""The processes of one local stack and the CPU each component uses over a window (for stack_cpu.py).

A stack is found from its ports, not from names, so that other stacks on the machine (a test run, a second
`kep up`) stay out of the figures: the listener of each service port and its descendants, and the Ray cluster
whose GCS listens on the Ray port (every process naming its session folder, and their descendants: raylet's
workers and actors, Serve's HAProxy).
"""

from __future__ import annotations

import contextlib
import resource
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

GONE = (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied)
PENDING_WORKER = "ray worker (no title yet)"
GROUPS = ("engine", "keycloak", "postgres", "rabbitmq", "redis", "minio", "mitos", "haproxy", "ray_core", "ray_actors")
RAY_CORE_SCRIPTS = {
    "log_monitor.py": "log_monitor",
    "monitor.py": "ray_monitor",
    "dashboard.py": "dashboard",
    "ray.util.client.server": "ray_client_server",
    "runtime_env/agent": "runtime_env_agent",
    "dashboard/agent.py": "dashboard_agent",
}


def machine_busy_s() -> float:
    """Busy core-seconds of the whole machine since boot (/proc/stat: everything but idle and iowait)."""
    t = psutil.cpu_times()
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0) - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0))


def self_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def classify(proc: psutil.Process) -> tuple[str, str] | None:
    """(group, label) of a process of the stack; the label names a Ray actor by its process title."""
    try:
        name = proc.name()
        cmdline = proc.cmdline()
    except GONE:
        return None
    cmd = " ".join(cmdline)
    first = cmdline[0] if cmdline else name
    if first.startswith("ray::"):
        title = first.split()[0]
        label = title.split(".")[0].rstrip("()")
        if label in ("ray::DashboardAgent", "ray::RuntimeEnvAgent"):
            return "ray_core", label.removeprefix("ray::")
        return "ray_actors", label
    if name in ("gcs_server", "raylet"):
        return "ray_core", name
    if "default_worker.py" in cmd:
        return "ray_actors", PENDING_WORKER
    for script, label in RAY_CORE_SCRIPTS.items():
        if script in cmd and "ray" in cmd:
            return "ray_core", label
    if name == "postgres" or cmd.startswith("postgres:"):
        return "postgres", "postgres"
    if name.startswith("redis-server"):
        return "redis", "redis-server"
    if name in ("beam.smp", "epmd", "erl_child_setup", "inet_gethost") or "rabbit" in cmd:
        return "rabbitmq", name
    if name == "minio":
        return "minio", "minio"
    if name == "haproxy":
        return "haproxy", "haproxy"
    if "kep-engine.jar" in cmd:
        return "engine", "java (engine)"
    if "keycloak" in cmd:
        return "keycloak", "java (keycloak)" if name == "java" else name
    if "doubles.mitos.server" in cmd:
        return "mitos", "mitos double"
    return "other", name


def _listeners(ports: set[int]) -> dict[int, int]:
    found: dict[int, int] = {}
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port in ports and conn.pid:
            found.setdefault(conn.laddr.port, conn.pid)
    return found


def _ray_session_dir(gcs_pid: int) -> str | None:
    with contextlib.suppress(*GONE):
        for arg in psutil.Process(gcs_pid).cmdline():
            if arg.startswith("--log_dir="):
                return str(Path(arg.removeprefix("--log_dir=")).parent)
    return None


@dataclass
class StackProcesses:
    """The roots of a stack's process trees; their descendants are looked up again at every sample."""

    service_ports: dict[str, int]
    ray_port: int | None
    roots: dict[int, psutil.Process] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    def discover(self) -> None:
        ports = set(self.service_ports.values()) | ({self.ray_port} if self.ray_port else set())
        listeners = _listeners(ports)
        self.roots, self.missing = {}, []
        for name, port in self.service_ports.items():
            pid = listeners.get(port)
            if pid is None:
                self.missing.append(name)
                continue
            with contextlib.suppress(*GONE):
                self.roots[pid] = psutil.Process(pid)
        gcs = listeners.get(self.ray_port) if self.ray_port else None
        session = _ray_session_dir(gcs) if gcs else None
        if self.ray_port and session is None:
            self.missing.append("ray")
        if session:
            gcs_address = f":{self.ray_port}"  # Ray's client server names only the GCS address
            for proc in psutil.process_iter():
                with contextlib.suppress(*GONE):
                    cmd = proc.cmdline()
                    joined = " ".join(cmd)
                    if session in joined or ("ray" in joined and any(a.endswith(gcs_address) for a in cmd)):
                        self.roots[proc.pid] = proc

    def processes(self) -> Iterable[psutil.Process]:
        seen: set[int] = set()
        for root in list(self.roots.values()):
            try:
                family = [root, *root.children(recursive=True)]
            except GONE:
                continue
            for proc in family:
                if proc.pid not in seen:
                    seen.add(proc.pid)
                    yield proc


@dataclass
class _Track:
    group: str
    label: str
    first: float
    last: float


@dataclass
class Window:
    """CPU over one window: the machine (/proc/stat), the stack per component (psutil), this harness."""

    seconds: float
    machine_busy_s: float
    harness_s: float
    by_label: dict[tuple[str, str], tuple[float, int]]

    @property
    def stack_s(self) -> float:
        return sum(cpu for (group, _), (cpu, _) in self.by_label.items() if group != "other")

    def groups(self) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for (group, _), (cpu, _) in self.by_label.items():
            out[group] += cpu
        return {g: round(out[g] / self.seconds, 4) for g in (*GROUPS, "other") if g in out}

    def processes(self) -> dict[str, float]:
        """Cores per process kind (a Ray actor class, postgres, raylet, ...), busiest first."""
        rows = sorted(self.by_label.items(), key=lambda kv: -kv[1][0])
        return {label: round(cpu / self.seconds, 4) for (_, label), (cpu, _) in rows if cpu / self.seconds >= 0.0005}

    def process_counts(self) -> dict[str, int]:
        """How many processes had each label, where more than one (case shards, postgres backends)."""
        return {label: n for (_, label), (_, n) in sorted(self.by_label.items()) if n > 1}


class Sampler:
    """Samples the stack's processes every `interval` seconds between start() and stop().

    A process that ends inside the window keeps the CPU of its last sample (at most `interval` lost); one that
    starts inside it counts from zero.
    """

    def __init__(self, stack: StackProcesses, interval: float = 1.0) -> None:
        self.stack, self.interval = stack, interval
        self._tracks: dict[tuple[int, float], _Track] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = self._wall0 = self._busy0 = self._self0 = 0.0

    def _sample(self, first: bool) -> None:
        for proc in self.stack.processes():
            try:
                with proc.oneshot():
                    key = (proc.pid, proc.create_time())
                    t = proc.cpu_times()
                cpu = t.user + t.system
            except GONE:
                continue
            track = self._tracks.get(key)
            if track is None:
                kind = classify(proc)
                if kind is None:
                    continue
                started_inside = not first and key[1] >= self._wall0
                track = self._tracks[key] = _Track(*kind, first=0.0 if started_inside else cpu, last=cpu)
            track.last = cpu
            if track.group == "other" or track.label in (PENDING_WORKER, "ray::IDLE"):
                kind = classify(proc)  # a Ray worker gets its actor's title once the actor is placed on it
                if kind:
                    track.group, track.label = kind

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample(first=False)

    def start(self) -> None:
        self._wall0 = time.time() - 0.5
        self._t0, self._busy0, self._self0 = time.monotonic(), machine_busy_s(), self_cpu_s()
        self._sample(first=True)
        self._thread = threading.Thread(target=self._run, name="stack-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> Window:
        self._stop.set()
        if self._thread:
            self._thread.join()
        self._sample(first=False)
        seconds = time.monotonic() - self._t0
        busy, harness = machine_busy_s() - self._busy0, self_cpu_s() - self._self0
        by_label: dict[tuple[str, str], tuple[float, int]] = {}
        for track in self._tracks.values():
            cpu, n = by_label.get((track.group, track.label), (0.0, 0))
            by_label[(track.group, track.label)] = (cpu + max(0.0, track.last - track.first), n + 1)
        return Window(seconds, busy, harness, by_label)


def measure(stack: StackProcesses, seconds: float, interval: float = 1.0) -> Window:
    sampler = Sampler(stack, interval)
    sampler.start()
    time.sleep(seconds)
    return sampler.stop()

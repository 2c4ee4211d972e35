"""Idle memory of the whole local stack, per component (PSS, so shared pages are not counted twice).

Run after `./dev up` has brought everything up and the system is idle:

    .venv/bin/python bench/stack_memory.py [--samples 5 --interval 2]

Prints one JSON line per component (median PSS and RSS over the samples, process count) and a total line.
Asserts nothing; the figures go in the closing note.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from pathlib import Path

import psutil

RAY_CORE = (
    "gcs_server",
    "raylet",
    "log_monitor",
    "monitor.py",
    "dashboard",
    "runtime_env",
    "DashboardAgent",
    "RuntimeEnvAgent",
)


def component(proc: psutil.Process) -> str | None:
    try:
        name = proc.name()
        cmd = " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None
    if name == "postgres" or cmd.startswith("postgres:"):
        return "postgresql"
    if name.startswith("redis-server"):
        return "redis"
    if name in {"beam.smp", "epmd", "erl_child_setup", "inet_gethost"}:
        return "rabbitmq"
    if name == "minio":
        return "minio"
    if name == "java" and "kep-engine.jar" in cmd:
        return "engine (Camunda 7)"
    if any(part in cmd for part in RAY_CORE) and "ray" in cmd:
        return "ray core (gcs, raylet, agents)"
    serve_parts = ("ServeController", "ProxyActor", "ServeReplica", "HAProxyManager")
    if name == "haproxy" or any(part in cmd for part in serve_parts):
        return "ray serve (controller, proxy/haproxy, replicas)"
    if "ray::CaseWorkflow" in cmd or "ray::OutboxRelay" in cmd:
        return "ray kep actors"
    if "ray::" in cmd or "default_worker.py" in cmd:
        return "ray idle workers"
    return None


def our_ray_pids(session_dir: Path) -> set[int]:
    """Processes of the `kep up` cluster only: its session's daemons and all their descendants.

    Other Ray instances on the machine (a test run, a benchmark) are left out of the figures.
    """
    roots = set()
    for proc in psutil.process_iter():
        try:
            if str(session_dir) in " ".join(proc.cmdline()):
                roots.add(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    pids = {p.pid for p in roots}
    for root in roots:
        try:
            pids.update(c.pid for c in root.children(recursive=True))
        except psutil.NoSuchProcess:
            continue
    return pids


def sample(session_dir: Path) -> dict[str, dict[str, float]]:
    acc: dict[str, dict[str, float]] = defaultdict(lambda: {"pss": 0.0, "rss": 0.0, "procs": 0})
    ray_pids = our_ray_pids(session_dir)
    for proc in psutil.process_iter():
        comp = component(proc)
        if comp is not None and comp.startswith("ray") and proc.pid not in ray_pids:
            continue
        if comp is None:
            continue
        try:
            mem = proc.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        acc[comp]["pss"] += mem.pss
        acc[comp]["rss"] += mem.rss
        acc[comp]["procs"] += 1
    return acc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--ray-session", type=Path, default=Path("/tmp/ray/session_latest"))  # noqa: S108 (Ray's own path)
    args = parser.parse_args()
    session = args.ray_session.resolve()
    samples = []
    for i in range(args.samples):
        samples.append(sample(session))
        if i + 1 < args.samples:
            time.sleep(args.interval)
    names = sorted({n for s in samples for n in s})
    total_pss = 0.0
    for name in names:
        pss = statistics.median(s[name]["pss"] for s in samples if name in s)
        rss = statistics.median(s[name]["rss"] for s in samples if name in s)
        procs = statistics.median(s[name]["procs"] for s in samples if name in s)
        total_pss += pss
        line = {"component": name, "pss_mib": round(pss / 2**20, 1), "rss_mib": round(rss / 2**20, 1)}
        print(json.dumps(line | {"processes": procs}, ensure_ascii=False))
    print(json.dumps({"component": "total", "pss_mib": round(total_pss / 2**20, 1), "samples": args.samples}))


if __name__ == "__main__":
    main()

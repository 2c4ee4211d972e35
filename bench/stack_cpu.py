"""Whole-stack CPU per k6 "employee day" iteration (k6/cases.js), the stack's CPU at rest, latency per request name.

Against the stack running on this machine (`./dev up`; another one through the same KEP_*_PORT variables):

    .venv/bin/python bench/stack_cpu.py [--rate 8 --duration 60 --vus 16 --idle 30 --repeats 3]

Per repeat: a short warm-up at the arrival rate, then for each mode (`rate`: constant arrival rate; `vus`: closed
loop at a fixed number of VUs) the idle baseline over `--idle` seconds followed by the k6 run. The CPU window opens
when k6's setup (the Keycloak logins) has finished and closes `--tail` seconds after k6 exits, so the work the
requests leave behind (outbox, bridge, engine) is counted. One JSON line per repeat, then the medians. Figures
and method: bench/README.md. `bench/stack_compare.py` runs this for two git revisions side by side.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from _stack_procs import GONE, Sampler, StackProcesses, Window, measure

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "k6" / "cases.js"
NAMES = ("open", "view", "update", "search", "reread")
MARK = "kep-bench-window-start"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@dataclass
class Target:
    """Where a stack answers and which ports identify its processes."""

    base_url: str
    issuer: str
    service_ports: dict[str, int]
    ray_port: int
    rabbit_mgmt_port: int

    @classmethod
    def from_ports(cls, ports: dict[str, int]) -> Target:
        """`ports` keyed like kepctl.stack.StackSettings' *_port fields (pg_port, http_port, ...)."""
        names = ("pg", "redis", "amqp", "minio", "engine", "keycloak", "mitos")
        return cls(
            base_url=f"http://127.0.0.1:{ports['http_port']}",
            issuer=f"http://127.0.0.1:{ports['keycloak_port']}/realms/kep",
            service_ports={n: ports[f"{n}_port"] for n in names} | {"http": ports["http_port"]},
            ray_port=ports["ray_port"],
            rabbit_mgmt_port=ports["rabbit_mgmt_port"],
        )

    def backlog(self) -> dict[str, int]:
        """Work the requests left behind and the stack has not done yet: events not yet published, messages in
        RabbitMQ (ready or in hand), external tasks in the engine (open or locked, with retries left)."""
        pg = self.service_ports["pg"]
        outbox = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(pg), "-U", "kep", "-d", "kep", "-Atc",
             "SELECT count(*) FROM outbox WHERE published_at IS NULL"],
            env={**os.environ, "PGPASSWORD": "kep"}, capture_output=True, text=True, check=True,
        )  # fmt: skip
        queues = httpx.get(f"http://127.0.0.1:{self.rabbit_mgmt_port}/api/queues", auth=("guest", "guest"), timeout=10)
        engine = f"http://127.0.0.1:{self.service_ports['engine']}/engine-rest"
        tasks = httpx.get(f"{engine}/external-task/count", params={"withRetriesLeft": "true"}, timeout=10)
        return {
            "outbox": int(outbox.stdout.strip() or 0),
            "rabbitmq": sum(int(q.get("messages") or 0) for q in queues.json()),
            "external_tasks": int(tasks.json()["count"]),
        }

    def wait_drained(self, floor: dict[str, int], limit_s: float) -> float:
        """Until the backlog is back to `floor` (what was there before the load, e.g. tasks of other tenants);
        returns the seconds waited."""
        started = time.monotonic()
        while time.monotonic() - started < limit_s:
            now = self.backlog()
            if all(now[k] <= floor.get(k, 0) for k in now):
                return time.monotonic() - started
            time.sleep(0.5)
        log(f"warning: backlog not drained after {limit_s:g}s: {self.backlog()} (before: {floor})")
        return time.monotonic() - started

    def processes(self) -> StackProcesses:
        stack = StackProcesses(self.service_ports, self.ray_port)
        stack.discover()
        if stack.missing:
            log(f"warning: no process found for {', '.join(stack.missing)}; their CPU is not in the breakdown")
        return stack


@dataclass
class Load:
    modes: tuple[str, ...] = ("rate", "vus")
    rate: float = 8
    vus: int = 16
    duration: float = 60
    idle: float = 30
    tail: float = 10
    drain_limit: float = 300
    warmup: float = 10
    settle: float = 20
    interval: float = 1.0


def k6_binary(root: Path = ROOT) -> Path:
    """The k6 that `./dev k6` builds (.state/bin/k6, version pinned in ./dev), built the same way if missing."""
    version = re.search(r'K6_VERSION="\$\{KEP_K6_VERSION:-([^}]+)\}"', (root / "dev").read_text())
    want = os.environ.get("KEP_K6_VERSION") or (version.group(1) if version else "v1.4.2")
    bin_dir = root / ".state" / "bin"
    stamp = bin_dir / ".k6-version"
    if (bin_dir / "k6").exists() and stamp.exists() and stamp.read_text().strip() == want:
        return bin_dir / "k6"
    log(f"building k6 {want} from its Go module into {bin_dir} (as ./dev k6 does)")
    bin_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(["go", "install", f"go.k6.io/k6@{want}"], env={**os.environ, "GOBIN": str(bin_dir)}, check=True)
    stamp.write_text(want + "\n")
    return bin_dir / "k6"


def _children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _trend(metrics: dict[str, Any], key: str) -> dict[str, float]:
    m = metrics.get(key, {})
    pick = {"p50": "med", "p95": "p(95)", "p99": "p(99)", "avg": "avg", "max": "max"}
    return {k: round(float(m[v]), 2) for k, v in pick.items() if v in m}


def k6_figures(summary: dict[str, Any]) -> dict[str, Any]:
    """The figures of a `--summary-export` file (Rate metrics: `passes` counts the true values, i.e. failures)."""
    m = summary["metrics"]
    checks = m.get("checks", {})
    failed = m.get("http_req_failed", {})
    reqs = int(failed.get("passes", 0) + failed.get("fails", 0))
    per_name = {}
    for name in NAMES:
        f = m.get(f"http_req_failed{{name:{name}}}", {})
        per_name[name] = _trend(m, f"http_req_duration{{name:{name}}}") | {
            "count": int(m.get(f"http_reqs{{name:{name}}}", {}).get("count", 0)),
            "failed": int(f.get("passes", 0)),
        }
    n_checks = int(checks.get("passes", 0) + checks.get("fails", 0))
    return {
        "iterations": int(m.get("iterations", {}).get("count", 0)),
        "dropped_iterations": int(m.get("dropped_iterations", {}).get("count", 0)),
        "http_reqs": reqs,
        "http_req_failed": int(failed.get("passes", 0)),
        "http_req_failed_rate": round(failed.get("passes", 0) / reqs, 5) if reqs else None,
        "checks_failed": int(checks.get("fails", 0)),
        # 409s the employee met because the process had changed the case first; each answered by a re-read
        "conflicts": int(m.get("conflicts", {}).get("count", 0)),
        "checks_failed_rate": round(checks.get("fails", 0) / n_checks, 5) if n_checks else None,
        "latency_ms": per_name,
    }


def run_k6(
    k6: Path,
    target: Target,
    env: dict[str, str],
    stack: StackProcesses | None,
    load: Load,
    tail: float,
    floor: dict[str, int] | None = None,
) -> tuple[dict[str, Any], Window | None, float, float]:
    """One k6 run; with a stack, its CPU window. Returns (k6 figures, window, k6 CPU-s in the window, load seconds)."""
    with tempfile.TemporaryDirectory(prefix="kep-k6-") as tmp:
        summary_path = Path(tmp) / "summary.json"  # holds the run's token: never kept
        argv = [str(k6), "run", "--quiet", "--no-color", "--address", "", "--include-system-env-vars=false"]
        argv += ["--summary-export", str(summary_path)]
        for k, v in {"BASE_URL": target.base_url, "OIDC_ISSUER": target.issuer, "BENCH_MARK": MARK, **env}.items():
            argv += ["-e", f"{k}={v}"]
        argv.append(str(SCRIPT))
        marked = threading.Event()
        lines: list[str] = []
        cpu0 = _children_cpu_s()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp)

        def read_stderr() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                if MARK in line:
                    marked.set()
                else:
                    lines.append(line.rstrip())

        reader = threading.Thread(target=read_stderr, daemon=True)
        reader.start()
        while not marked.wait(0.05) and proc.poll() is None:
            pass
        sampler, k6_at_mark, t_mark = None, 0.0, time.monotonic()
        if marked.is_set() and stack is not None:
            sampler = Sampler(stack, load.interval)
            sampler.start()
            with contextlib.suppress(*GONE):
                t = psutil.Process(proc.pid).cpu_times()
                k6_at_mark = t.user + t.system
        try:
            rc = proc.wait(timeout=load.duration + 120)
        except subprocess.TimeoutExpired:
            rc = -9
        finally:  # also on Ctrl-C or an error: no k6 outlives the harness
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        load_s = time.monotonic() - t_mark
        k6_cpu = _children_cpu_s() - cpu0 - k6_at_mark
        reader.join(5)
        window = None
        drain_s = 0.0
        if sampler is not None:
            # the window closes once the work the requests left behind is done (process steps, events), then tail
            drain_s = target.wait_drained(floor or {}, load.drain_limit)
            time.sleep(tail)
            window = sampler.stop()
        if not summary_path.exists():
            raise RuntimeError(f"k6 exited {rc} without a summary:\n" + "\n".join(lines[-20:]))
        figures = k6_figures(json.loads(summary_path.read_text())) | {"k6_exit": rc, "drain_s": round(drain_s, 1)}
        if rc not in (0, 99):  # 99: a threshold was crossed, the figures stand
            figures["k6_errors"] = lines[-5:]
        return figures, window, k6_cpu, load_s


def idle_figures(w: Window) -> dict[str, Any]:
    return {
        "seconds": round(w.seconds, 1),
        "machine_busy_cores": round(w.machine_busy_s / w.seconds, 4),
        "stack_cores": round(w.stack_s / w.seconds, 4),
        "harness_cores": round(w.harness_s / w.seconds, 4),
        # everything else on the machine: other tenants; compare it between runs before trusting `net`
        "others_cores": round((w.machine_busy_s - w.stack_s - w.harness_s) / w.seconds, 4),
        "components": w.groups(),
        "processes": w.processes(),
        "process_counts": w.process_counts(),
    }


def load_figures(k6: dict[str, Any], w: Window, idle: Window, k6_cpu: float, load_s: float) -> dict[str, Any]:
    n = k6["iterations"] or 1
    net = w.machine_busy_s - idle.machine_busy_s / idle.seconds * w.seconds
    stack_net = w.stack_s - idle.stack_s / idle.seconds * w.seconds
    return {
        "iter_per_s": round(k6["iterations"] / load_s, 3),
        "cpu_ms_per_iter": {
            "net": round(1000 * net / n, 2),
            "net_ex_k6": round(1000 * (net - k6_cpu) / n, 2),
            "gross": round(1000 * w.machine_busy_s / n, 2),
            "stack": round(1000 * w.stack_s / n, 2),
            "stack_net": round(1000 * stack_net / n, 2),
        },
        "window_s": round(w.seconds, 1),
        "load_s": round(load_s, 1),
        "machine_busy_cores": round(w.machine_busy_s / w.seconds, 4),
        "idle_machine_busy_cores": round(idle.machine_busy_s / idle.seconds, 4),
        "k6_cores": round(k6_cpu / w.seconds, 4),
        "harness_cores": round(w.harness_s / w.seconds, 4),
        "others_cores": round((w.machine_busy_s - w.stack_s - w.harness_s - k6_cpu) / w.seconds, 4),
        **k6,
        "components": w.groups(),
        "processes": w.processes(),
        "process_counts": w.process_counts(),
    }


def mode_env(mode: str, load: Load, duration: float) -> dict[str, str]:
    if mode == "rate":
        return {"SCENARIO": "rate", "RATE": f"{load.rate:g}", "DURATION": f"{duration:g}s"}
    if mode == "vus":
        return {"SCENARIO": "vus", "VUS": str(load.vus), "DURATION": f"{duration:g}s"}
    raise ValueError(f"unknown mode {mode!r} (rate, vus)")


def measure_stack(target: Target, load: Load, k6: Path) -> dict[str, Any]:
    """One repeat on a running stack: warm-up, then per mode the idle baseline and the loaded window."""
    stack = target.processes()
    if load.warmup > 0:
        log(f"warm-up: {load.rate:g} it/s for {load.warmup:g}s")
        run_k6(k6, target, mode_env("rate", load, load.warmup), None, load, 0)
    out: dict[str, Any] = {}
    floor = target.backlog()  # before any load: what the stack does not work on (another tenant's tasks)
    for mode in load.modes:
        target.wait_drained(floor, load.drain_limit)  # the warm-up's or the previous mode's work done first
        time.sleep(load.settle)
        stack.discover()  # the autoscaler may have grown or shrunk the worker pool
        log(f"{mode}: idle baseline over {load.idle:g}s")
        idle = measure(stack, load.idle, load.interval)
        log(f"{mode}: load for {load.duration:g}s (until drained, +{load.tail:g}s tail)")
        figures, window, k6_cpu, load_s = run_k6(
            k6, target, mode_env(mode, load, load.duration), stack, load, load.tail, floor
        )
        if window is None:
            raise RuntimeError(f"k6 setup did not finish (exit {figures.get('k6_exit')}): {figures.get('k6_errors')}")
        out[mode] = {"idle": idle_figures(idle), **load_figures(figures, window, idle, k6_cpu, load_s)}
        f = out[mode]
        log(
            f"{mode}: {f['iterations']} it, {f['iter_per_s']} it/s, net {f['cpu_ms_per_iter']['net']} ms CPU/it, "
            f"idle stack {f['idle']['stack_cores']} cores, failed checks {f['checks_failed']}, "
            f"drained {f['drain_s']}s after k6"
        )
    return out


# --- medians and ratios over repeats: nested figures flattened to "mode/cpu_ms_per_iter/net" ---------------


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out |= flatten(v, key + "/")
        elif isinstance(v, int | float) and not isinstance(v, bool):
            out[key] = float(v)
    return out


def unflatten(flat: dict[str, float | None]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, v in flat.items():
        *path, last = key.split("/")
        node = out
        for p in path:
            node = node.setdefault(p, {})
        node[last] = v
    return out


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    flats = [flatten(r) for r in runs]
    keys = list(dict.fromkeys(k for f in flats for k in f))
    return unflatten({k: round(statistics.median([f[k] for f in flats if k in f]), 4) for k in keys})


RATIO_KEYS = re.compile(
    r"^\w+/(iter_per_s|cpu_ms_per_iter/\w+|latency_ms/\w+/(p50|p95|p99)|machine_busy_cores|k6_cores"
    r"|http_req_failed|checks_failed|dropped_iterations|idle/(stack_cores|machine_busy_cores)|components/\w+"
    r"|idle/components/\w+)$"
)


def ratios(head: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """head ÷ base for the headline figures (None where the baseline is 0)."""
    h, b = flatten(head), flatten(base)
    return unflatten({k: (round(h[k] / b[k], 3) if b[k] else None) for k in h if k in b and RATIO_KEYS.match(k)})


def main() -> None:
    from kepctl.stack import StackSettings

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_load_args(ap)
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    load = load_from_args(args)
    st = StackSettings()
    target = Target.from_ports({k: v for k, v in st.model_dump().items() if k.endswith("_port")})
    k6 = k6_binary()
    runs = []
    for i in range(args.repeats):
        run = {"repeat": i + 1, "base_url": target.base_url, **measure_stack(target, load, k6)}
        print(json.dumps(run, ensure_ascii=False), flush=True)
        runs.append({m: run[m] for m in load.modes})
    print(json.dumps({"summary": {"repeats": len(runs), "median": medians(runs)}}, ensure_ascii=False), flush=True)


def add_load_args(ap: argparse.ArgumentParser) -> None:
    d = Load()
    ap.add_argument("--modes", default=",".join(d.modes), help="rate,vus (default both)")
    ap.add_argument("--rate", type=float, default=d.rate, help="iterations/s of the arrival-rate mode")
    ap.add_argument("--vus", type=int, default=d.vus, help="VUs of the closed-loop mode")
    ap.add_argument("--duration", type=float, default=d.duration, help="seconds of load per mode")
    ap.add_argument("--idle", type=float, default=d.idle, help="seconds of the idle baseline before each mode")
    ap.add_argument("--tail", type=float, default=d.tail, help="seconds the window stays open once drained")
    ap.add_argument("--drain-limit", type=float, default=d.drain_limit, help="longest wait for the backlog (s)")
    ap.add_argument("--warmup", type=float, default=d.warmup, help="seconds of unmeasured load at --rate first")
    ap.add_argument("--settle", type=float, default=d.settle, help="seconds of rest before each idle baseline")
    ap.add_argument("--interval", type=float, default=d.interval, help="process sampling interval (s)")


def load_from_args(args: argparse.Namespace) -> Load:
    if args.duration > 240:
        log("warning: k6 logs in once; the demo realm's tokens live 5 minutes, so keep --duration under ~4 min")
    return Load(
        modes=tuple(m for m in args.modes.split(",") if m),
        rate=args.rate,
        vus=args.vus,
        duration=args.duration,
        idle=args.idle,
        tail=args.tail,
        drain_limit=args.drain_limit,
        warmup=args.warmup,
        settle=args.settle,
        interval=args.interval,
    )


if __name__ == "__main__":
    main()

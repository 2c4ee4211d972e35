"""Side-by-side HTTP throughput: plain uvicorn vs Ray Serve, same FastAPI app.

    .venv/bin/python bench/serve_vs_uvicorn.py [--duration 10 --connections 32 --repeats 3]

One run serves ``bench/_app.py:app`` (GET /api/ping -> small JSON dict)

* with plain uvicorn in a subprocess (1 worker, uvloop + httptools when
  installed, no access log), measured before *and* after the Serve variants so
  machine drift shows up; the ratio uses the median of all uvicorn repeats;
* with Ray Serve in a subprocess (``bench/_serve_app.py``, a private local Ray
  cluster) once per Serve variant (see ``VARIANTS`` / ``--list``),

drives each with ``wrk --latency`` on 127.0.0.1 for a bounded duration, takes
the median of ``--repeats`` runs and prints JSON lines

    {"target": ..., "settings": {...}, "rps": ..., "p50_ms": ..., "p99_ms": ...,
     "errors": ..., "runs_rps": [...], "cpu_pct": {...}}

and a final ``{"summary": ...}`` line with each Serve variant's ratio to
uvicorn. ``cpu_pct`` is the CPU used per process kind during the measured
runs (100 = one core), which shows where the bottleneck sits.
``--variants ablation`` runs the recommended config with one setting changed
at a time; ``--custom NAME=JSON`` adds an ad-hoc variant. A variant whose
server vanished mid-run (another user's ``ray stop`` kills our raylet too) is
restarted up to ``--retries`` times; ``attempts`` in its line says so.

Ports: 18701 (uvicorn), 18711 (Serve proxy / HAProxy frontend), 18712-18715
(fallback proxy, HAProxy stats/metrics), 18716-18720 (direct-ingress replica
HTTP ports), 18721-18725 (direct-ingress gRPC ports, unused here).

Every process started here is stopped on exit, error, SIGINT or SIGTERM:
the Serve runner gets SIGTERM (it calls serve.shutdown()/ray.shutdown()), then
every process of its tree and every process whose command line names this
run's private Ray temp dir is SIGKILLed. It never runs ``ray stop`` (that
would kill other Ray clusters on the machine). Nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any

import psutil

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_DIR = os.path.join(REPO, "bench")
PING_PATH = "/api/ping"
HOST = "127.0.0.1"

UVICORN_PORT = 18701
SERVE_PORT = 18711

# Environment every Serve subprocess gets (ports kept inside 18711-18725,
# no usage-stats phone home, fast drain on shutdown).
BASE_SERVE_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT": "18712",
    "RAY_SERVE_FALLBACK_PROXY_GRPC_PORT": "18713",
    "RAY_SERVE_HAPROXY_STATS_PORT": "18714",
    "RAY_SERVE_HAPROXY_METRICS_PORT": "18715",
    "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT": "18716",
    "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT": "18720",
    "RAY_SERVE_DIRECT_INGRESS_MIN_GRPC_PORT": "18721",
    "RAY_SERVE_DIRECT_INGRESS_MAX_GRPC_PORT": "18725",
    # Only affects shutdown: don't hold direct-ingress replicas open 30 s.
    "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "0",
}

# The tuned Serve settings (bench/README.md has the numbers and the sources):
TUNED_ENV = {
    # direct ingress (the ingress replica serves HTTP itself), gRPC between
    # deployments, user code + router on the replica's main loop,
    # RAY_SERVE_LOG_TO_STDERR=0, request-path log buffer of 1000 records
    "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
    # Ray core: no metrics export (the dashboard agent stops using ~10% CPU;
    # costs the Ray/Serve Prometheus metrics)
    "RAY_enable_metrics_collection": "0",
}
# ... plus HAProxy on the Serve port in front of the replicas (replaces the
# Python proxy actor); RAY_SERVE_HAPROXY_METRICS_ENABLED=0 stops HAProxy
# sending a log line per request to the HAProxyManager actor, which parses
# it in Python.
HAPROXY_ENV = {
    "RAY_SERVE_ENABLE_HA_PROXY": "1",
    "RAY_SERVE_HAPROXY_METRICS_ENABLED": "0",
}
TUNED_DEPLOYMENT = {"max_ongoing_requests": 256}
# App-level Serve LoggingConfig (serve.run(logging_config=...)): no access log.
TUNED_LOGGING = {"access_log": False}

# name -> settings. Keys: env (extra env vars), deployment (@serve.deployment
# kwargs), access_log / log_level (app LoggingConfig), target ("proxy": hit
# the Serve HTTP port 18711; "direct": hit the ingress replica's own port).
VARIANTS: dict[str, dict[str, Any]] = {
    # -- the classic path: client -> Serve proxy actor -> replica ----------
    "serve-default": {},
    "serve-mor64": {"deployment": {"max_ongoing_requests": 64}},
    "serve-mor64-sameloop": {
        # what serve/bootstrap.py sets today
        "deployment": {"max_ongoing_requests": 64},
        "env": {
            "RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP": "0",
            "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0",
        },
    },
    "serve-proxy-tuned": {
        # every tuned setting except direct ingress: still through the proxy
        "deployment": TUNED_DEPLOYMENT,
        "env": {**TUNED_ENV, "RAY_SERVE_ENABLE_DIRECT_INGRESS": "0"},
        **TUNED_LOGGING,
    },
    # -- direct ingress: the ingress replica runs its own uvicorn ----------
    "serve-direct-untuned": {
        # RAY_SERVE_THROUGHPUT_OPTIMIZED=1 alone, Serve defaults otherwise
        "env": {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1"},
        "target": "direct",
    },
    "serve-direct": {
        "deployment": TUNED_DEPLOYMENT,
        "env": TUNED_ENV,
        **TUNED_LOGGING,
        "target": "direct",
    },
    # -- HAProxy on the Serve port in front of direct-ingress replicas -----
    "serve-haproxy-untuned": {
        # the two documented switches, Serve/HAProxy defaults otherwise
        "env": {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1", "RAY_SERVE_ENABLE_HA_PROXY": "1"},
    },
    "serve-haproxy": {
        "deployment": TUNED_DEPLOYMENT,
        "env": {**TUNED_ENV, **HAPROXY_ENV},
        **TUNED_LOGGING,
    },
    "serve-haproxy-2rep": {
        # two replicas = two cores of Python (uvicorn baseline has one)
        "deployment": {**TUNED_DEPLOYMENT, "num_replicas": 2},
        "env": {**TUNED_ENV, **HAPROXY_ENV},
        **TUNED_LOGGING,
    },
}


def _vary(
    base: dict[str, Any], drop_env: str | None = None, add_env: dict[str, str] | None = None, **override: Any
) -> dict[str, Any]:
    out = {**base, "env": {**base.get("env", {}), **(add_env or {})}, **override}
    if drop_env:
        out["env"].pop(drop_env)
    return out


# One-setting-changed runs of "serve-haproxy" (--variants ablation).
_H = VARIANTS["serve-haproxy"]
ABLATION: dict[str, dict[str, Any]] = {
    "serve-haproxy": _H,
    "abl-access-log-on": _vary(_H, access_log=True),
    "abl-ray-metrics-on": _vary(_H, drop_env="RAY_enable_metrics_collection"),
    "abl-haproxy-metrics-on": _vary(_H, drop_env="RAY_SERVE_HAPROXY_METRICS_ENABLED"),
    "abl-mor-5": _vary(_H, deployment={}),
    "abl-haproxy-1-thread": _vary(_H, add_env={"RAY_SERVE_HAPROXY_NBTHREAD": "1"}),
    "abl-nice-0": _vary(_H, add_env={"RAY_worker_niceness": "0"}),
    "abl-log-warning": _vary(_H, log_level="WARNING"),
    "abl-log-to-stderr": _vary(_H, add_env={"RAY_SERVE_LOG_TO_STDERR": "1"}),
}
DEFAULT_VARIANTS = list(VARIANTS)

_STARTED: list[Target] = []
KEEP_LOGS = False  # --keep-logs


def log(msg: str) -> None:
    print(f"# {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# process bookkeeping


def _proc_kind(p: psutil.Process) -> str:
    """Short label for CPU accounting: Ray sets proctitles like 'ray::ProxyActor'."""
    try:
        cmd = p.cmdline()
        name = p.name()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return "?"
    if cmd and cmd[0].startswith("ray::"):
        title = cmd[0].split()[0]
        return re.sub(r"^ray::(ServeReplica:[^:]+:[^:\s]+).*", r"ray::\1", title)
    if "_serve_app.py" in " ".join(cmd):
        return "serve-driver"
    if name.startswith("python") and cmd:
        for part in cmd[1:]:
            if part.endswith(".py"):
                return os.path.basename(part)
    return name


class Target:
    """A server subprocess plus every process it spawned."""

    def __init__(self, name: str, settings: dict[str, Any]):
        self.name = name
        self.settings = settings
        self.proc: subprocess.Popen | None = None
        self.url: str | None = None
        self.known: dict[int, float] = {}  # pid -> create_time
        self.temp_dir: str | None = None
        self.log_path: str | None = None
        self._log_file = None

    # -- lifecycle --------------------------------------------------------
    def start(self, timeout_s: float) -> None:
        raise NotImplementedError

    def _spawn(self, cmd: list[str], env: dict[str, str], stdin=None) -> None:
        self._log_file = tempfile.NamedTemporaryFile("w+", prefix=f"bench_{self.name}_", suffix=".log", delete=False)
        self.log_path = self._log_file.name
        self.proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            env=env,
            stdin=stdin,
            stdout=subprocess.PIPE if stdin is not None else self._log_file,
            stderr=self._log_file,
            text=True,
            start_new_session=True,
        )
        _STARTED.append(self)
        self.snapshot()

    def snapshot(self) -> list[psutil.Process]:
        """Remember every live process of this target (for CPU and cleanup)."""
        procs: list[psutil.Process] = []
        if self.proc is None:
            return procs
        try:
            root = psutil.Process(self.proc.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            pass
        if self.temp_dir:
            seen = {p.pid for p in procs}
            for p in psutil.process_iter(["cmdline"]):
                try:
                    if p.pid not in seen and self.temp_dir in " ".join(p.info["cmdline"] or []):
                        procs.append(p)
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                self.known[p.pid] = p.create_time()
        return procs

    def stop(self) -> None:
        if self.proc is None:
            return
        self.snapshot()
        if self.proc.poll() is None:
            try:
                if self.proc.stdin:
                    self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=45)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                pass
        self.snapshot()
        for pid, ctime in list(self.known.items()):
            try:
                p = psutil.Process(pid)
                if abs(p.create_time() - ctime) < 0.01 and p.is_running():
                    p.kill()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        if self.proc.poll() is None:
            try:
                self.proc.kill()
                self.proc.wait(timeout=5)
            except Exception:
                pass
        if self._log_file:
            self._log_file.close()
            if not KEEP_LOGS:
                with contextlib.suppress(OSError):
                    os.unlink(self._log_file.name)
            self._log_file = None
        if self.temp_dir and not KEEP_LOGS:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
        elif self.temp_dir:
            log(f"{self.name}: Ray logs kept in {self.temp_dir}/session_latest/logs")
        self.proc = None

    def tail_log(self, n: int = 30) -> str:
        if not self.log_path:
            return ""
        try:
            with open(self.log_path) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            r.read()
            return r.status == 200
    except Exception:
        return False


class UvicornTarget(Target):
    def start(self, timeout_s: float) -> None:
        cmd = [
            sys.executable, "-m", "uvicorn", "bench._app:app",
            "--host", HOST, "--port", str(UVICORN_PORT),
            "--workers", "1", "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
        for mod, flag in (("uvloop", "--loop"), ("httptools", "--http")):
            try:
                __import__(mod)
                cmd += [flag, mod]
            except ImportError:
                pass
        self.settings = {"cmd": " ".join(cmd[1:])}
        env = {**os.environ, "PYTHONPATH": REPO}
        self._spawn(cmd, env)
        url = f"http://{HOST}:{UVICORN_PORT}{PING_PATH}"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited:\n{self.tail_log()}")
            if _http_ok(url):
                self.url = url
                return
            time.sleep(0.2)
        raise RuntimeError(f"uvicorn not ready:\n{self.tail_log()}")


class ServeTarget(Target):
    def start(self, timeout_s: float) -> None:
        self.temp_dir = tempfile.mkdtemp(prefix="rsb", dir="/tmp")
        cfg = {
            "http_port": SERVE_PORT,
            "temp_dir": self.temp_dir,
            "num_cpus": self.settings.get("num_cpus", os.cpu_count() or 2),
            "deployment": self.settings.get("deployment", {}),
            "access_log": self.settings.get("access_log", True),
            "log_level": self.settings.get("log_level", "INFO"),
            "target": self.settings.get("target", "proxy"),
        }
        # HAProxy's files (config, admin socket, server state) default to
        # /tmp/haproxy-serve/<node id>/; keep them in this run's temp dir.
        hap = os.path.join(self.temp_dir, "haproxy")
        env = {
            **os.environ,
            "PYTHONPATH": REPO,
            **BASE_SERVE_ENV,
            "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": f"{hap}/haproxy.cfg",
            "RAY_SERVE_HAPROXY_SOCKET_PATH": f"{hap}/admin.sock",
            "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": hap,
            "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": f"{hap}/server-state",
            "RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH": f"{hap}/metrics.sock",
            **self.settings.get("env", {}),
        }
        cmd = [sys.executable, os.path.join(BENCH_DIR, "_serve_app.py"), json.dumps(cfg)]
        self._spawn(cmd, env, stdin=subprocess.PIPE)
        deadline = time.monotonic() + timeout_s
        import selectors

        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not sel.select(timeout=1.0):
                self.snapshot()
                continue
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"Serve runner exited:\n{self.tail_log()}")
            if line.startswith("READY "):
                self.url = json.loads(line[6:])["url"]
                self.snapshot()
                return
            if line.startswith("FAILED"):
                raise RuntimeError(f"Serve not ready: {line}\n{self.tail_log()}")
        raise RuntimeError(f"Serve not ready in {timeout_s}s:\n{self.tail_log()}")


def cleanup_all() -> None:
    while _STARTED:
        t = _STARTED.pop()
        try:
            t.stop()
        except Exception as e:  # keep going: other targets still need stopping
            log(f"cleanup of {t.name} failed: {e!r}")


# --------------------------------------------------------------------------
# wrk


_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _to_ms(v: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", v.strip())
    if not m:
        raise ValueError(v)
    return float(m.group(1)) * _UNITS_MS[m.group(2)]


def parse_wrk(out: str) -> dict[str, Any]:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    pct = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    return {
        "rps": rps,
        "p50_ms": _to_ms(pct["50"]),
        "p99_ms": _to_ms(pct["99"]),
        "errors": errors,
        "requests": total,
    }


def run_wrk(url: str, args, duration: float) -> tuple[dict[str, Any], float]:
    cmd = [
        args.wrk, f"-t{args.threads}", f"-c{args.connections}",
        f"-d{int(max(1, duration))}s", "--timeout", f"{args.timeout}s",
        "--latency", url,
    ]  # fmt: skip
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        ps = psutil.Process(p.pid)
        ps.cpu_times()
    except psutil.NoSuchProcess:
        ps = None
    wrk_cpu = 0.0
    out = ""
    try:
        # Sample wrk's own CPU just before it exits.
        t0 = time.monotonic()
        while p.poll() is None:
            try:
                if ps is not None:
                    c = ps.cpu_times()
                    wrk_cpu = c.user + c.system
            except psutil.NoSuchProcess:
                pass
            time.sleep(0.2)
        out = p.stdout.read()
        elapsed = time.monotonic() - t0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    if p.returncode != 0:
        raise RuntimeError(f"wrk failed ({p.returncode}): {out}")
    return parse_wrk(out), 100.0 * wrk_cpu / max(elapsed, 1e-6)


def _cpu_sample(procs: list[psutil.Process]) -> dict[int, tuple[str, float]]:
    res = {}
    for p in procs:
        try:
            c = p.cpu_times()
            res[p.pid] = (_proc_kind(p), c.user + c.system)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return res


def measure(target: Target, args) -> dict[str, Any]:
    if args.warmup > 0:
        run_wrk(target.url, args, args.warmup)
    runs = []
    cpu_totals: dict[str, float] = {}
    wall = 0.0
    for _ in range(args.repeats):
        procs = target.snapshot()
        before = _cpu_sample(procs)
        t0 = time.monotonic()
        res, wrk_cpu = run_wrk(target.url, args, args.duration)
        dt = time.monotonic() - t0
        after = _cpu_sample(procs)
        wall += dt
        for pid, (kind, t) in after.items():
            if pid in before:
                cpu_totals[kind] = cpu_totals.get(kind, 0.0) + (t - before[pid][1])
        cpu_totals["wrk"] = cpu_totals.get("wrk", 0.0) + wrk_cpu * dt / 100.0
        runs.append(res)
        log(f"{target.name}: {res['rps']:.0f} req/s p50={res['p50_ms']:.2f}ms "
            f"p99={res['p99_ms']:.2f}ms errors={res['errors']}")  # fmt: skip
    cpu_pct = {
        k: round(100.0 * v / wall, 1)
        for k, v in sorted(cpu_totals.items(), key=lambda kv: -kv[1])
        if 100.0 * v / wall >= 1.0
    }
    return {
        "runs": runs,
        "cpu_pct": cpu_pct,
    }


def summarise(name: str, settings: dict, runs: list[dict], cpu_pct: dict) -> dict:
    return {
        "target": name,
        "settings": settings,
        "rps": round(statistics.median(r["rps"] for r in runs), 1),
        "p50_ms": round(statistics.median(r["p50_ms"] for r in runs), 3),
        "p99_ms": round(statistics.median(r["p99_ms"] for r in runs), 3),
        "errors": sum(r["errors"] for r in runs),
        "runs_rps": [round(r["rps"], 1) for r in runs],
        "cpu_pct": cpu_pct,
    }


def bench_target(make_target, args) -> dict[str, Any]:
    """Start a fresh target, measure it, stop it.

    A run where the server vanished (wrk cannot connect, or more than 1% of
    requests failed) is retried with a fresh server up to ``--retries`` times:
    on a shared machine another user's ``ray stop`` kills every raylet,
    ours included. Errors stay visible in the output either way.
    """
    last_exc: Exception | None = None
    for attempt in range(1, args.retries + 2):
        target = make_target()
        log(f"starting {target.name} (attempt {attempt}) ...")
        try:
            target.start(args.start_timeout)
            log(f"{target.name} ready at {target.url}")
            m = measure(target, args)
            bad = [r for r in m["runs"] if r["errors"] > 0.01 * max(r["requests"], 1)]
            if bad and attempt <= args.retries:
                log(f"{target.name}: {len(bad)} run(s) with >1% errors; retrying")
                continue
            m["attempts"] = attempt
            m["settings"] = target.settings
            return m
        except RuntimeError as e:
            last_exc = e
            log(f"{target.name} attempt {attempt} failed: {str(e)[:500]}")
        finally:
            target.stop()
    raise RuntimeError(f"{args.retries + 1} attempts failed; last: {last_exc}")


# --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=10, help="seconds per wrk run")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    ap.add_argument("--timeout", type=float, default=5, help="wrk request timeout s")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warmup", type=float, default=3, help="warm-up seconds (not measured)")
    ap.add_argument("--variants", default=",".join(DEFAULT_VARIANTS),
                    help="comma-separated Serve variants (see --list); "
                    "'ablation' = one-setting-off runs of serve-haproxy")  # fmt: skip
    ap.add_argument("--custom", action="append", default=[], metavar="NAME=JSON",
                    help="extra Serve variant, e.g. "
                    "'x={\"env\":{\"RAY_SERVE_THROUGHPUT_OPTIMIZED\":\"1\"}}'")  # fmt: skip
    ap.add_argument("--no-uvicorn", action="store_true", help="skip the uvicorn baseline")
    ap.add_argument("--start-timeout", type=float, default=180)
    ap.add_argument("--retries", type=int, default=2,
                    help="restart a target whose server vanished mid-run this many times")  # fmt: skip
    ap.add_argument("--wrk", default=shutil.which("wrk") or "wrk")
    ap.add_argument("--list", action="store_true", help="print the variants and exit")
    ap.add_argument("--keep-logs", action="store_true",
                    help="keep each Serve run's Ray temp dir (logs) instead of deleting it")  # fmt: skip
    args = ap.parse_args(argv)
    global KEEP_LOGS
    KEEP_LOGS = args.keep_logs

    variants: dict[str, dict[str, Any]] = {}
    for n in filter(None, args.variants.split(",")):
        if n == "ablation":
            variants.update(ABLATION)
        elif n in VARIANTS:
            variants[n] = VARIANTS[n]
        else:
            ap.error(f"unknown variant {n!r}; see --list")
    for c in args.custom:
        n, _, js = c.partition("=")
        variants[n] = json.loads(js)
    if args.list:
        for n, s in {**VARIANTS, **ABLATION, **variants}.items():
            print(json.dumps({"variant": n, "settings": s}))
        return 0
    if not shutil.which(args.wrk):
        print("wrk not found (apt-get install wrk)", file=sys.stderr)
        return 2

    def _on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, _on_signal)

    meta = {
        "duration_s": args.duration, "connections": args.connections,
        "wrk_threads": args.threads, "repeats": args.repeats,
        "cpus": os.cpu_count(), "python": sys.version.split()[0],
    }  # fmt: skip
    try:
        import ray

        meta["ray"] = ray.__version__
    except Exception:
        pass
    print(json.dumps({"meta": meta}), flush=True)

    results: dict[str, dict] = {}
    uv_runs: list[dict] = []
    uv_cpu: list[dict] = []
    uv_settings: dict = {}
    try:
        if not args.no_uvicorn:
            m = bench_target(lambda: UvicornTarget("uvicorn", {}), args)
            uv_runs += m["runs"]
            uv_cpu.append(m["cpu_pct"])
            uv_settings = m["settings"]
        for name, settings in variants.items():
            try:
                m = bench_target(lambda n=name, s=settings: ServeTarget(n, s), args)
            except RuntimeError as e:
                log(f"{name} failed: {e}")
                print(json.dumps({"target": name, "settings": settings,
                                  "error": str(e)[-2000:]}), flush=True)  # fmt: skip
                continue
            results[name] = summarise(name, settings, m["runs"], m["cpu_pct"])
            results[name]["attempts"] = m["attempts"]
            print(json.dumps(results[name]), flush=True)
        if not args.no_uvicorn:
            # Second uvicorn pass: the ratio uses all uvicorn runs, before and after.
            m = bench_target(lambda: UvicornTarget("uvicorn", {}), args)
            uv_runs += m["runs"]
            uv_cpu.append(m["cpu_pct"])
            uv_cpu_avg = {k: round(sum(c.get(k, 0.0) for c in uv_cpu) / len(uv_cpu), 1) for k in uv_cpu[0]}
            uv = summarise("uvicorn", uv_settings, uv_runs, uv_cpu_avg)
            print(json.dumps(uv), flush=True)
            summary = {
                "uvicorn_rps": uv["rps"],
                "ratio_to_uvicorn": {n: round(r["rps"] / uv["rps"], 3) for n, r in results.items()},
            }
            print(json.dumps({"summary": summary}), flush=True)
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        return 130
    finally:
        cleanup_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Our Camunda bridge against the community Python client, side by side on one engine with the same no-op work.

    .venv/bin/python bench/bridge_vs_community.py [--instances 300 --rate 20 --paced-s 10 --repeats 3]
    .venv/bin/python bench/bridge_vs_community.py --configs ours-p8-w1,peer-default --repeats 1
    .venv/bin/python bench/bridge_vs_community.py --list

Needs the local services (`.venv/bin/kep services start`) and the community client in a throwaway venv, never the
project's (it imports pydantic and, in its async worker, httpx without declaring them):

    python3 -m venv /tmp/peer-venv
    /tmp/peer-venv/bin/pip install camunda-external-task-client-python3 pydantic httpx

Every run (one config, one repeat) deploys its own processes (start -> external task `bench-noop-<run>` -> end)
under a bench-only tenant, starts the side in fresh processes, and measures:

* warm-up: 20 instances, not measured;
* burst: `--instances` instances started as fast as `--start-concurrency` clients can; throughput = instances /
  (last instance's end - first start sent), from the engine's history; `start_s` says how long the starts took;
* paced: `--rate` instances a second for `--paced-s` s, so queues do not dominate;
* latency = handler start (`time.time()` in the handler) - the instance's `startTime` in the engine's history (same
  transaction as the task's creation), p50 and p99 per phase;
* CPU seconds of the side's processes and of the engine's JVM over burst + paced, per task.

Sides, each in its own processes so the starts and polls of this script never share their CPU or event loop:

* ours: one child process of this script runs a `CamundaBridge` and `--workers` `TaskWorker` instances (the actor
  classes as plain objects, no Ray), a private RabbitMQ vhost (the shared `tasks.results` queue of the stack would
  hand our outcomes to any other bridge running on it), logs at WARNING like the peer's unconfigured logging;
* peer: `bench/_community_worker.py` processes run with `--peer-python` (the community client's defaults first).

Output: one JSON line per run and a final `{"summary": ...}` with medians per config and, for every ours/peer pair,
ours ÷ peer for throughput and paced p50/p99 latency (throughput > 1 and latency < 1 favour ours). Progress goes to
stderr. Nothing is asserted. At the end (also on error or Ctrl-C) the children are stopped, their parked long polls
released, every deployment of the bench tenant deleted with cascade and the vhost deleted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TextIO
from urllib.parse import quote

import httpx
import psutil

from kepctl.stack import StackSettings

BENCH = Path(__file__).resolve().parent
PEER_WORKER = BENCH / "_community_worker.py"
PEER_PYTHON = "/tmp/peer-venv/bin/python"  # noqa: S108 (the throwaway venv of the docstring, made by hand)
LONG_POLL_MS = 20_000
LOCK_MS = 30_000
WARM_UP = 20
PHASES = ("warm", "burst", "paced")


@dataclass(frozen=True)
class Config:
    side: Literal["ours", "peer"]
    processes: int = 1  # ours: TaskWorker instances (with the bridge, in one process); peer: worker processes
    prefetch: int = 8  # ours: each TaskWorker's prefetch (= Settings.worker_prefetch)
    mode: Literal["sync", "async"] = "sync"  # peer: ExternalTaskWorker or AsyncExternalTaskWorker
    max_tasks: int | None = None  # peer sync maxTasks; None: the client's default (1)
    max_concurrent: int | None = None  # peer async maxConcurrentTasks; None: the client's default (10)


CONFIGS: dict[str, Config] = {
    "ours-p8-w1": Config("ours", 1, prefetch=8),
    "ours-p32-w1": Config("ours", 1, prefetch=32),
    "ours-p8-w2": Config("ours", 2, prefetch=8),
    "ours-p32-w2": Config("ours", 2, prefetch=32),
    "peer-default": Config("peer"),
    "peer-sync-max10": Config("peer", 1, max_tasks=10),
    "peer-sync-max10-x2": Config("peer", 2, max_tasks=10),
    "peer-sync-x4": Config("peer", 4),
    "peer-async": Config("peer", 1, mode="async"),
    "peer-async-x2": Config("peer", 2, mode="async"),
}
# alternating sides, so drift of the machine spreads over both
DEFAULT_CONFIGS = "ours-p8-w1,peer-default,ours-p32-w1,peer-sync-max10-x2,ours-p8-w2,ours-p32-w2"


def log(msg: str) -> None:
    print(f"# {msg}", file=sys.stderr, flush=True)


def bpmn(key: str, topic: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="{key}_defs" targetNamespace="urn:kep:bench">
  <bpmn:process id="{key}" isExecutable="true" camunda:historyTimeToLive="P1D">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="noop" camunda:type="external" camunda:topic="{topic}">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="noop"/>
    <bpmn:sequenceFlow id="f2" sourceRef="noop" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
""".encode()


# --------------------------------------------------------------------------------------------------------------
# ours: the bridge and the workers, in a child process of this script


async def serve_ours(spec: dict[str, Any], out: TextIO) -> None:
    """Run the bridge and `workers` TaskWorkers on `topic` until SIGTERM, then close everything; the handler
    appends `<process instance id> <time.time()>` to `out` as it starts."""
    # imported here: the measuring process needs none of it (and it pulls in Ray's package)
    from bpmn_bridge.bridge import CamundaBridge
    from bpmn_bridge.worker import TaskWorker
    from infra.settings import Settings
    from messages.tasks import TaskCommand, Topic, TopicOptions

    env = StackSettings().app_env()
    values: dict[str, Any] = {
        "database_url": env["KEP_DATABASE_URL"],
        "redis_url": env["KEP_REDIS_URL"],
        "amqp_url": spec["amqp_url"],
        "engine_url": env["KEP_ENGINE_URL"],
        "engine_tenant": spec["tenant"],
        "bridge_worker_id": spec["worker_id"],
        "bridge_long_poll_ms": LONG_POLL_MS,
        "worker_prefetch": spec["prefetch"],
        "log_level": spec["log_level"],
    }
    settings = Settings(**values)

    async def noop(task: TaskCommand) -> dict[str, Any]:
        started = time.time()
        out.write(f"{task.process_instance_id} {started}\n")
        return {}

    options = TopicOptions(spec["topic"], variables=(), lock_ms=LOCK_MS)
    workers = []
    for _ in range(spec["workers"]):
        worker = TaskWorker.__new__(TaskWorker)
        await TaskWorker.__init__(
            worker, settings, [spec["topic"]], spec["prefetch"], {options.topic: Topic(options, noop)}
        )
        workers.append(worker)
    bridge = CamundaBridge.__new__(CamundaBridge)
    await CamundaBridge.__init__(bridge, settings, {options.topic: options})
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await stop.wait()

    for task in bridge._tasks:
        task.cancel()
    await asyncio.gather(*bridge._tasks, return_exceptions=True)
    for worker in workers:
        await worker.close()
    await bridge._amqp.close()
    await bridge.engine.aclose()


# --------------------------------------------------------------------------------------------------------------
# the side's processes, seen from the measuring process


class Side:
    def __init__(self, procs: list[asyncio.subprocess.Process], worker_ids: list[str], log_path: Path) -> None:
        self.procs, self.worker_ids, self.log_path = procs, worker_ids, log_path
        self._ps = [psutil.Process(p.pid) for p in procs]

    async def wait_ready(self, timeout_s: float) -> None:
        for proc in self.procs:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), timeout_s)
            if line.strip() != b"ready":
                tail = self.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"a worker process did not start:\n{tail}")

    def cpu_s(self) -> float:
        total = 0.0
        for p in self._ps:
            with contextlib.suppress(psutil.NoSuchProcess):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    async def stop(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()


async def start_side(
    args: argparse.Namespace, cfg: Config, run: str, topic: str, tenant: str, amqp_url: str, work: Path
) -> Side:
    out, log_path = work / f"{run}.starts", work / f"{run}.log"
    stderr = open(log_path, "ab")  # noqa: ASYNC230 (a local file: opens at once)
    procs: list[asyncio.subprocess.Process] = []
    worker_ids: list[str] = []
    if cfg.side == "ours":
        worker_ids.append(f"bench-bridge-{run}")
        spec = {
            "amqp_url": amqp_url,
            "tenant": tenant,
            "worker_id": worker_ids[0],
            "topic": topic,
            "workers": cfg.processes,
            "prefetch": cfg.prefetch,
            "out": str(out),
            "log_level": args.log_level,
        }
        cmds = [[sys.executable, __file__, "--ours-child", json.dumps(spec)]]
    else:
        cmds = []
        for i in range(cfg.processes):
            worker_ids.append(f"bench-peer-{run}-{i}")
            cmd = [args.peer_python, str(PEER_WORKER), "--base-url", args.engine_url, "--topic", topic,
                   "--worker-id", worker_ids[-1], "--out", str(out), "--mode", cfg.mode]  # fmt: skip
            if cfg.max_tasks is not None:
                cmd += ["--max-tasks", str(cfg.max_tasks)]
            if cfg.max_concurrent is not None:
                cmd += ["--max-concurrent", str(cfg.max_concurrent)]
            cmds.append(cmd)
    for cmd in cmds:
        procs.append(
            await asyncio.create_subprocess_exec(
                *cmd, cwd=BENCH.parent, stdout=asyncio.subprocess.PIPE, stderr=stderr, start_new_session=True
            )
        )
    stderr.close()
    return Side(procs, worker_ids, log_path)


# --------------------------------------------------------------------------------------------------------------
# the engine


class Engine:
    def __init__(self, http: httpx.AsyncClient, base: str, tenant: str) -> None:
        self.http, self.base, self.tenant = http, base, tenant

    async def deploy(self, name: str, files: dict[str, bytes]) -> str:
        parts = [(n, (n, content, "application/octet-stream")) for n, content in files.items()]
        form = {"deployment-name": name, "tenant-id": self.tenant, "deployment-source": "kep-bench"}
        resp = await self.http.post(f"{self.base}/deployment/create", data=form, files=parts)
        resp.raise_for_status()
        return str(resp.json()["id"])

    async def delete_deployment(self, deployment_id: str) -> None:
        resp = await self.http.delete(f"{self.base}/deployment/{deployment_id}", params={"cascade": "true"})
        if resp.status_code != 404:
            resp.raise_for_status()

    async def delete_tenant_deployments(self) -> None:
        resp = await self.http.get(f"{self.base}/deployment", params={"tenantIdIn": self.tenant})
        for dto in resp.json():
            await self.delete_deployment(dto["id"])

    async def start(self, key: str) -> bool:
        url = f"{self.base}/process-definition/key/{key}/tenant-id/{self.tenant}/start"
        try:
            return (await self.http.post(url, json={})).is_success
        except httpx.HTTPError:
            return False

    async def finished(self, key: str) -> int:
        params = {"processDefinitionKey": key, "finished": "true"}
        return int((await self.http.get(f"{self.base}/history/process-instance/count", params=params)).json()["count"])

    async def wait_finished(self, key: str, n: int, timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s
        while (done := await self.finished(key)) < n and time.monotonic() < deadline:  # noqa: ASYNC110 (the engine tells nobody: ask)
            await asyncio.sleep(0.1)
        return done

    async def history(self, key: str) -> list[tuple[str, float, float | None]]:
        """(instance id, start, end or None) of every instance of `key`, as epoch seconds."""
        params = {"processDefinitionKey": key, "maxResults": "100000"}
        dtos = (await self.http.get(f"{self.base}/history/process-instance", params=params)).json()
        return [(d["id"], _epoch(d["startTime"]), _epoch(d["endTime"]) if d.get("endTime") else None) for d in dtos]

    async def release_parked_polls(self, worker_ids: list[str]) -> None:
        """A stopped worker's long poll stays parked in the engine until it times out, and the engine re-runs
        every parked poll on each new task. With unique-worker-request on, a new poll with the same worker id
        replaces it; ours times out after 1 ms."""
        for worker_id in worker_ids:
            body = {"workerId": worker_id, "maxTasks": 1, "asyncResponseTimeout": 1,
                    "topics": [{"topicName": "bench-none", "lockDuration": 1000}]}  # fmt: skip
            with contextlib.suppress(httpx.HTTPError):
                await self.http.post(f"{self.base}/external-task/fetchAndLock", json=body)


def _epoch(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


async def start_burst(engine: Engine, key: str, n: int, concurrency: int) -> tuple[float, float, int]:
    """Start `n` instances, `concurrency` requests at a time: (first send, seconds to start all, failures)."""
    numbers = iter(range(n))
    failures = 0

    async def client() -> None:
        nonlocal failures
        for _ in numbers:
            failures += not await engine.start(key)

    first = time.time()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return first, time.time() - first, failures


async def start_paced(engine: Engine, key: str, rate: float, seconds: float) -> tuple[int, int]:
    """Start `rate` instances a second for `seconds`, each at its own time: (started, failures)."""
    n = round(rate * seconds)
    t0 = time.monotonic()

    async def one(i: int) -> bool:
        await asyncio.sleep(max(0.0, t0 + i / rate - time.monotonic()))
        return await engine.start(key)

    ok = await asyncio.gather(*(one(i) for i in range(n)))
    return n, n - sum(ok)


# --------------------------------------------------------------------------------------------------------------
# figures


def pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))], 1)


def read_starts(path: Path) -> tuple[dict[str, float], int]:
    """Each instance's first handler start, and how many starts were repeats (redeliveries, re-fetches)."""
    starts: dict[str, float] = {}
    lines = 0
    if path.exists():
        for line in path.read_text().splitlines():
            pi, _, t = line.partition(" ")
            lines += 1
            starts.setdefault(pi, float(t))
    return starts, lines - len(starts)


def latencies_ms(history: list[tuple[str, float, float | None]], starts: dict[str, float]) -> list[float]:
    return [1000 * (starts[pi] - created) for pi, created, _ in history if pi in starts]


def engine_process() -> psutil.Process | None:
    try:
        return psutil.Process(int((StackSettings().run_dir / "engine.pid").read_text().strip()))
    except (OSError, ValueError, psutil.Error):
        return None


def cpu_s(proc: psutil.Process | None) -> float:
    if proc is None:
        return 0.0
    with contextlib.suppress(psutil.Error):
        t = proc.cpu_times()
        return float(t.user + t.system)
    return 0.0


# --------------------------------------------------------------------------------------------------------------
# one run


@dataclass
class Bench:
    args: argparse.Namespace
    engine: Engine
    amqp_url: str
    vhost_url: str  # the vhost in RabbitMQ's management API
    work: Path

    async def wait_for_stack(self, timeout_s: float = 180) -> None:
        """Until the engine and the broker answer: on a shared machine a test may be restarting them."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                http = self.engine.http
                if (await http.get(f"{self.engine.base}/version")).is_success and (
                    await http.get(self.vhost_url)
                ).is_success:
                    return
            await asyncio.sleep(2)
        raise RuntimeError(f"the engine or RabbitMQ did not answer for {timeout_s} s")


async def run_once(b: Bench, name: str, cfg: Config, repeat: int) -> dict[str, Any]:
    args, engine = b.args, b.engine
    run = uuid.uuid4().hex[:8]
    topic = f"bench-noop-{run}"
    keys = {phase: f"bn_{run}_{phase}" for phase in PHASES}
    deployment = await engine.deploy(f"bench-{run}", {f"{k}.bpmn": bpmn(k, topic) for k in keys.values()})
    side = await start_side(args, cfg, run, topic, engine.tenant, b.amqp_url, b.work)
    jvm = engine_process()
    try:
        await side.wait_ready(60)
        await asyncio.sleep(0.5)  # the first long poll reaches the engine
        await start_burst(engine, keys["warm"], WARM_UP, 4)
        await engine.wait_finished(keys["warm"], WARM_UP, args.timeout_s)
        side_cpu, jvm_cpu = side.cpu_s(), cpu_s(jvm)

        first, start_s, burst_failed = await start_burst(engine, keys["burst"], args.instances, args.start_concurrency)
        await engine.wait_finished(keys["burst"], args.instances - burst_failed, args.timeout_s)
        await asyncio.sleep(0.5)
        paced_n, paced_failed = await start_paced(engine, keys["paced"], args.rate, args.paced_s)
        await engine.wait_finished(keys["paced"], paced_n - paced_failed, args.timeout_s)

        side_cpu, jvm_cpu = side.cpu_s() - side_cpu, cpu_s(jvm) - jvm_cpu
    finally:
        await side.stop()
        await engine.release_parked_polls(side.worker_ids)
    starts, repeated = read_starts(b.work / f"{run}.starts")
    burst, paced = await engine.history(keys["burst"]), await engine.history(keys["paced"])
    await engine.delete_deployment(deployment)

    ends = [end for _, _, end in burst if end is not None]
    burst_ms, paced_ms = latencies_ms(burst, starts), latencies_ms(paced, starts)
    tasks = len(ends) + sum(end is not None for _, _, end in paced)
    return {
        "config": name,
        "repeat": repeat,
        "run": run,
        "throughput_per_s": round(len(ends) / (max(ends) - first), 1) if ends else 0.0,
        "burst_finished": len(ends),
        "burst_start_s": round(start_s, 2),
        "burst_s": round(max(ends) - first, 2) if ends else None,
        "burst_p50_ms": pct(burst_ms, 0.5),
        "burst_p99_ms": pct(burst_ms, 0.99),
        "paced_finished": sum(end is not None for _, _, end in paced),
        "paced_p50_ms": pct(paced_ms, 0.5),
        "paced_p99_ms": pct(paced_ms, 0.99),
        "paced_max_ms": pct(paced_ms, 1.0),
        "start_failures": burst_failed + paced_failed,
        "repeated_starts": repeated,
        "side_cpu_ms_per_task": round(1000 * side_cpu / tasks, 2) if tasks else None,
        "engine_cpu_ms_per_task": round(1000 * jvm_cpu / tasks, 2) if tasks and jvm else None,
    }


async def run_with_retries(b: Bench, name: str, repeat: int) -> dict[str, Any] | None:
    """One run, printed; a run that failed (on a shared machine a test may restart the engine or the broker under
    us) is printed as an error and tried again, up to `--retries` times."""
    for attempt in range(1, b.args.retries + 2):
        log(f"repeat {repeat + 1}/{b.args.repeats}: {name} (attempt {attempt}) ...")
        try:
            await b.wait_for_stack()
            result = await run_once(b, name, CONFIGS[name], repeat) | {"attempt": attempt}
        except (OSError, RuntimeError, TimeoutError, httpx.HTTPError) as exc:
            print(json.dumps({"config": name, "repeat": repeat, "attempt": attempt, "error": repr(exc)}), flush=True)
            await asyncio.sleep(5)
            continue
        print(json.dumps(result), flush=True)
        return result
    return None


def summarise(runs: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    figures = ("throughput_per_s", "paced_p50_ms", "paced_p99_ms", "burst_p50_ms", "burst_p99_ms",
               "side_cpu_ms_per_task", "engine_cpu_ms_per_task")  # fmt: skip
    per_config: dict[str, dict[str, Any]] = {}
    for name in names:
        mine = [r for r in runs if r["config"] == name]
        if not mine:
            continue
        per_config[name] = {
            f: round(statistics.median(vals), 1) if (vals := [r[f] for r in mine if r[f] is not None]) else None
            for f in figures
        }
        per_config[name]["runs_throughput"] = [r["throughput_per_s"] for r in mine]
    ratios: dict[str, dict[str, float | None]] = {}
    for ours in (n for n in per_config if CONFIGS[n].side == "ours"):
        for peer in (n for n in per_config if CONFIGS[n].side == "peer"):
            o, p = per_config[ours], per_config[peer]
            ratios[f"{ours}/{peer}"] = {
                f: round(o[f] / p[f], 3) if o[f] is not None and p[f] else None
                for f in ("throughput_per_s", "paced_p50_ms", "paced_p99_ms")
            }
    return {"configs": per_config, "ours_over_peer": ratios}


# --------------------------------------------------------------------------------------------------------------


async def bench(args: argparse.Namespace, names: list[str]) -> None:
    began = time.monotonic()
    env = StackSettings().app_env()
    tenant = f"bench-{uuid.uuid4().hex[:10]}"  # also the RabbitMQ vhost
    mgmt = env["KEP_RABBIT_MGMT_URL"].rstrip("/")
    vhost_url = f"{mgmt}/api/vhosts/{quote(tenant, safe='')}"
    limits = httpx.Limits(max_connections=args.start_concurrency + 8)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        engine = Engine(http, args.engine_url, tenant)
        (await http.put(vhost_url)).raise_for_status()
        try:
            permissions = {"configure": ".*", "write": ".*", "read": ".*"}
            (
                await http.put(f"{mgmt}/api/permissions/{quote(tenant, safe='')}/guest", json=permissions)
            ).raise_for_status()
            version = (await http.get(f"{args.engine_url}/version")).json()["version"]
            meta = {"engine": version, "tenant": tenant, "instances": args.instances, "rate": args.rate,
                    "paced_s": args.paced_s, "repeats": args.repeats, "cpus": os.cpu_count(),
                    "python": sys.version.split()[0], "configs": {n: asdict(CONFIGS[n]) for n in names}}  # fmt: skip
            print(json.dumps({"meta": meta}), flush=True)
            runs: list[dict[str, Any]] = []
            with tempfile.TemporaryDirectory(prefix="bench-bridge-") as work:
                amqp_url = env["KEP_AMQP_URL"].rstrip("/") + "/" + quote(tenant, safe="")
                b = Bench(args, engine, amqp_url, vhost_url, Path(work))
                for repeat in range(args.repeats):
                    for name in names:
                        if result := await run_with_retries(b, name, repeat):
                            runs.append(result)
            summary = summarise(runs, names) | {"wall_s": round(time.monotonic() - began, 1)}
            print(json.dumps({"summary": summary}), flush=True)
        finally:
            with contextlib.suppress(httpx.HTTPError):
                await engine.delete_tenant_deployments()
            with contextlib.suppress(httpx.HTTPError):
                await http.delete(vhost_url)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--instances", type=int, default=300, help="instances in the burst phase")
    ap.add_argument("--start-concurrency", type=int, default=16, help="concurrent start requests in the burst")
    ap.add_argument("--rate", type=float, default=20, help="instances a second in the paced phase")
    ap.add_argument("--paced-s", type=float, default=10, help="seconds of the paced phase")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--configs", default=DEFAULT_CONFIGS, help="comma-separated, in run order (see --list)")
    ap.add_argument("--retries", type=int, default=1, help="tries again a run that failed this many times")
    ap.add_argument("--timeout-s", type=float, default=120, help="longest wait for a phase's instances to end")
    ap.add_argument("--peer-python", default=PEER_PYTHON, help="python of the community client's venv")
    ap.add_argument("--engine-url", default=StackSettings().engine_url)
    ap.add_argument("--log-level", default="WARNING", help="our bridge's and workers' log level")
    ap.add_argument("--list", action="store_true", help="print the configs and exit")
    ap.add_argument("--ours-child", metavar="JSON", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.ours_child:
        spec = json.loads(args.ours_child)
        with open(spec["out"], "a", buffering=1) as out:
            asyncio.run(serve_ours(spec, out))
        return
    if args.list:
        for name, cfg in CONFIGS.items():
            print(json.dumps({"config": name} | asdict(cfg)))
        return
    names = [n for n in args.configs.split(",") if n]
    if unknown := [n for n in names if n not in CONFIGS]:
        ap.error(f"unknown configs {unknown}; see --list")
    if any(CONFIGS[n].side == "peer" for n in names) and not Path(args.peer_python).exists():
        ap.error(f"{args.peer_python} not found: make the peer venv (see the docstring)")
    asyncio.run(bench(args, names))


if __name__ == "__main__":
    main()

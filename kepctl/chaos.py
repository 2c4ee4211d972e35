"""The chaos run: a steady load of cases through their process while, on a fixed seed, the dependencies restart and
pause, PostgreSQL's standby takes over from its primary (a switchover), and the actors die, some at the named
dangerous points; then, once quiet, proof from PostgreSQL and the engine that every accepted case is where its
process leaves it, none lost, none twice.

Each case is opened online for a procedure with one evidence, so its process assigns it and then suspends it for
its documents: `suspended`, with an assignee, `case.assigned` and `case.suspended` by the process exactly once, one
process instance ever, no incident; and the reconciler finds no drift. The table has a row per fault: the cases
opened while it lasted (in flight), how many reached that state (recovered), how many did not (stuck), how many
were worked twice (duplicated), and the seconds from the fault's end (the dependency back) to the first case the
process moved after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import statistics
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import asyncpg
import httpx
import psutil
import ray
import structlog

from actors.cases.shards import shard_name
from actors.outbox import OUTBOX_RELAY
from actors.ray_options import call_actor
from autoscaler.actor import AUTOSCALER_ACTOR
from bpmn_bridge.bridge import BRIDGE_ACTOR
from bpmn_bridge.engine import EngineClient
from bpmn_bridge.reconciler import RECONCILER_ACTOR
from kepctl.services import Postgres, Service

log = structlog.get_logger("chaos")

FaultKind = Literal["restart", "pause", "kill", "crash", "switchover"]
SERVICES = ("rabbitmq", "postgres", "redis", "minio", "engine", "keycloak")
ACTORS = ("bridge", "case-shard", "outbox-relay", "autoscaler", "serve-replica")
# the dangerous points the actors can be armed to die at
CRASH_POINTS = (
    "case-shard:after_commit",
    "case-shard:before_commit",
    "outbox-relay:after_publish",
    "bridge:after_start",  # the engine started the instance; the case's event is not acknowledged
    "bridge:after_fetch",  # tasks locked in the engine, not yet handed to the workers
)
PROCESS_ACTOR = "bpmn:kep_case"
EXPECTED_STATUS = "suspended"


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    target: str
    seconds: float = 0.0  # how long a restarted service stays down, or a paused one stopped

    def __str__(self) -> str:
        return f"{self.kind} {self.target}" + (f" {self.seconds:.0f}s" if self.seconds else "")


def plan(seed: int, profile: Literal["short", "long"]) -> list[Fault]:
    """The faults of a run, in order; the same seed gives the same run."""
    rng = random.Random(seed)  # noqa: S311 (a reproducible plan, not a secret)
    if profile == "short":  # about three minutes: one of each kind, where the known faults were
        return [
            Fault("restart", "rabbitmq", 30.0),
            Fault("restart", "postgres", rng.uniform(0, 5)),
            Fault("kill", "bridge"),
            Fault("crash", "bridge:after_start"),
            Fault("crash", "outbox-relay:after_publish"),
            Fault("crash", "case-shard:after_commit"),
            Fault("pause", "engine", 20.0),
            Fault("switchover", "postgres"),
        ]
    faults = [Fault("restart", s, rng.uniform(0, 30)) for s in SERVICES]
    faults += [Fault("switchover", "postgres") for _ in range(2)]
    faults += [Fault("pause", s, rng.uniform(20, 60)) for s in SERVICES]
    faults += [Fault("kill", a) for a in ACTORS for _ in range(2)]
    faults += [Fault("crash", p) for p in CRASH_POINTS]
    rng.shuffle(faults)
    return faults


@dataclass
class Target:
    """The running system, as the chaos run reaches it."""

    http: httpx.AsyncClient  # the API's base URL
    headers: Callable[[], Awaitable[dict[str, str]]]  # an employee of `office_id` (fresh when it runs out)
    office_id: uuid.UUID
    procedure_id: uuid.UUID  # with the case process and one evidence
    database_url: str
    engine: EngineClient
    namespace: str
    services: Mapping[str, Service]
    shards: int = 2  # the case shards (KEP_CASE_SHARDS)


@dataclass
class Window:
    fault: Fault
    started: datetime
    ended: datetime | None = None
    error: str | None = None


@dataclass
class Load:
    """The cases opened, when, and every answer by status."""

    opened: list[tuple[uuid.UUID, datetime]] = field(default_factory=list)
    answers: Counter[int | str] = field(default_factory=Counter)


@dataclass(frozen=True)
class CaseCheck:
    case_id: uuid.UUID
    opened_at: datetime
    present: bool  # its row is in PostgreSQL (it was accepted: answered 201)
    worked: bool  # where the process leaves it
    duplicated: bool  # an effect twice, or a second instance
    incidents: int


@dataclass(frozen=True)
class FaultRow:
    fault: str
    in_flight: int
    recovered: int
    stuck: int
    duplicated: int
    recovery_s: float | None
    error: str | None


HOSTILE_BODY_BYTES = 200 * 1024 * 1024
HOSTILE_GROWTH_MAX_BYTES = 64 * 1024 * 1024  # what the replica's peak memory may gain from it


@dataclass(frozen=True)
class Probe:
    """An unauthenticated 200 MB body sent to the API (the fault run found one took the replica to 1.09 GiB)."""

    answer: str  # the status, or the client's error where the server closed the connection on a refused body
    peak_growth_bytes: int  # of the Serve replica's resident memory (VmHWM)

    @property
    def ok(self) -> bool:
        return self.answer in ("401", "413", "WriteError", "RemoteProtocolError") and (
            self.peak_growth_bytes < HOSTILE_GROWTH_MAX_BYTES
        )

    def __str__(self) -> str:
        return f"oversized body (200 MB, no token): {self.answer}, replica peak +{self.peak_growth_bytes >> 20} MiB"


@dataclass(frozen=True)
class Report:
    seed: int
    faults: list[FaultRow]
    accepted: int
    lost: int
    stuck: int
    duplicated: int
    incidents: int
    drifts: int
    answers: dict[str, int]
    recovery_p50_s: float | None
    recovery_p95_s: float | None
    oversized_body: Probe | None = None

    @property
    def ok(self) -> bool:
        failed = self.lost or self.stuck or self.duplicated or self.incidents or self.drifts
        probe_failed = self.oversized_body is not None and not self.oversized_body.ok
        return not failed and not probe_failed and not self.answers.get("500")

    def table(self) -> str:
        head = f"{'fault':<36} {'in flight':>9} {'recovered':>9} {'stuck':>5} {'duplicated':>10} {'recovery s':>10}"
        lines = [head, "-" * len(head)]
        for r in self.faults:
            recovery = "-" if r.recovery_s is None else f"{r.recovery_s:.1f}"
            lines.append(
                f"{r.fault:<36} {r.in_flight:>9} {r.recovered:>9} {r.stuck:>5} {r.duplicated:>10} {recovery:>10}"
                + (f"  ({r.error})" if r.error else "")
            )
        p50 = "-" if self.recovery_p50_s is None else f"{self.recovery_p50_s:.1f}"
        p95 = "-" if self.recovery_p95_s is None else f"{self.recovery_p95_s:.1f}"
        lines += [
            "",
            f"seed {self.seed}: {self.accepted} cases accepted, {self.lost} lost, {self.stuck} stuck, "
            f"{self.duplicated} duplicated, {self.incidents} incidents, {self.drifts} drifts; "
            f"recovery p50 {p50} s, p95 {p95} s",
            "answers: " + ", ".join(f"{k}: {v}" for k, v in sorted(self.answers.items())),
        ]
        if self.oversized_body is not None:
            lines.append(str(self.oversized_body))
        return "\n".join(lines)


# injecting faults


def _processes(service: Service) -> list[psutil.Process]:
    pid = service.pid()
    if pid is None:
        return []
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def _signal_all(processes: Sequence[psutil.Process], sig: signal.Signals) -> None:
    for p in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            os.kill(p.pid, sig)


async def _restart(service: Service, down_s: float) -> None:
    await asyncio.to_thread(service.stop)
    await asyncio.sleep(down_s)
    await asyncio.to_thread(service.start)


@contextlib.contextmanager
def paused(service: Service) -> Iterator[None]:
    """The service and its children stopped (SIGSTOP): alive, holding its sockets, answering nothing."""
    processes = _processes(service)
    _signal_all(processes, signal.SIGSTOP)
    try:
        yield
    finally:
        _signal_all(processes, signal.SIGCONT)


async def _pause(service: Service, seconds: float) -> None:
    with paused(service):
        await asyncio.sleep(seconds)


def peak_rss(pid: int) -> int:
    """The process's high-water mark of resident memory (bytes): a body held for an instant still shows."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise LookupError("VmHWM")


def serve_replica_pid() -> int:
    """The process of the (first) Serve replica of the HTTP app, in the Ray cluster this process is connected to."""
    return int(ray.get(_serve_replica().__ray_call__.remote(lambda _: os.getpid())))


async def _oversized_body(target: Target) -> Probe:
    """Streamed from a generator, so the probe itself holds none of it; the guard should answer 401 on the
    headers, before a byte is read."""
    pid = await asyncio.to_thread(serve_replica_pid)
    before = peak_rss(pid)

    async def megabytes() -> AsyncIterator[bytes]:
        chunk = b"a" * (1024 * 1024)
        for _ in range(HOSTILE_BODY_BYTES // len(chunk)):
            yield chunk

    headers = {"content-type": "application/json", "content-length": str(HOSTILE_BODY_BYTES)}
    try:
        answer = str(
            (await target.http.post("/api/cases", content=megabytes(), headers=headers, timeout=60)).status_code
        )
    except httpx.HTTPError as exc:
        answer = type(exc).__name__
    return Probe(answer, peak_rss(pid) - before)


def _actor(name: str, namespace: str) -> Any:
    return ray.get_actor(name, namespace=namespace)


def _serve_replica() -> Any:
    replicas = [a for a in ray.util.list_named_actors(all_namespaces=True) if "KepIngress" in a["name"]]
    if not replicas:
        raise LookupError("no Serve replica of KepIngress")
    return ray.get_actor(replicas[0]["name"], namespace=replicas[0]["namespace"])


async def _kill(actor: str, target: Target, rng: random.Random) -> None:
    names = {
        "bridge": BRIDGE_ACTOR,
        "case-shard": shard_name(rng.randrange(target.shards)),
        "outbox-relay": OUTBOX_RELAY,
        "autoscaler": AUTOSCALER_ACTOR,
    }
    if actor == "serve-replica":
        handle = await asyncio.to_thread(_serve_replica)
    else:
        handle = await asyncio.to_thread(_actor, names[actor], target.namespace)
    ray.kill(handle, no_restart=False)


async def _crash(point: str, target: Target) -> None:
    """Arm the actor to die at the point; the load passes through it soon after."""
    actor, when = point.split(":")
    namespace = target.namespace
    if actor == "case-shard":
        for i in range(target.shards):  # whichever shard the next case lands on
            shard = await asyncio.to_thread(_actor, shard_name(i), namespace)
            await call_actor(shard.arm_crash.remote(when))
    elif actor == "bridge":
        bridge = await asyncio.to_thread(_actor, BRIDGE_ACTOR, namespace)
        await call_actor(bridge.arm_crash.remote(when))
    else:
        relay = await asyncio.to_thread(_actor, OUTBOX_RELAY, namespace)
        await call_actor(relay.arm_crash_after_publish.remote())
    await asyncio.sleep(5)  # long enough for a few cases to pass the armed point


async def _switchover(service: Service) -> None:
    """The standby promoted, the primary made its standby (kepctl/services.py, `Postgres.switchover`)."""
    if not isinstance(service, Postgres):
        raise TypeError(f"{service.name} has no standby to switch over to")
    await asyncio.to_thread(service.switchover)


async def inject(fault: Fault, target: Target, rng: random.Random) -> None:
    if fault.kind == "switchover":
        await _switchover(target.services[fault.target])
    elif fault.kind == "restart":
        await _restart(target.services[fault.target], fault.seconds)
    elif fault.kind == "pause":
        await _pause(target.services[fault.target], fault.seconds)
    elif fault.kind == "kill":
        await _kill(fault.target, target, rng)
    else:
        await _crash(fault.target, target)


# the load


async def _open_cases(target: Target, rate_per_s: float, load: Load, stop: asyncio.Event) -> None:
    """Open cases at a steady rate, each request on its own (a slow answer does not slow the rate)."""
    pending: set[asyncio.Task[None]] = set()

    async def one() -> None:
        body = {
            "procedure_id": str(target.procedure_id),
            "channel": "online",
            "citizen": {"afm": "090000045", "first_name": "Ελένη", "last_name": "Δοκιμή"},
            "form_data": {"purpose": "Υποβολή σε τράπεζα"},
        }
        try:
            headers = await target.headers()
        except Exception as exc:  # no token now (Keycloak away): the client could not even ask
            load.answers[f"no token ({type(exc).__name__})"] += 1
            return
        try:
            resp = await target.http.post("/api/cases", json=body, headers=headers, timeout=30)
        except httpx.HTTPError as exc:
            load.answers[type(exc).__name__] += 1
            return
        load.answers[resp.status_code] += 1
        if resp.status_code == 201:
            load.opened.append((uuid.UUID(resp.json()["id"]), datetime.now(UTC)))

    while not stop.is_set():
        task = asyncio.create_task(one())
        pending.add(task)
        task.add_done_callback(pending.discard)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1 / rate_per_s)
    if pending:
        await asyncio.wait(pending)


# the checks


@dataclass(frozen=True)
class _Rows:
    """What PostgreSQL says of the run's cases."""

    cases: dict[uuid.UUID, asyncpg.Record]
    effects: dict[uuid.UUID, set[str]]  # the process's changes to each case
    twice: set[uuid.UUID]  # cases with one of those changes recorded more than once

    def worked(self, case_id: uuid.UUID) -> bool:
        row = self.cases.get(case_id)
        return (
            row is not None
            and row["status"] == EXPECTED_STATUS
            and row["assignee"] is not None
            and {"case.assigned", "case.suspended"} <= self.effects.get(case_id, set())
        )


async def _rows(database_url: str, ids: list[uuid.UUID]) -> _Rows:
    conn = await asyncpg.connect(database_url)
    try:
        cases = await conn.fetch("SELECT id, status, assignee FROM cases WHERE id = ANY($1::uuid[])", ids)
        effects = await conn.fetch(
            """SELECT case_id, type, count(*) AS n FROM case_events
               WHERE case_id = ANY($1::uuid[]) AND actor = $2 GROUP BY case_id, type""",
            ids,
            PROCESS_ACTOR,
        )
    finally:
        await conn.close()
    done: dict[uuid.UUID, set[str]] = {}
    for r in effects:
        done.setdefault(r["case_id"], set()).add(r["type"])
    return _Rows({r["id"]: r for r in cases}, done, {r["case_id"] for r in effects if r["n"] > 1})


async def _quiet(target: Target, ids: list[uuid.UUID], within_s: float) -> None:
    """Until every case is where its process leaves it, or the time is up (the checks then say which are not)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        rows = await _rows(target.database_url, ids)
        if all(rows.worked(c) for c in ids):
            return
        await asyncio.sleep(5)


async def _check_cases(target: Target, opened: Sequence[tuple[uuid.UUID, datetime]]) -> list[CaseCheck]:
    ids = [c for c, _ in opened]
    rows = await _rows(target.database_url, ids)
    gate = asyncio.Semaphore(8)

    async def instances(case_id: uuid.UUID) -> tuple[int, int]:
        async with gate:
            history = await target.engine.historic_process_instances(business_key=str(case_id))
            incidents = [i for h in history for i in await target.engine.incidents(h.id)]
            return len(history), len(incidents)

    counts = await asyncio.gather(*(instances(c) for c in ids))
    return [
        CaseCheck(case_id, at, case_id in rows.cases, rows.worked(case_id), case_id in rows.twice or n > 1, incidents)
        for (case_id, at), (n, incidents) in zip(opened, counts, strict=True)
    ]


async def _first_move_after(target: Target, after: datetime) -> datetime | None:
    conn = await asyncpg.connect(target.database_url)
    try:
        moved: datetime | None = await conn.fetchval(
            "SELECT min(at) FROM case_events WHERE office_id = $1 AND actor = $2 AND at > $3",
            target.office_id,
            PROCESS_ACTOR,
            after,
        )
        return moved
    finally:
        await conn.close()


async def _drifts(target: Target, cases: set[str]) -> int:
    """What the reconciler finds wrong with the run's cases (it only reports here; repairs are its own business)."""
    reconciler = await asyncio.to_thread(_actor, RECONCILER_ACTOR, target.namespace)
    report = await call_actor(reconciler.run.remote(False))
    mine = [d for d in report["drifts"] if d.get("case_id") in cases]
    for d in mine:
        log.warning("chaos_drift", **d)
    return len(mine)


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


async def run(
    target: Target,
    faults: Sequence[Fault],
    *,
    seed: int,
    rate_per_s: float = 2.0,
    gap_s: float = 15.0,
    quiet_within_s: float = 300.0,
    say: Callable[[str], None] = print,
) -> Report:
    """Load, faults one after another with `gap_s` of calm between them, then the wait for quiet and the checks."""
    rng = random.Random(seed)  # noqa: S311 (a reproducible plan, not a secret)
    load, stop = Load(), asyncio.Event()
    loader = asyncio.create_task(_open_cases(target, rate_per_s, load, stop))
    windows: list[Window] = []
    try:
        await asyncio.sleep(gap_s)
        probe = await _oversized_body(target)
        say(f"{datetime.now(UTC):%H:%M:%S} {probe}")
        for fault in faults:
            window = Window(fault, datetime.now(UTC))
            say(f"{window.started:%H:%M:%S} {fault}")
            try:
                await inject(fault, target, rng)
            except Exception as exc:  # a fault that could not be made is reported, not a reason to stop
                window.error = f"{type(exc).__name__}: {exc}"[:120]
            window.ended = datetime.now(UTC)
            windows.append(window)
            await asyncio.sleep(gap_s)
    finally:
        stop.set()
        await loader
    say(f"{datetime.now(UTC):%H:%M:%S} load stopped: {len(load.opened)} cases accepted; waiting for quiet")

    await _quiet(target, [c for c, _ in load.opened], quiet_within_s)
    checks = await _check_cases(target, load.opened)

    rows, recoveries = [], []
    for w in windows:
        assert w.ended is not None
        mine = [c for c in checks if w.started <= c.opened_at <= w.ended]
        moved = await _first_move_after(target, w.ended)
        recovery = (moved - w.ended).total_seconds() if moved else None
        if recovery is not None:
            recoveries.append(recovery)
        rows.append(
            FaultRow(
                str(w.fault),
                len(mine),
                sum(c.worked for c in mine),
                sum(not c.worked for c in mine),
                sum(c.duplicated for c in mine),
                recovery,
                w.error,
            )
        )
    return Report(
        seed=seed,
        faults=rows,
        accepted=len(load.opened),
        lost=sum(not c.present for c in checks),
        stuck=sum(c.present and not c.worked for c in checks),
        duplicated=sum(c.duplicated for c in checks),
        incidents=sum(c.incidents for c in checks),
        drifts=await _drifts(target, {str(c.case_id) for c in checks}),
        answers={str(k): v for k, v in load.answers.items()},
        recovery_p50_s=_percentile(recoveries, 50),
        recovery_p95_s=_percentile(recoveries, 95),
        oversized_body=probe,
    )

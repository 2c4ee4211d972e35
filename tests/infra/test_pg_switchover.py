"""A PostgreSQL switchover while cases flow (issue 19, point 4): a primary and its streaming standby of this test's
own (Debian's binaries, temporary folders, free ports; never the stack's server), the schema migrated through the
pair's multi-host DSN, then workers opening cases and applying a keyed command to each through the case store
(`actors/cases/store.py`: `open_case`, `apply_command`) on a pool from `infra.db.create_pool`, retried by the one
policy (`infra.retry`) on what `infra.faults` calls transient, as the case shards' callers do. Mid-flow the primary
is stopped and the standby promoted, in CloudNativePG's order for a switchover; the flow goes on, on the new primary.

Then what the fault run checks, from the new primary: every acknowledged case exists, opened once; every
acknowledged command applied once; no case stuck between its two steps; each case's audit events and outbox events
one for one. (`kepctl/chaos.py`'s own checks read what the process and the engine did to each case; there is no
process here, so they are written for the store's tables.)"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest

from actors.cases.store import apply_command, open_case
from infra import faults
from infra.db import INTERACTIVE, create_pool
from infra.migrate import migrate
from infra.retry import Backoff, retrying
from kepctl.services import _pg_bin
from messages.cases import CaseAction, CaseCommand, OpenCase, OpenCaseRequest
from messages.citizen import Citizen
from tests.helpers import free_port

WORKERS = 6
BEFORE = 40  # cases acknowledged before the switchover
AFTER = 40  # and after it
# a case command waits out the switchover (seconds without a primary) rather than fail
THROUGH_SWITCHOVER = Backoff(initial_s=0.1, max_s=1.0, jitter_s=0.2, attempts=None, within_s=60)


@dataclass
class Pair:
    base: Path
    ports: tuple[int, int]
    dirs: tuple[Path, Path] = field(init=False)

    def __post_init__(self) -> None:
        self.dirs = (self.base / "primary", self.base / "standby")

    def run(self, *argv: str) -> None:
        # PostgreSQL refuses to run as root: as Debian's `postgres` user then, as kepctl/services.py does
        cmd = [str(_pg_bin() / argv[0]), *argv[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, timeout=120)

    def start(self, i: int) -> None:
        opts = (
            f"-p {self.ports[i]} -k {self.base} -c listen_addresses=127.0.0.1 -c max_connections=60 "
            "-c shared_buffers=16MB -c fsync=off"  # a clean stop, never a crash: fsync buys nothing here
        )
        self.run("pg_ctl", "-D", str(self.dirs[i]), "-l", str(self.base / f"{i}.log"), "-o", opts, "-w", "start")

    def dsn(self, *which: int) -> str:
        hosts = ",".join(f"127.0.0.1:{self.ports[i]}" for i in which)
        return f"postgresql://kep@{hosts}/kep" + ("?target_session_attrs=read-write" if len(which) > 1 else "")


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    """The primary initialised and migrated through the pair's DSN (only the primary up yet), then its standby
    cloned from it (`pg_basebackup -R`: streaming, and the primary's address in its settings) and started."""
    base = Path(tempfile.mkdtemp(prefix="kep-pg-switchover-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(base, owner.pw_uid, owner.pw_gid)
    p = Pair(base, (free_port(), free_port()))
    try:
        # trust on loopback: servers of this test alone, on free ports, gone with it
        p.run("initdb", "-D", str(p.dirs[0]), "-U", "kep", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
        p.start(0)
        p.run("createdb", "-h", "127.0.0.1", "-p", str(p.ports[0]), "-U", "kep", "kep")
        migrate(p.dsn(0, 1))
        p.run(
            "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            str(p.ports[0]),
            "-U",
            "kep",
            "-D",
            str(p.dirs[1]),
            "-R",
            "-c",
            "fast",
        )
        p.start(1)
        yield p
    finally:
        for d in p.dirs:
            if (d / "postmaster.pid").exists():
                subprocess.run(
                    ["runuser", "-u", "postgres", "--", str(_pg_bin() / "pg_ctl"), "-D", str(d), "-m", "immediate",
                     "stop"] if os.geteuid() == 0 else [str(_pg_bin() / "pg_ctl"), "-D", str(d), "-m", "immediate",
                     "stop"],
                    check=False,
                    stdout=subprocess.DEVNULL,
                )  # fmt: skip
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
async def pair_pool(pair: Pair) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(pair.dsn(0, 1), 2, WORKERS, limits=INTERACTIVE)
    yield p
    await p.close()


async def _streaming(primary: str) -> None:
    """Until the standby streams from the primary and has replayed all it was sent."""
    conn = await asyncpg.connect(primary)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if await conn.fetchval(
                "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND replay_lsn = sent_lsn"
            ):
                return
            await asyncio.sleep(0.2)
        raise AssertionError("the standby never caught up")
    finally:
        await conn.close()


@dataclass
class Flow:
    office_id: uuid.UUID
    procedure_id: uuid.UUID
    opened: list[uuid.UUID] = field(default_factory=list)  # acknowledged: open_case returned
    noted: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)  # case -> its acknowledged command
    retries: int = 0
    errors: list[str] = field(default_factory=list)

    def count_retry(self) -> None:
        self.retries += 1


async def _worker(pool: asyncpg.Pool, flow: Flow, stop: asyncio.Event) -> None:
    """Open a case, then note on it, each step retried with the same keys until it is acknowledged: a connection
    lost in COMMIT leaves the caller not knowing, and the keyed command makes asking again safe."""
    while not stop.is_set():
        case_id = uuid.uuid4()
        cmd = OpenCase(
            case_id=case_id,
            office_id=flow.office_id,
            actor="switchover-test",
            request=OpenCaseRequest(
                procedure_id=flow.procedure_id,
                citizen=Citizen(afm="090000045", first_name="Ελένη", last_name="Δοκιμή"),
            ),
        )
        note = CaseCommand(command_id=uuid.uuid4(), case_id=case_id, office_id=flow.office_id,
                           actor="switchover-test", roles=frozenset({"employee"}), action=CaseAction.NOTE,
                           reason="κατά τη μετάπτωση")  # fmt: skip
        try:
            async for attempt in retrying(THROUGH_SWITCHOVER, on_retry=flow.count_retry):
                with attempt:
                    async with pool.acquire() as conn:
                        await open_case(conn=conn, cmd=cmd)
            flow.opened.append(case_id)
            async for attempt in retrying(THROUGH_SWITCHOVER, on_retry=flow.count_retry):
                with attempt:
                    async with pool.acquire() as conn:
                        await apply_command(conn=conn, cmd=note)
            flow.noted[case_id] = note.command_id
        except Exception as exc:  # a permanent error, or one past the minute: the checks say what it left
            flow.errors.append(f"{type(exc).__name__}: {exc} (transient: {faults.is_transient(exc)})")
            return


async def _until(flow: Flow, n: int, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while len(flow.noted) < n:
        assert not flow.errors, flow.errors
        assert time.monotonic() < deadline, f"{len(flow.noted)} of {n} cases in {within_s} s"
        await asyncio.sleep(0.05)


async def test_cases_flow_through_a_switchover(pair: Pair, pair_pool: asyncpg.Pool) -> None:
    office_id, procedure_id = uuid.uuid4(), uuid.uuid4()
    await pair_pool.execute(
        "INSERT INTO offices (id, code, kind, name_el) VALUES ($1, 'T-SWITCH', 'kep', 'Γραφείο μετάπτωσης')", office_id
    )
    await pair_pool.execute(
        """INSERT INTO procedures (id, mitos_id, title_el, payload, active, duration_days)
           VALUES ($1, '424242', 'Έκδοση πιστοποιητικού', '{"id": "424242"}', true, 10)""",
        procedure_id,
    )
    assert await pair_pool.fetchval("SELECT inet_server_port()") == pair.ports[0]
    await _streaming(pair.dsn(0))

    flow, stop = Flow(office_id, procedure_id), asyncio.Event()
    workers = [asyncio.create_task(_worker(pair_pool, flow, stop)) for _ in range(WORKERS)]
    try:
        await _until(flow, BEFORE, 60)
        # the switchover: the primary stops (`fast`: its sessions end, in-flight transactions roll back, and its
        # WAL up to the shutdown checkpoint is streamed to the standby before it exits), then the standby is
        # promoted. The other order is two primaries for a while, and whatever the first took then would be lost.
        await asyncio.to_thread(pair.run, "pg_ctl", "-D", str(pair.dirs[0]), "-m", "fast", "-w", "stop")
        at_switch = len(flow.noted)
        await asyncio.sleep(1)  # cases keep coming meanwhile, and wait: there is no primary
        await asyncio.to_thread(pair.run, "pg_ctl", "-D", str(pair.dirs[1]), "-w", "promote")
        await _until(flow, at_switch + AFTER, 90)
    finally:
        stop.set()
        await asyncio.gather(*workers)
    assert not flow.errors, flow.errors
    print(f"switchover: {len(flow.opened)} opened, {len(flow.noted)} noted, {at_switch} before, {flow.retries} retries")
    assert flow.retries > 0, "the switchover went unnoticed: nothing was in flight"
    assert await pair_pool.fetchval("SELECT inet_server_port()") == pair.ports[1]

    new_primary = await asyncpg.connect(pair.dsn(1))
    try:
        cases = await new_primary.fetch("SELECT id FROM cases WHERE office_id = $1", office_id)
        events = await new_primary.fetch(
            """SELECT case_id, type, command_id, count(*) OVER (PARTITION BY case_id, type) AS n
               FROM case_events WHERE office_id = $1""",
            office_id,
        )
        outbox = await new_primary.fetch(
            """SELECT (envelope->'data'->>'case_id')::uuid AS case_id, count(*) AS n FROM outbox
               WHERE envelope->'data'->>'office_id' = $1 GROUP BY 1""",
            str(office_id),
        )
    finally:
        await new_primary.close()

    stored = {r["id"] for r in cases}
    lost = set(flow.opened) - stored
    assert not lost, f"{len(lost)} acknowledged cases lost"
    # a case opened but never acknowledged (its caller gave up) would be here and not in `opened`: none gave up
    assert stored == set(flow.opened)
    per_case: dict[uuid.UUID, dict[str, int]] = {}
    commands: dict[uuid.UUID, uuid.UUID] = {}
    for r in events:
        per_case.setdefault(r["case_id"], {})[r["type"]] = r["n"]
        if r["command_id"] is not None:
            commands[r["case_id"]] = r["command_id"]
    twice = {c for c, types in per_case.items() if any(n > 1 for n in types.values())}
    assert not twice, f"{len(twice)} cases with an event twice: {[per_case[c] for c in twice][:3]}"
    stuck = set(flow.opened) - set(flow.noted)
    assert not stuck, f"{len(stuck)} cases opened and never noted"
    assert commands == flow.noted, "an acknowledged command missing, or another in its place"
    in_outbox = {r["case_id"]: r["n"] for r in outbox}
    assert in_outbox == {c: sum(types.values()) for c, types in per_case.items()}, "audit and outbox disagree"
    assert len(stored) >= BEFORE + AFTER

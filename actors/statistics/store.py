"""The statistics tables: applying one event (the consumer), rebuilding them from case_events (one pass), and the
reports (reads of the aggregates only, never of the cases). The only reader and writer of the `stat_*` tables."""

from __future__ import annotations

import csv
import io
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel

from actors.cases.store import _TAKEN_BY_OPENER  # who holds a case opened at the counter or by phone
from actors.statistics.rules import OPEN, CaseStat, Delta, Seen, step
from infra.db import Conn, create_pool
from messages.cases import CaseChanged, CaseOpened, CaseStatus
from messages.statistics import (
    BacklogRow,
    ComplianceRow,
    Period,
    StatusTimeRow,
    VolumeRow,
    WorkloadRow,
)

AGGREGATES = ("stat_cases", "stat_volumes", "stat_status_time", "stat_compliance", "stat_backlog", "stat_workload")


def seen(data: CaseOpened | CaseChanged, at: datetime) -> Seen:
    if isinstance(data, CaseOpened):
        taken = data.opened_by if data.channel in _TAKEN_BY_OPENER else None
        return Seen(
            data.case_id,
            data.office_id,
            data.procedure_id,
            True,
            data.status.value,
            taken,
            data.due_at,
            1,
            at,
            data.channel.value,
        )
    return Seen(
        data.case_id,
        data.office_id,
        data.procedure_id,
        False,
        data.status.value,
        data.assignee,
        data.due_at,
        data.version,
        at,
        data.channel.value if data.channel else None,
    )


async def apply(*, conn: Conn, event_id: uuid.UUID, ev: Seen) -> bool:
    """Apply one case event in one transaction with its id; False when that id was applied before."""
    async with conn.transaction():
        first = await conn.fetchval(
            "INSERT INTO stat_applied (event_id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING true", event_id
        )
        if not first:
            return False
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(($1::uuid)::text, 19))", ev.case_id)
        row = await conn.fetchrow("SELECT * FROM stat_cases WHERE case_id = $1", ev.case_id)
        state = CaseStat(**dict(row)) if row else None
        duration = None
        if ev.status == CaseStatus.COMPLETED.value:
            duration = await conn.fetchval("SELECT duration_days FROM procedures WHERE id = $1", ev.procedure_id)
        new, delta = step(state, ev, duration)
        if new is None:
            return True
        await conn.execute(
            """INSERT INTO stat_cases (case_id, office_id, procedure_id, channel, status, since, assignee, due_at,
                                       opened_at, version)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
               ON CONFLICT (case_id) DO UPDATE SET status = $5, since = $6, assignee = $7, due_at = $8,
                                                   version = $10""",
            *_state_record(new),
        )
        await _add(conn, delta)
    return True


def _state_record(s: CaseStat) -> tuple[Any, ...]:
    return (s.case_id, s.office_id, s.procedure_id, s.channel, s.status, s.since, s.assignee, s.due_at,
            s.opened_at, s.version)  # fmt: skip


async def _add(conn: Conn, d: Delta) -> None:
    if d.volumes:
        await conn.executemany(
            """INSERT INTO stat_volumes AS v (office_id, day, procedure_id, channel, opened, completed, rejected)
               VALUES ($1, $2, $3, $4, $5, $6, $7)
               ON CONFLICT (office_id, day, procedure_id, channel) DO UPDATE
               SET opened = v.opened + $5, completed = v.completed + $6, rejected = v.rejected + $7""",
            [(*k, *n) for k, n in d.volumes],
        )
    if d.status_time:
        await conn.executemany(
            """INSERT INTO stat_status_time AS t (office_id, day, procedure_id, status, stays, seconds, max_seconds)
               VALUES ($1, $2, $3, $4, 1, $5, $5)
               ON CONFLICT (office_id, day, procedure_id, status) DO UPDATE
               SET stays = t.stays + 1, seconds = t.seconds + $5, max_seconds = greatest(t.max_seconds, $5)""",
            [(*k, s) for k, s in d.status_time],
        )
    if d.compliance:
        await conn.executemany(
            """INSERT INTO stat_compliance AS c (office_id, day, procedure_id, on_time, late, late_days,
                                                 max_late_days, no_deadline)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
               ON CONFLICT (office_id, day, procedure_id) DO UPDATE
               SET on_time = c.on_time + $4, late = c.late + $5, late_days = c.late_days + $6,
                   max_late_days = greatest(c.max_late_days, $7), no_deadline = c.no_deadline + $8""",
            [(*k, on, late, days, days, none) for k, (on, late, days, none) in d.compliance],
        )
    for table, changes in (("stat_backlog", d.backlog), ("stat_workload", d.workload)):
        column = "status" if table == "stat_backlog" else "assignee"
        if changes:
            await conn.executemany(
                f"""INSERT INTO {table} AS b (office_id, {column}, cases) VALUES ($1, $2, $3)
                    ON CONFLICT (office_id, {column}) DO UPDATE SET cases = b.cases + $3""",  # noqa: S608
                [(*k, n) for k, n in changes],
            )


# -- rebuild -------------------------------------------------------------------------------------------------------

_HISTORY = """
    SELECT e.case_id, e.office_id, e.type, e.new, e.at, c.procedure_id, c.channel, p.duration_days
    FROM case_events e JOIN cases c ON c.id = e.case_id JOIN procedures p ON p.id = c.procedure_id
    WHERE e.type = 'case.opened' OR e.old IS NOT NULL
    ORDER BY e.case_id, e.id"""


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


class _Totals:
    def __init__(self) -> None:
        self.volumes: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0, 0])
        self.status_time: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
        self.compliance: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
        self.backlog: dict[tuple[Any, ...], int] = defaultdict(int)
        self.workload: dict[tuple[Any, ...], int] = defaultdict(int)

    def add(self, d: Delta) -> None:
        for k, n in d.volumes:
            v = self.volumes[k]
            v[0], v[1], v[2] = v[0] + n[0], v[1] + n[1], v[2] + n[2]
        for k, s in d.status_time:
            t = self.status_time[k]
            t[0], t[1], t[2] = t[0] + 1, t[1] + s, max(t[2], s)
        for cell, (on, late, days, none) in d.compliance:
            c = self.compliance[cell]
            c[0], c[1], c[2], c[3], c[4] = c[0] + on, c[1] + late, c[2] + days, max(c[3], days), c[4] + none
        for status_key, count in d.backlog:
            self.backlog[status_key] += count
        for person, count in d.workload:
            self.workload[person] += count


async def rebuild(*, conn: Conn) -> int:
    """Every aggregate anew from case_events in one pass, in one transaction (the consumer waits on the tables'
    lock meanwhile, then applies only what is newer than each case's version here). Returns the cases seen."""
    totals = _Totals()
    states: list[tuple[Any, ...]] = []
    async with conn.transaction():
        await conn.execute(f"LOCK TABLE {', '.join(AGGREGATES)} IN ACCESS EXCLUSIVE MODE")
        await conn.execute(f"TRUNCATE {', '.join(AGGREGATES)}")
        state: CaseStat | None = None
        async for r in conn.cursor(_HISTORY, prefetch=5000):
            if state is not None and state.case_id != r["case_id"]:
                states.append(_state_record(state))
                state = None
            new_fields: dict[str, Any] = r["new"] or {}
            opened = r["type"] == "case.opened"
            if opened:
                ev = Seen(r["case_id"], r["office_id"], r["procedure_id"], True, new_fields["status"],
                          new_fields.get("assignee"), _when(new_fields.get("due_at")), 1, r["at"],
                          r["channel"])  # fmt: skip
            else:
                if state is None:
                    continue  # a case without its opening: nothing to follow
                ev = Seen(r["case_id"], r["office_id"], r["procedure_id"], False,
                          new_fields.get("status", state.status),
                          new_fields.get("assignee", state.assignee),
                          _when(new_fields["due_at"]) if "due_at" in new_fields else state.due_at,
                          state.version + 1, r["at"], r["channel"])  # fmt: skip
            nxt, delta = step(state, ev, r["duration_days"])
            if nxt is not None:
                state = nxt
                totals.add(delta)
        if state is not None:
            states.append(_state_record(state))
        await conn.copy_records_to_table("stat_cases", records=states, columns=_STATE_COLUMNS)
        await _copy(conn, totals)
    return len(states)


_STATE_COLUMNS = ["case_id", "office_id", "procedure_id", "channel", "status", "since", "assignee", "due_at",
                  "opened_at", "version"]  # fmt: skip


async def _copy(conn: Conn, t: _Totals) -> None:
    await conn.copy_records_to_table(
        "stat_volumes",
        records=[(*k, *v) for k, v in t.volumes.items()],
        columns=["office_id", "day", "procedure_id", "channel", "opened", "completed", "rejected"],
    )
    await conn.copy_records_to_table(
        "stat_status_time",
        records=[(*k, int(v[0]), v[1], v[2]) for k, v in t.status_time.items()],
        columns=["office_id", "day", "procedure_id", "status", "stays", "seconds", "max_seconds"],
    )
    await conn.copy_records_to_table(
        "stat_compliance",
        records=[(*k, *v) for k, v in t.compliance.items()],
        columns=["office_id", "day", "procedure_id", "on_time", "late", "late_days", "max_late_days", "no_deadline"],
    )
    await conn.copy_records_to_table(
        "stat_backlog", records=[(*k, n) for k, n in t.backlog.items() if n], columns=["office_id", "status", "cases"]
    )
    await conn.copy_records_to_table(
        "stat_workload",
        records=[(*k, n) for k, n in t.workload.items() if n],
        columns=["office_id", "assignee", "cases"],
    )


# -- reports -------------------------------------------------------------------------------------------------------


def _where(office_id: uuid.UUID | None, procedure_id: uuid.UUID | None, args: list[Any]) -> str:
    parts = ["day >= $1", "day <= $2"]
    if office_id is not None:
        args.append(office_id)
        parts.append(f"office_id = ${len(args)}")
    if procedure_id is not None:
        args.append(procedure_id)
        parts.append(f"procedure_id = ${len(args)}")
    return " AND ".join(parts)


async def volumes(
    *, conn: Conn, office_id: uuid.UUID | None, procedure_id: uuid.UUID | None, start: date, end: date, period: Period
) -> list[VolumeRow]:
    args: list[Any] = [start, end]
    where = _where(office_id, procedure_id, args)
    bucket = "day" if period is Period.DAY else f"date_trunc('{period.value}', day)::date"
    rows = await conn.fetch(
        f"""SELECT {bucket} AS period, office_id, procedure_id, sum(opened)::int AS opened,
                   sum(completed)::int AS completed, sum(rejected)::int AS rejected
            FROM stat_volumes WHERE {where}
            GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""",  # noqa: S608 (fixed parts, bound values)
        *args,
    )
    return [VolumeRow(**dict(r)) for r in rows]


async def status_time(
    *, conn: Conn, office_id: uuid.UUID | None, procedure_id: uuid.UUID | None, start: date, end: date
) -> list[StatusTimeRow]:
    args: list[Any] = [start, end]
    where = _where(office_id, procedure_id, args)
    rows = await conn.fetch(
        f"""SELECT office_id, procedure_id, status, sum(stays)::int AS stays,
                   sum(seconds) / greatest(sum(stays), 1) / 3600 AS mean_hours, max(max_seconds) / 3600 AS max_hours
            FROM stat_status_time WHERE {where}
            GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""",  # noqa: S608
        *args,
    )
    return [StatusTimeRow(**dict(r)) for r in rows]


async def compliance(
    *, conn: Conn, office_id: uuid.UUID | None, procedure_id: uuid.UUID | None, start: date, end: date
) -> list[ComplianceRow]:
    args: list[Any] = [start, end]
    where = _where(office_id, procedure_id, args)
    rows = await conn.fetch(
        f"""SELECT office_id, procedure_id, sum(on_time)::int AS on_time, sum(late)::int AS late,
                   sum(no_deadline)::int AS no_deadline, sum(late_days)::bigint AS late_days,
                   max(max_late_days) AS max_late_days
            FROM stat_compliance WHERE {where}
            GROUP BY 1, 2 ORDER BY 1, 2""",  # noqa: S608
        *args,
    )
    out = []
    for r in rows:
        timed = r["on_time"] + r["late"]
        out.append(
            ComplianceRow(
                office_id=r["office_id"],
                procedure_id=r["procedure_id"],
                completed=timed + r["no_deadline"],
                on_time=r["on_time"],
                late=r["late"],
                no_deadline=r["no_deadline"],
                on_time_share=r["on_time"] / timed if timed else None,
                mean_late_days=r["late_days"] / r["late"] if r["late"] else None,
                max_late_days=r["max_late_days"],
            )
        )
    return out


async def backlog(*, conn: Conn, office_id: uuid.UUID | None) -> list[BacklogRow]:
    rows = await conn.fetch(
        """SELECT office_id, status, sum(cases)::int AS cases FROM stat_backlog
           WHERE status = ANY($1::text[]) AND ($2::uuid IS NULL OR office_id = $2) AND cases <> 0
           GROUP BY 1, 2 ORDER BY 1, 2""",
        sorted(OPEN),
        office_id,
    )
    return [BacklogRow(**dict(r)) for r in rows]


async def workload(*, conn: Conn, office_id: uuid.UUID | None, assignee: str | None = None) -> list[WorkloadRow]:
    rows = await conn.fetch(
        """SELECT office_id, assignee, cases FROM stat_workload
           WHERE ($1::uuid IS NULL OR office_id = $1) AND ($2::text IS NULL OR assignee = $2) AND cases > 0
           ORDER BY office_id, cases DESC, assignee""",
        office_id,
        assignee,
    )
    return [WorkloadRow(**dict(r)) for r in rows]


def to_csv(rows: Sequence[BaseModel], model: type[BaseModel]) -> str:
    """One header line of the model's fields, then its rows; cells that a spreadsheet would run are quoted as text."""
    out = io.StringIO()
    writer = csv.writer(out)
    fields = list(model.model_fields)
    writer.writerow(fields)
    for row in rows:
        values = row.model_dump(mode="json")
        writer.writerow([_cell(values[f]) for f in fields])
    return out.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return "" if value is None else value


async def rebuild_database(dsn: str) -> int:
    """`kep statistics rebuild`: `rebuild` on a database of its own connection."""
    pool = await create_pool(dsn, 1, 1)
    try:
        async with pool.acquire() as conn:
            return await rebuild(conn=conn)
    finally:
        await pool.close()

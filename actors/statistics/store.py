"""The statistics tables: applying one event (the consumer), rebuilding them from case_events (one pass), and the
reports (reads of the aggregates only, never of the cases). The only reader and writer of the `stat_*` tables."""

from __future__ import annotations

import csv
import io
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel

from actors.cases.store import _TAKEN_BY_OPENER  # who holds a case opened at the counter or by phone
from actors.statistics.rules import OPEN, CaseStat, Delta, Seen, step
from infra.db import Conn, create_pool
from messages.cases import CaseChanged, CaseOpened, CaseStatus
from messages.statistics import (
    BacklogRow,
    Breakdown,
    ComplianceRow,
    Period,
    StatusTimeRow,
    VolumeRow,
    WorkloadRow,
)

# the daily rows summed per month, and per office and day over the procedures (migration 0024), kept with them in
# every transaction that adds to them
ROLLUPS = (
    "stat_volumes_month",
    "stat_status_time_month",
    "stat_compliance_month",
    "stat_volumes_office",
    "stat_status_time_office",
    "stat_compliance_office",
)
AGGREGATES = (
    "stat_cases",
    "stat_volumes",
    "stat_status_time",
    "stat_compliance",
    "stat_backlog",
    "stat_workload",
    *ROLLUPS,
)
# An event id is kept this long in stat_applied, to answer a redelivery "seen" without looking further. The broker
# redelivers an unacknowledged event within minutes (at most 20 times) and the outbox relay republishes one it could
# not confirm at once, so a week is far beyond both; an older event that still came again would change nothing
# either: its case's version in stat_cases was seen (rules.step), it would only count as applied, not as repeated.
APPLIED_KEPT = timedelta(days=7)


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
               ON CONFLICT (case_id) DO UPDATE SET office_id = $2, status = $5, since = $6, assignee = $7,
                                                   due_at = $8, version = $10""",
            *_state_record(new),
        )
        await _add(conn, delta)
    return True


def _state_record(s: CaseStat) -> tuple[Any, ...]:
    return (s.case_id, s.office_id, s.procedure_id, s.channel, s.status, s.since, s.assignee, s.due_at,
            s.opened_at, s.version)  # fmt: skip


def _month(day: date) -> date:
    return day.replace(day=1)


async def _add(conn: Conn, d: Delta) -> None:
    """The increments into the daily rows and, the same, into their month's rows (in the caller's transaction)."""
    if d.volumes:
        await conn.executemany(
            """INSERT INTO stat_volumes AS v (office_id, day, procedure_id, channel, opened, completed, rejected)
               VALUES ($1, $2, $3, $4, $5, $6, $7)
               ON CONFLICT (office_id, day, procedure_id, channel) DO UPDATE
               SET opened = v.opened + $5, completed = v.completed + $6, rejected = v.rejected + $7""",
            [(*k, *n) for k, n in d.volumes],
        )
        await conn.executemany(
            """INSERT INTO stat_volumes_month AS v (office_id, month, procedure_id, opened, completed, rejected)
               VALUES ($1, $2, $3, $4, $5, $6)
               ON CONFLICT (office_id, month, procedure_id) DO UPDATE
               SET opened = v.opened + $4, completed = v.completed + $5, rejected = v.rejected + $6""",
            [(office, _month(day), procedure, *n) for (office, day, procedure, _), n in d.volumes],
        )
        await conn.executemany(
            """INSERT INTO stat_volumes_office AS v (office_id, day, opened, completed, rejected)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (office_id, day) DO UPDATE
               SET opened = v.opened + $3, completed = v.completed + $4, rejected = v.rejected + $5""",
            [(office, day, *n) for (office, day, _, _), n in d.volumes],
        )
    if d.status_time:
        for table, period in (("stat_status_time", "day"), ("stat_status_time_month", "month")):
            await conn.executemany(
                f"""INSERT INTO {table} AS t (office_id, {period}, procedure_id, status, stays, seconds, max_seconds)
                    VALUES ($1, $2, $3, $4, 1, $5, $5)
                    ON CONFLICT (office_id, {period}, procedure_id, status) DO UPDATE
                    SET stays = t.stays + 1, seconds = t.seconds + $5,
                        max_seconds = greatest(t.max_seconds, $5)""",  # noqa: S608 (fixed names)
                [(o, day if period == "day" else _month(day), p, st, s) for (o, day, p, st), s in d.status_time],
            )
        await conn.executemany(
            """INSERT INTO stat_status_time_office AS t (office_id, day, status, stays, seconds, max_seconds)
               VALUES ($1, $2, $3, 1, $4, $4)
               ON CONFLICT (office_id, day, status) DO UPDATE
               SET stays = t.stays + 1, seconds = t.seconds + $4, max_seconds = greatest(t.max_seconds, $4)""",
            [(o, day, st, s) for (o, day, _, st), s in d.status_time],
        )
    if d.compliance:
        for table, period in (("stat_compliance", "day"), ("stat_compliance_month", "month")):
            await conn.executemany(
                f"""INSERT INTO {table} AS c (office_id, {period}, procedure_id, on_time, late, late_days,
                                              max_late_days, no_deadline)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                    ON CONFLICT (office_id, {period}, procedure_id) DO UPDATE
                    SET on_time = c.on_time + $4, late = c.late + $5, late_days = c.late_days + $6,
                        max_late_days = greatest(c.max_late_days, $7),
                        no_deadline = c.no_deadline + $8""",  # noqa: S608 (fixed names)
                [
                    (o, day if period == "day" else _month(day), p, on, late, days, days, none)
                    for (o, day, p), (on, late, days, none) in d.compliance
                ],
            )
        await conn.executemany(
            """INSERT INTO stat_compliance_office AS c (office_id, day, on_time, late, late_days, max_late_days,
                                                        no_deadline)
               VALUES ($1, $2, $3, $4, $5, $6, $7)
               ON CONFLICT (office_id, day) DO UPDATE
               SET on_time = c.on_time + $3, late = c.late + $4, late_days = c.late_days + $5,
                   max_late_days = greatest(c.max_late_days, $6), no_deadline = c.no_deadline + $7""",
            [(o, day, on, late, days, days, none) for (o, day, _), (on, late, days, none) in d.compliance],
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
                # a hand-over's event is recorded in the office it left; the case is the new one's after it
                office = uuid.UUID(new_fields["office_id"]) if "office_id" in new_fields else state.office_id
                ev = Seen(r["case_id"], office, r["procedure_id"], False,
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
        await refresh_rollup(conn=conn)
    return len(states)


async def refresh_rollup(*, conn: Conn) -> None:
    """The month rows anew from the daily ones (the rebuild, in its transaction, and the bench's generated data);
    the same sums as the consumer adds one event at a time, and as migration 0024 filled them first."""
    await conn.execute(f"TRUNCATE {', '.join(ROLLUPS)}")
    await conn.execute(
        """INSERT INTO stat_volumes_month (office_id, month, procedure_id, opened, completed, rejected)
           SELECT office_id, date_trunc('month', day)::date, procedure_id, sum(opened), sum(completed), sum(rejected)
           FROM stat_volumes GROUP BY 1, 2, 3"""
    )
    await conn.execute(
        """INSERT INTO stat_status_time_month (office_id, month, procedure_id, status, stays, seconds, max_seconds)
           SELECT office_id, date_trunc('month', day)::date, procedure_id, status, sum(stays), sum(seconds),
                  max(max_seconds)
           FROM stat_status_time GROUP BY 1, 2, 3, 4"""
    )
    await conn.execute(
        """INSERT INTO stat_compliance_month (office_id, month, procedure_id, on_time, late, late_days,
                                              max_late_days, no_deadline)
           SELECT office_id, date_trunc('month', day)::date, procedure_id, sum(on_time), sum(late), sum(late_days),
                  max(max_late_days), sum(no_deadline)
           FROM stat_compliance GROUP BY 1, 2, 3"""
    )
    await conn.execute(
        """INSERT INTO stat_volumes_office (office_id, day, opened, completed, rejected)
           SELECT office_id, day, sum(opened), sum(completed), sum(rejected) FROM stat_volumes GROUP BY 1, 2"""
    )
    await conn.execute(
        """INSERT INTO stat_status_time_office (office_id, day, status, stays, seconds, max_seconds)
           SELECT office_id, day, status, sum(stays), sum(seconds), max(max_seconds)
           FROM stat_status_time GROUP BY 1, 2, 3"""
    )
    await conn.execute(
        """INSERT INTO stat_compliance_office (office_id, day, on_time, late, late_days, max_late_days, no_deadline)
           SELECT office_id, day, sum(on_time), sum(late), sum(late_days), max(max_late_days), sum(no_deadline)
           FROM stat_compliance GROUP BY 1, 2"""
    )


async def prune_applied(*, conn: Conn, before: datetime, batch: int = 10_000) -> int:
    """Forget the ids of events applied before `before` (see APPLIED_KEPT), a batch per transaction so that the
    consumer's own inserts never wait long on it; returns how many were forgotten."""
    pruned = 0
    while True:
        status = await conn.execute(
            """DELETE FROM stat_applied WHERE event_id IN (
                   SELECT event_id FROM stat_applied WHERE applied_at < $1 LIMIT $2)""",
            before,
            batch,
        )
        done = int(status.split()[-1])
        pruned += done
        if done < batch:
            return pruned


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


@dataclass(frozen=True)
class Span:
    """A report's days split where the month rows can answer: the whole months [first, after) from them, the
    remaining days (inclusive ranges, at the range's ends) from the daily rows."""

    months: tuple[date, date] | None
    days: tuple[tuple[date, date], ...]


def span(start: date, end: date) -> Span:
    first = start if start.day == 1 else (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    try:
        after = (end + timedelta(days=1)).replace(day=1)  # the months before this one end by `end`
    except OverflowError:  # the calendar's last day: its month from the daily rows
        after = end.replace(day=1)
    if first >= after:
        return Span(None, ((start, end),))
    days = []
    if start < first:
        days.append((start, first - timedelta(days=1)))
    if after <= end:
        days.append((after, end))
    return Span((first, after), tuple(days))


@dataclass(frozen=True)
class _Report:
    daily: str
    monthly: str
    office: str  # per office and day, over the procedures (by=office)
    values: str  # the columns summed, as both tables name them
    sums: str  # what a row answers, summed over the group
    keys_after_office: tuple[str, ...]  # the keys that follow office (and procedure) in a row, in order


_VOLUMES = _Report(
    "stat_volumes",
    "stat_volumes_month",
    "stat_volumes_office",
    "opened, completed, rejected",
    "sum(opened)::int AS opened, sum(completed)::int AS completed, sum(rejected)::int AS rejected",
    (),
)
_STATUS_TIME = _Report(
    "stat_status_time",
    "stat_status_time_month",
    "stat_status_time_office",
    "status, stays, seconds, max_seconds",
    """sum(stays)::int AS stays, sum(seconds) / greatest(sum(stays), 1) / 3600 AS mean_hours,
       max(max_seconds) / 3600 AS max_hours""",
    ("status",),
)
_COMPLIANCE = _Report(
    "stat_compliance",
    "stat_compliance_month",
    "stat_compliance_office",
    "on_time, late, late_days, max_late_days, no_deadline",
    """sum(on_time + late + no_deadline)::int AS completed, sum(on_time)::int AS on_time, sum(late)::int AS late,
       sum(no_deadline)::int AS no_deadline,
       sum(on_time)::float8 / nullif(sum(on_time + late), 0) AS on_time_share,
       sum(late_days)::float8 / nullif(sum(late), 0) AS mean_late_days, max(max_late_days) AS max_late_days""",
    (),
)
_REPORTS = {"volumes": _VOLUMES, "status-time": _STATUS_TIME, "compliance": _COMPLIANCE}


def _fields(kind: _Report, by: Breakdown, periods: bool) -> tuple[str, ...]:
    middle = ("office_id", "procedure_id") if by is Breakdown.OFFICE_PROCEDURE else ("office_id",)
    return (*(("period",) if periods else ()), *middle, *kind.keys_after_office)


def keys(report: str, by: Breakdown) -> tuple[str, ...]:
    """The fields that order a report's rows and make its cursor (`report`: volumes, status-time, compliance)."""
    kind = _REPORTS[report]
    return _fields(kind, by, kind is _VOLUMES)


def cursor_of(row: BaseModel, fields: tuple[str, ...]) -> str:
    """The `after` of the page that follows this row: its keys, `~` between them (no key holds one)."""
    return "~".join(str(getattr(row, f)) for f in fields)


def parse_after(text: str, fields: tuple[str, ...]) -> tuple[Any, ...]:
    """An `after` back into its keys; ValueError when it is not one of this report's."""
    parts = text.split("~", len(fields) - 1)
    if len(parts) != len(fields):
        raise ValueError("not a cursor of this report")
    out: list[Any] = []
    for field_name, part in zip(fields, parts, strict=True):
        if field_name == "period":
            out.append(date.fromisoformat(part))
        elif field_name.endswith("_id"):
            out.append(uuid.UUID(part))
        else:
            out.append(part)
    return tuple(out)


_Row = TypeVar("_Row", bound=BaseModel)


async def _report(
    conn: Conn,
    kind: _Report,
    model: type[_Row],
    *,
    office_id: uuid.UUID | None,
    procedure_id: uuid.UUID | None,
    start: date,
    end: date,
    by: Breakdown,
    period: Period | None = None,
    after: tuple[Any, ...] | None = None,
    limit: int | None = None,
    offices: list[uuid.UUID] | None = None,
) -> list[_Row]:
    """Rows of one report, grouped by `by` (and the period), in the order of their keys, after the cursor `after`,
    at most `limit`. Whole months come from the month rows where the grouping allows it (no period, or months),
    the other days from the daily rows; both through their covering (day|month) INCLUDE indexes."""
    args: list[Any] = []

    def bind(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    fields = _fields(kind, by, period is not None)
    filters = []
    if office_id is not None:
        filters.append(f"office_id = {bind(office_id)}")
    if procedure_id is not None:
        filters.append(f"procedure_id = {bind(procedure_id)}")
    if offices is not None:  # the offices whose rows are grouped this time: their primary keys' ranges are read
        filters.append(f"office_id = ANY({bind(offices)}::uuid[])")
    elif after is not None and period is None:
        # the first key of a later page is the office: skip the offices before it where the rows are read
        filters.append(f"office_id >= {bind(after[0])}")
    # summed over the procedures: the rows per office and day, a twentieth of the daily ones per procedure and
    # fewer than the month ones over a year; otherwise whole months from the month rows where the grouping allows
    per_office = by is Breakdown.OFFICE and procedure_id is None
    sliced = period in (None, Period.MONTH) and not per_office
    parts = span(start, end) if sliced else Span(None, ((start, end),))
    daily, columns = (kind.office, "office_id") if per_office else (kind.daily, "office_id, procedure_id")
    selects = []
    for first, last in parts.days:
        where = [f"day >= {bind(first)}", f"day <= {bind(last)}", *filters]
        if after is not None and period is not None:
            where.append(f"day >= {bind(after[0])}")  # a period begins at its first day: none before the cursor's
        bucket = ""
        if period is not None:
            bucket = (
                "day AS period, " if period is Period.DAY else f"date_trunc('{period.value}', day)::date AS period, "
            )
        selects.append(
            f"SELECT {bucket}{columns}, {kind.values} FROM {daily} WHERE {' AND '.join(where)}"  # noqa: S608
        )
    if parts.months is not None:
        where = [f"month >= {bind(parts.months[0])}", f"month < {bind(parts.months[1])}", *filters]
        if after is not None and period is not None:
            where.append(f"month >= {bind(after[0])}")
        bucket = "" if period is None else "month AS period, "
        selects.append(
            f"SELECT {bucket}office_id, procedure_id, {kind.values} FROM {kind.monthly} WHERE {' AND '.join(where)}"  # noqa: S608
        )
    group = ", ".join(fields)
    shown = (
        group
        if by is Breakdown.OFFICE_PROCEDURE
        else group.replace("office_id", "office_id, NULL::uuid AS procedure_id")
    )
    having = ""
    if after is not None:
        having = f"HAVING ({group}) > ({', '.join(bind(v) for v in after)})"
    bound = f"LIMIT {bind(limit)}" if limit is not None else ""
    rows = await conn.fetch(
        f"""SELECT {shown}, {kind.sums} FROM ({" UNION ALL ".join(selects)}) x
            GROUP BY {group} {having} ORDER BY {group} {bound}""",  # noqa: S608 (fixed parts, bound values)
        *args,
    )
    # straight from the aggregates, whose columns are the model's types already: no validation per row
    return [model.model_construct(**dict(r)) for r in rows]


async def volumes(
    *,
    conn: Conn,
    office_id: uuid.UUID | None,
    procedure_id: uuid.UUID | None,
    start: date,
    end: date,
    period: Period,
    by: Breakdown = Breakdown.OFFICE_PROCEDURE,
    after: tuple[Any, ...] | None = None,
    limit: int | None = None,
) -> list[VolumeRow]:
    """A page of volumes read a few periods at a time: the rows come in the order of period first, so a page needs
    only the periods up to its last row, and grouping the whole range (every office over a month by week: 50 000
    daily rows into 33 000) for a page of 1 000 would cost most of the answer's time. One period first, then four
    times as many each round, so a sparse report (one office by day) needs a few rounds, not one a period."""
    if limit is None:
        return await _report(conn, _VOLUMES, VolumeRow, office_id=office_id, procedure_id=procedure_id, start=start,
                             end=end, by=by, period=period, after=after)  # fmt: skip
    rows: list[VolumeRow] = []
    first = start if after is None else max(start, after[0])  # the cursor's row is in the period it names
    periods = 1
    while first <= end and len(rows) < limit:
        following = _period_after(first, period, periods)
        last = end if following is None or following > end else following - timedelta(days=1)
        rows += await _report(conn, _VOLUMES, VolumeRow, office_id=office_id, procedure_id=procedure_id,
                              start=first, end=last, by=by, period=period, after=after,
                              limit=limit - len(rows))  # fmt: skip
        if last >= end:
            break
        first, after, periods = last + timedelta(days=1), None, periods * 4
    return rows


def _period_after(day: date, period: Period, periods: int) -> date | None:
    """The first day of the period `periods` after the one `day` is in; None past the calendar's end."""
    try:
        if period is Period.DAY:
            return day + timedelta(days=periods)
        if period is Period.WEEK:
            return day - timedelta(days=day.weekday()) + timedelta(weeks=periods)
        months = day.year * 12 + day.month - 1 + periods
        return date(months // 12, months % 12 + 1, 1)
    except (OverflowError, ValueError):
        return None


async def volume_totals(
    *, conn: Conn, office_id: uuid.UUID | None, procedure_id: uuid.UUID | None, start: date, end: date, period: Period
) -> list[tuple[date, int, int, int]]:
    """(period, opened, completed, rejected) summed over the offices and procedures (the chart): one row a period."""
    totals: dict[date, list[int]] = {}
    after: tuple[Any, ...] | None = None
    while True:  # pages of office totals: at most offices × periods rows in all, summed as they come
        rows = await volumes(conn=conn, office_id=office_id, procedure_id=procedure_id, start=start, end=end,
                             period=period, by=Breakdown.OFFICE, after=after, limit=_TOTALS_PAGE)  # fmt: skip
        for r in rows:
            t = totals.setdefault(r.period, [0, 0, 0])
            t[0], t[1], t[2] = t[0] + r.opened, t[1] + r.completed, t[2] + r.rejected
        if len(rows) < _TOTALS_PAGE:
            return [(d, t[0], t[1], t[2]) for d, t in sorted(totals.items())]
        after = (rows[-1].period, rows[-1].office_id)


_TOTALS_PAGE = 20_000


async def status_time(
    *,
    conn: Conn,
    office_id: uuid.UUID | None,
    procedure_id: uuid.UUID | None,
    start: date,
    end: date,
    by: Breakdown = Breakdown.OFFICE_PROCEDURE,
    after: tuple[Any, ...] | None = None,
    limit: int | None = None,
) -> list[StatusTimeRow]:
    return await _office_first(conn, _STATUS_TIME, StatusTimeRow, office_id=office_id, procedure_id=procedure_id,
                               start=start, end=end, by=by, after=after, limit=limit)  # fmt: skip


async def compliance(
    *,
    conn: Conn,
    office_id: uuid.UUID | None,
    procedure_id: uuid.UUID | None,
    start: date,
    end: date,
    by: Breakdown = Breakdown.OFFICE_PROCEDURE,
    after: tuple[Any, ...] | None = None,
    limit: int | None = None,
) -> list[ComplianceRow]:
    return await _office_first(conn, _COMPLIANCE, ComplianceRow, office_id=office_id, procedure_id=procedure_id,
                               start=start, end=end, by=by, after=after, limit=limit)  # fmt: skip


async def _office_first(
    conn: Conn,
    kind: _Report,
    model: type[_Row],
    *,
    office_id: uuid.UUID | None,
    procedure_id: uuid.UUID | None,
    start: date,
    end: date,
    by: Breakdown,
    after: tuple[Any, ...] | None,
    limit: int | None,
) -> list[_Row]:
    """A page of every office's rows (ordered by office first) read a few offices at a time: two offices first,
    then twice as many each round, so a page groups only the rows of the offices up to its last one, not the whole
    range's (every office over a year per procedure: 300 ms and more, three years over a second). The offices are
    the next ones in the month rows' primary key (each daily row has its month's row), found by one index probe
    each; their rows are then read by that key's ranges (an index-only scan: the key INCLUDEs the counts), not by
    scanning the range's every row."""
    if limit is None or office_id is not None or by is Breakdown.OFFICE:
        # one office, or a row or two an office (by=office: the whole answer is a few hundred rows at most)
        return await _report(conn, kind, model, office_id=office_id, procedure_id=procedure_id, start=start,
                             end=end, by=by, after=after, limit=limit)  # fmt: skip
    rows: list[_Row] = []
    first: uuid.UUID = after[0] if after is not None else uuid.UUID(int=0)
    count = 2  # ~600 rows an office over a year per procedure at a million cases: a page of 1 000 in one round
    while len(rows) < limit:
        offices = [r["id"] for r in await conn.fetch(_NEXT_OFFICES.format(table=kind.monthly), first, count)]
        if not offices:
            break
        rows += await _report(conn, kind, model, office_id=None, procedure_id=procedure_id, start=start, end=end,
                              by=by, after=after, limit=limit - len(rows), offices=offices)  # fmt: skip
        if offices[-1].int + 1 >= 1 << 128:
            break
        first, after, count = uuid.UUID(int=offices[-1].int + 1), None, count * 2
    return rows


# the next `$2` distinct offices from `$1` on: a loose index scan of the primary key (PostgreSQL 15 has no skip scan)
_NEXT_OFFICES = """
    WITH RECURSIVE o(id, n) AS (
        (SELECT office_id, 1 FROM {table} WHERE office_id >= $1 ORDER BY office_id LIMIT 1)
        UNION ALL
        SELECT (SELECT office_id FROM {table} WHERE office_id > o.id ORDER BY office_id LIMIT 1), o.n + 1
        FROM o WHERE o.n < $2 AND o.id IS NOT NULL)
    SELECT id FROM o WHERE id IS NOT NULL"""


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

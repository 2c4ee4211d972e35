"""The statistics' month rows, pages and pruning against PostgreSQL: the month rows the consumer keeps equal the
daily rows summed per month after a stream of events (some delivered twice, some published twice), a report over
whole months read from them equals one read from the daily rows, pages put together equal the whole answer, and
forgetting old applied ids changes nothing a redelivery would."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from actors.statistics import store
from actors.statistics.consumer import STATISTICS_ACTOR, StatisticsActor
from actors.statistics.rules import Seen
from infra.settings import Settings
from messages.statistics import Breakdown, Period

# every month row against the daily rows summed into it, both ways (one statement: one snapshot while the consumer
# of the session's other tests may be applying events)
_MISMATCHES = """
    WITH checks AS (
        (SELECT office_id, month, procedure_id, opened, completed, rejected FROM stat_volumes_month
         EXCEPT SELECT office_id, date_trunc('month', day)::date, procedure_id, sum(opened)::int,
                       sum(completed)::int, sum(rejected)::int
                FROM stat_volumes GROUP BY 1, 2, 3)
        UNION ALL
        (SELECT office_id, date_trunc('month', day)::date, procedure_id, sum(opened)::int, sum(completed)::int,
                sum(rejected)::int
         FROM stat_volumes GROUP BY 1, 2, 3
         EXCEPT SELECT office_id, month, procedure_id, opened, completed, rejected FROM stat_volumes_month))
    SELECT (SELECT count(*) FROM checks)
         + (SELECT count(*) FROM (
              (SELECT office_id, month, procedure_id, status, stays, round(seconds::numeric, 3), max_seconds
               FROM stat_status_time_month
               EXCEPT SELECT office_id, date_trunc('month', day)::date, procedure_id, status, sum(stays)::int,
                             round(sum(seconds)::numeric, 3), max(max_seconds)
                      FROM stat_status_time GROUP BY 1, 2, 3, 4)
              UNION ALL
              (SELECT office_id, date_trunc('month', day)::date, procedure_id, status, sum(stays)::int,
                      round(sum(seconds)::numeric, 3), max(max_seconds)
               FROM stat_status_time GROUP BY 1, 2, 3, 4
               EXCEPT SELECT office_id, month, procedure_id, status, stays, round(seconds::numeric, 3), max_seconds
                      FROM stat_status_time_month)) s)
         + (SELECT count(*) FROM (
              (SELECT office_id, month, procedure_id, on_time, late, late_days, max_late_days, no_deadline
               FROM stat_compliance_month
               EXCEPT SELECT office_id, date_trunc('month', day)::date, procedure_id, sum(on_time)::int,
                             sum(late)::int, sum(late_days)::bigint, max(max_late_days), sum(no_deadline)::int
                      FROM stat_compliance GROUP BY 1, 2, 3)
              UNION ALL
              (SELECT office_id, date_trunc('month', day)::date, procedure_id, sum(on_time)::int, sum(late)::int,
                      sum(late_days)::bigint, max(max_late_days), sum(no_deadline)::int
               FROM stat_compliance GROUP BY 1, 2, 3
               EXCEPT SELECT office_id, month, procedure_id, on_time, late, late_days, max_late_days, no_deadline
                      FROM stat_compliance_month)) c)"""

# seconds compared to the millisecond: the session's other tests' stays are fractional, and a float sum in another
# order (per month as the events came, per day then summed) may differ in its last bit
T0 = datetime(2026, 1, 20, 9, tzinfo=UTC)


# the rows per office and day against the daily rows summed over procedures and channels, both ways
_OFFICE_MISMATCHES = """
    SELECT (SELECT count(*) FROM (
              (SELECT office_id, day, opened, completed, rejected FROM stat_volumes_office
               EXCEPT SELECT office_id, day, sum(opened)::int, sum(completed)::int, sum(rejected)::int
                      FROM stat_volumes GROUP BY 1, 2)
              UNION ALL
              (SELECT office_id, day, sum(opened)::int, sum(completed)::int, sum(rejected)::int
               FROM stat_volumes GROUP BY 1, 2
               EXCEPT SELECT office_id, day, opened, completed, rejected FROM stat_volumes_office)) v)
         + (SELECT count(*) FROM (
              (SELECT office_id, day, status, stays, round(seconds::numeric, 3), max_seconds
               FROM stat_status_time_office
               EXCEPT SELECT office_id, day, status, sum(stays)::int, round(sum(seconds)::numeric, 3), max(max_seconds)
                      FROM stat_status_time GROUP BY 1, 2, 3)
              UNION ALL
              (SELECT office_id, day, status, sum(stays)::int, round(sum(seconds)::numeric, 3), max(max_seconds)
               FROM stat_status_time GROUP BY 1, 2, 3
               EXCEPT SELECT office_id, day, status, stays, round(seconds::numeric, 3), max_seconds
                      FROM stat_status_time_office)) s)
         + (SELECT count(*) FROM (
              (SELECT office_id, day, on_time, late, late_days, max_late_days, no_deadline FROM stat_compliance_office
               EXCEPT SELECT office_id, day, sum(on_time)::int, sum(late)::int, sum(late_days)::bigint,
                             max(max_late_days), sum(no_deadline)::int
                      FROM stat_compliance GROUP BY 1, 2)
              UNION ALL
              (SELECT office_id, day, sum(on_time)::int, sum(late)::int, sum(late_days)::bigint, max(max_late_days),
                      sum(no_deadline)::int
               FROM stat_compliance GROUP BY 1, 2
               EXCEPT SELECT office_id, day, on_time, late, late_days, max_late_days, no_deadline
                      FROM stat_compliance_office)) c)"""


async def rollup_mismatches(conn: Any) -> int:
    """Rows of the month and the per-office tables that the daily rows do not sum to (0: they agree)."""
    return int(await conn.fetchval(_MISMATCHES)) + int(await conn.fetchval(_OFFICE_MISMATCHES))


def _events(office: uuid.UUID, procedures: list[uuid.UUID], cases: int) -> list[tuple[uuid.UUID, Seen]]:
    """Cases opened over three months, each submitted → in progress → completed (late or not) or rejected, some
    left open; their stays and outcomes fall in another month than their opening now and then."""
    out: list[tuple[uuid.UUID, Seen]] = []
    for i in range(cases):
        case, procedure = uuid.uuid4(), procedures[i % len(procedures)]
        opened = T0 + timedelta(days=i * 3, hours=i % 5)
        due = opened + timedelta(days=10)

        channel = "online" if i % 2 else "counter"

        def ev(version: int, status: str, at: datetime, c: uuid.UUID = case, p: uuid.UUID = procedure,
               d: datetime = due, ch: str = channel) -> Seen:  # fmt: skip
            return Seen(c, office, p, version == 1, status, "anna", d, version, at, ch)

        out.append((uuid.uuid4(), ev(1, "submitted", opened)))
        if i % 7 == 6:
            continue  # still open
        started = opened + timedelta(days=1 + i % 4, hours=3)
        out.append((uuid.uuid4(), ev(2, "in_progress", started)))
        end = "rejected" if i % 5 == 4 else "completed"
        out.append((uuid.uuid4(), ev(3, end, started + timedelta(days=i % 15, hours=2))))
    return out


async def _apply_all(conn: Any, events: list[tuple[uuid.UUID, Seen]]) -> None:
    for n, (event_id, ev) in enumerate(events):
        assert await store.apply(conn=conn, event_id=event_id, ev=ev)
        if n % 3 == 0:  # the broker delivers it again: its id was applied
            assert not await store.apply(conn=conn, event_id=event_id, ev=ev)
        if n % 4 == 0:  # published again under another id: the case's version was seen, nothing is added
            assert await store.apply(conn=conn, event_id=uuid.uuid4(), ev=ev)


@pytest.fixture
async def office_events(pool: asyncpg.Pool[asyncpg.Record]) -> tuple[uuid.UUID, list[uuid.UUID]]:
    office, procedures = uuid.uuid4(), [uuid.uuid4() for _ in range(3)]
    async with pool.acquire() as conn:
        await _apply_all(conn, _events(office, procedures, 40))
    return office, procedures


async def test_the_month_rows_equal_the_daily_rows_summed_after_repeated_events(
    pool: asyncpg.Pool[asyncpg.Record], office_events: tuple[uuid.UUID, list[uuid.UUID]]
) -> None:
    office, _ = office_events
    async with pool.acquire() as conn:
        assert await rollup_mismatches(conn) == 0
        # and they do hold this office's events: 40 opened from January on, over some four months
        opened = await conn.fetchval("SELECT sum(opened) FROM stat_volumes_month WHERE office_id = $1", office)
        assert opened == 40
        months = await conn.fetch(
            "SELECT DISTINCT month FROM stat_volumes_month WHERE office_id = $1 ORDER BY 1", office
        )
        assert months[0]["month"] == date(2026, 1, 1)
        assert len(months) >= 4


async def test_a_report_over_whole_months_reads_the_month_rows_and_answers_as_the_daily_ones(
    pool: asyncpg.Pool[asyncpg.Record], office_events: tuple[uuid.UUID, list[uuid.UUID]]
) -> None:
    office, _ = office_events
    start, end = date(2026, 1, 25), date(2026, 4, 10)  # part of January, February and March whole, part of April
    assert store.span(start, end) == store.Span(
        (date(2026, 2, 1), date(2026, 4, 1)), ((start, date(2026, 1, 31)), (date(2026, 4, 1), end))
    )
    async with pool.acquire() as conn:
        by_month = await store.volumes(
            conn=conn, office_id=office, procedure_id=None, start=start, end=end, period=Period.MONTH
        )
        by_day = await store.volumes(
            conn=conn, office_id=office, procedure_id=None, start=start, end=end, period=Period.DAY
        )
        summed: dict[tuple[date, uuid.UUID | None], list[int]] = {}
        for r in by_day:
            t = summed.setdefault((r.period.replace(day=1), r.procedure_id), [0, 0, 0])
            t[0], t[1], t[2] = t[0] + r.opened, t[1] + r.completed, t[2] + r.rejected
        assert {(r.period, r.procedure_id): [r.opened, r.completed, r.rejected] for r in by_month} == summed
        # no period: the months and the two ends against the daily rows alone (the same sums in SQL)
        stays = await store.status_time(conn=conn, office_id=office, procedure_id=None, start=start, end=end)
        daily = await conn.fetch(
            """SELECT procedure_id, status, sum(stays)::int AS stays, max(max_seconds) / 3600 AS max_hours
               FROM stat_status_time WHERE office_id = $1 AND day BETWEEN $2 AND $3 GROUP BY 1, 2 ORDER BY 1, 2""",
            office,
            start,
            end,
        )
        assert [(r.procedure_id, r.status, r.stays, r.max_hours) for r in stays] == [tuple(r) for r in daily]
        done = await store.compliance(conn=conn, office_id=office, procedure_id=None, start=start, end=end)
        daily = await conn.fetch(
            """SELECT procedure_id, sum(on_time)::int, sum(late)::int, max(max_late_days)
               FROM stat_compliance WHERE office_id = $1 AND day BETWEEN $2 AND $3 GROUP BY 1 ORDER BY 1""",
            office,
            start,
            end,
        )
        assert [(r.procedure_id, r.on_time, r.late, r.max_late_days) for r in done] == [tuple(r) for r in daily]
        assert sum(r.completed for r in done) > 0


async def test_pages_put_together_are_the_whole_answer_and_by_office_sums_the_procedures(
    pool: asyncpg.Pool[asyncpg.Record], office_events: tuple[uuid.UUID, list[uuid.UUID]]
) -> None:
    office, _ = office_events
    start, end = date(2026, 1, 1), date(2026, 4, 30)
    async with pool.acquire() as conn:
        for report in ("volumes", "status-time", "compliance"):
            for by in Breakdown:

                async def read(
                    after: tuple[Any, ...] | None, limit: int | None, r: str = report, by: Breakdown = by
                ) -> list[Any]:
                    common: dict[str, Any] = dict(conn=conn, office_id=office, procedure_id=None, start=start,
                                                  end=end, by=by, after=after, limit=limit)  # fmt: skip
                    if r == "volumes":
                        return list(await store.volumes(period=Period.WEEK, **common))
                    if r == "status-time":
                        return list(await store.status_time(**common))
                    return list(await store.compliance(**common))

                whole = await read(None, None)
                assert whole, (report, by)
                size = max(1, len(whole) // 3)  # three pages or four, the last one short or empty
                fields = store.keys(report, by)
                pages: list[Any] = []
                after = None
                while True:
                    page = await read(after, size)
                    pages += page
                    if len(page) < size:
                        break
                    # the cursor as the `Link` carries it, and back
                    after = store.parse_after(store.cursor_of(page[-1], fields), fields)
                assert pages == whole, (report, by)
                if by is Breakdown.OFFICE:
                    assert {r.procedure_id for r in whole} == {None}
        # by=office (the per-office rows) against the rows per procedure summed
        weekly = await store.volumes(conn=conn, office_id=office, procedure_id=None, start=start, end=end,
                                     period=Period.WEEK)  # fmt: skip
        totals: dict[date, int] = {}
        for r in weekly:
            totals[r.period] = totals.get(r.period, 0) + r.opened
        summed_weeks = await store.volumes(conn=conn, office_id=office, procedure_id=None, start=start, end=end,
                                           period=Period.WEEK, by=Breakdown.OFFICE)  # fmt: skip
        assert {r.period: r.opened for r in summed_weeks} == totals
        per_procedure = await store.compliance(conn=conn, office_id=office, procedure_id=None, start=start, end=end)
        (summed,) = await store.compliance(
            conn=conn, office_id=office, procedure_id=None, start=start, end=end, by=Breakdown.OFFICE
        )
        assert summed.completed == sum(r.completed for r in per_procedure)
        assert summed.late == sum(r.late for r in per_procedure)
        assert summed.max_late_days == max(r.max_late_days for r in per_procedure)
    with pytest.raises(ValueError, match="cursor"):
        store.parse_after("2026-01-01", store.keys("volumes", Breakdown.OFFICE_PROCEDURE))
    with pytest.raises(ValueError, match="badly formed"):
        store.parse_after("2026-01-01~not-a-uuid", store.keys("volumes", Breakdown.OFFICE))


async def test_volumes_read_a_few_periods_at_a_time_answer_as_the_whole_range(
    pool: asyncpg.Pool[asyncpg.Record], office_events: tuple[uuid.UUID, list[uuid.UUID]]
) -> None:
    office, _ = office_events
    start, end = date(2026, 1, 7), date(2026, 6, 3)  # mid-week and mid-month ends
    fields = store.keys("volumes", Breakdown.OFFICE_PROCEDURE)
    async with pool.acquire() as conn:
        for period in Period:
            whole = await store.volumes(
                conn=conn, office_id=office, procedure_id=None, start=start, end=end, period=period
            )
            for size in (1, 5, len(whole) - 1, len(whole), 10 * len(whole)):
                pages: list[Any] = []
                after = None
                while True:
                    page = await store.volumes(conn=conn, office_id=office, procedure_id=None, start=start, end=end,
                                               period=period, after=after, limit=size)  # fmt: skip
                    pages += page
                    if len(page) < size:
                        break
                    after = store.parse_after(store.cursor_of(page[-1], fields), fields)
                assert pages == whole, (period, size)


async def test_every_office_read_a_few_offices_at_a_time_answers_as_the_whole_range(
    pool: asyncpg.Pool[asyncpg.Record], office_events: tuple[uuid.UUID, list[uuid.UUID]]
) -> None:
    async with pool.acquire() as conn:
        for _ in range(5):  # offices enough for several rounds of four, then twice as many
            await _apply_all(conn, _events(uuid.uuid4(), [uuid.uuid4(), uuid.uuid4()], 6))
        start, end = date(2026, 1, 10), date(2026, 5, 20)
        for report in ("status-time", "compliance"):
            for by in Breakdown:
                fields = store.keys(report, by)
                read = store.status_time if report == "status-time" else store.compliance
                whole = await read(conn=conn, office_id=None, procedure_id=None, start=start, end=end, by=by)
                assert len({r.office_id for r in whole}) >= 6, report
                for size in (1, 7, len(whole) - 1, len(whole) + 1):
                    pages: list[Any] = []
                    after = None
                    while True:
                        page = await read(conn=conn, office_id=None, procedure_id=None, start=start, end=end, by=by,
                                          after=after, limit=size)  # fmt: skip
                        pages += page
                        if len(page) < size:
                            break
                        after = store.parse_after(store.cursor_of(page[-1], fields), fields)
                    assert pages == whole, (report, by, size)


async def test_old_applied_ids_are_forgotten_and_a_redelivery_after_that_changes_nothing(
    pool: asyncpg.Pool[asyncpg.Record],
) -> None:
    office, procedure = uuid.uuid4(), uuid.uuid4()
    events = _events(office, [procedure], 3)
    now = datetime.now(UTC)
    async with pool.acquire() as conn:
        await _apply_all(conn, events)
        ids = [event_id for event_id, _ in events]
        # three of them applied long ago, the rest now
        await conn.execute(
            "UPDATE stat_applied SET applied_at = $2 WHERE event_id = ANY($1::uuid[])",
            ids[:3],
            now - store.APPLIED_KEPT - timedelta(hours=1),
        )
        before = await store.volumes(
            conn=conn, office_id=office, procedure_id=None, start=T0.date(), end=T0.date() + timedelta(days=60),
            period=Period.MONTH,
        )  # fmt: skip
        # batches of 2: the batch loop goes round (other tests' old ids, if any, go too: they are as old)
        assert await store.prune_applied(conn=conn, before=now - store.APPLIED_KEPT, batch=2) >= 3
        kept = await conn.fetch("SELECT event_id FROM stat_applied WHERE event_id = ANY($1::uuid[])", ids)
        assert {r["event_id"] for r in kept} == set(ids[3:])
        # a forgotten id delivered again: applied as new, and the case's version says it was seen
        for event_id, ev in events[:3]:
            assert await store.apply(conn=conn, event_id=event_id, ev=ev)
        after = await store.volumes(
            conn=conn, office_id=office, procedure_id=None, start=T0.date(), end=T0.date() + timedelta(days=60),
            period=Period.MONTH,
        )  # fmt: skip
        assert after == before
        assert await rollup_mismatches(conn) == 0


async def test_the_consumer_forgets_old_applied_ids(
    pool: asyncpg.Pool[asyncpg.Record], settings: Settings, ray_app: dict[str, Any]
) -> None:
    """What its hourly task calls, through the running consumer (bootstrap started it; `get_if_exists` finds it)."""
    handle = StatisticsActor.options(name=STATISTICS_ACTOR, get_if_exists=True).remote(settings)
    old, recent = uuid.uuid4(), uuid.uuid4()
    await pool.execute(
        "INSERT INTO stat_applied (event_id, applied_at) VALUES ($1, now() - $3::interval), ($2, now())",
        old,
        recent,
        store.APPLIED_KEPT + timedelta(minutes=5),
    )
    assert await handle.prune.remote() >= 1
    left = await pool.fetch("SELECT event_id FROM stat_applied WHERE event_id = ANY($1::uuid[])", [old, recent])
    assert [r["event_id"] for r in left] == [recent]
    assert (await handle.stats.remote())["pruned"] >= 1


def test_a_span_splits_at_whole_months() -> None:
    assert store.span(date(2026, 3, 1), date(2026, 3, 31)) == store.Span((date(2026, 3, 1), date(2026, 4, 1)), ())
    assert store.span(date(2026, 3, 2), date(2026, 3, 31)) == store.Span(None, ((date(2026, 3, 2), date(2026, 3, 31)),))
    assert store.span(date(2025, 12, 1), date(2026, 12, 1)) == store.Span(
        (date(2025, 12, 1), date(2026, 12, 1)), ((date(2026, 12, 1), date(2026, 12, 1)),)
    )
    assert store.span(date(9999, 12, 1), date(9999, 12, 31)) == store.Span(
        None, ((date(9999, 12, 1), date(9999, 12, 31)),)
    )

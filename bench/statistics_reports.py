"""Statistics queries at a million cases: the aggregates of `--cases` generated cases, then p50/p95 per report.

    kep services start
    .venv/bin/python bench/statistics_reports.py [--cases 1000000 --offices 40 --repeats 30]

Builds a database of its own (`kep_bench_statistics`, dropped and made again; `--keep` reuses it), migrated like
the real one, with offices, procedures and the aggregates that the kep-statistics consumer would have kept for
`--cases` cases opened over three years (each with a channel, an outcome, stays in submitted and in progress, a
completion on time or late, open ones in the backlog and on someone's desk): generated per case with
generate_series and summed into the stat_* tables, as the consumer sums events, and the month rows from them
(`store.refresh_rollup`, as the rebuild does). Then times each report through `actors.statistics.store` (what the
HTTP routes call, with the same arguments: a page of at most MAX_PAGE_ROWS rows, one more asked to know of a next
page) and the JSON encoding of the page as the route does it, for one office over a year and for every office over
a month or a year: per office (`by=office`), and per office and procedure, its first page (and one in the middle,
from a cursor). Also the walk over every page of the largest answer, as information (many requests, not one).
Prints JSON lines with p50/p95 in ms; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import asyncpg
from pydantic import BaseModel, TypeAdapter

from actors.statistics import store
from infra.db import Limits, create_pool
from infra.migrate import migrate
from kepctl import services
from kepctl.stack import StackSettings
from messages.statistics import MAX_PAGE_ROWS, Breakdown, ComplianceRow, Period, StatusTimeRow, VolumeRow

DB = "kep_bench_statistics"
TODAY = date(2026, 12, 1)


async def build(pool: asyncpg.Pool[asyncpg.Record], cases: int, offices: int) -> float:
    started = time.perf_counter()
    await pool.execute(
        """INSERT INTO offices (id, code, kind, name_el)
           SELECT gen_random_uuid(), 'S-' || lpad(i::text, 3, '0'), 'kep', 'ΚΕΠ ' || i FROM generate_series(1, $1) i""",
        offices,
    )
    await pool.execute(
        """INSERT INTO procedures (id, mitos_id, title_el, payload, active, duration_days)
           SELECT gen_random_uuid(), 's' || i, 'Διαδικασία ' || i, '{}', true, 5 + i % 30
           FROM generate_series(1, 300) i"""
    )
    await pool.execute(
        """CREATE UNLOGGED TABLE bench_cases AS
           WITH o AS (SELECT array_agg(id) ids FROM offices), p AS (SELECT array_agg(id) ids FROM procedures)
           SELECT o.ids[1 + (random() * ($2 - 1))::int + 0 * i] AS office_id,
                  p.ids[1 + (random() * 299)::int + 0 * i] AS procedure_id,
                  (ARRAY['counter', 'phone', 'online', 'eugo'])[1 + (random() * 3)::int + 0 * i] AS channel,
                  $3::date - (random() * 1095)::int + 0 * i AS opened,
                  random() + 0 * i AS fate, random() + 0 * i AS pace, 'user-' || (i % 25) AS assignee
           FROM generate_series(1, $1) i, o, p""",
        cases,
        offices,
        TODAY,
    )
    # fate < 0.1 rejected, < 0.85 completed (late when pace > 0.7), else open (submitted, in progress, suspended)
    await pool.execute(
        """INSERT INTO stat_volumes (office_id, day, procedure_id, channel, opened, completed, rejected)
           SELECT office_id, day, procedure_id, channel, sum(o), sum(c), sum(r) FROM (
               SELECT office_id, opened AS day, procedure_id, channel, 1 AS o, 0 AS c, 0 AS r FROM bench_cases
               UNION ALL
               SELECT office_id, opened + (pace * 40)::int, procedure_id, channel, 0, (fate >= 0.1)::int,
                      (fate < 0.1)::int
               FROM bench_cases WHERE fate < 0.85) x
           GROUP BY 1, 2, 3, 4"""
    )
    await pool.execute(
        """INSERT INTO stat_status_time (office_id, day, procedure_id, status, stays, seconds, max_seconds)
           SELECT office_id, day, procedure_id, status, count(*), sum(s), max(s) FROM (
               SELECT office_id, opened + 1 AS day, procedure_id, 'submitted' AS status, pace * 86400 * 2 AS s
               FROM bench_cases
               UNION ALL
               SELECT office_id, opened + (pace * 40)::int, procedure_id, 'in_progress', pace * 86400 * 38
               FROM bench_cases WHERE fate < 0.85) x
           GROUP BY 1, 2, 3, 4"""
    )
    await pool.execute(
        """INSERT INTO stat_compliance (office_id, day, procedure_id, on_time, late, late_days, max_late_days)
           SELECT office_id, opened + (pace * 40)::int, procedure_id, sum((pace <= 0.7)::int),
                  sum((pace > 0.7)::int), sum(CASE WHEN pace > 0.7 THEN (pace * 20)::int ELSE 0 END),
                  max(CASE WHEN pace > 0.7 THEN (pace * 20)::int ELSE 0 END)
           FROM bench_cases WHERE fate >= 0.1 AND fate < 0.85 GROUP BY 1, 2, 3"""
    )
    await pool.execute(
        """INSERT INTO stat_backlog (office_id, status, cases)
           SELECT office_id, CASE WHEN fate < 0.1 THEN 'rejected' WHEN fate < 0.85 THEN 'completed'
                                  WHEN fate < 0.9 THEN 'submitted' WHEN fate < 0.97 THEN 'in_progress'
                                  ELSE 'suspended' END, count(*)
           FROM bench_cases GROUP BY 1, 2"""
    )
    await pool.execute(
        """INSERT INTO stat_workload (office_id, assignee, cases)
           SELECT office_id, assignee, count(*) FROM bench_cases WHERE fate >= 0.9 GROUP BY 1, 2"""
    )
    await pool.execute("DROP TABLE bench_cases")
    async with pool.acquire() as conn:
        await store.refresh_rollup(conn=conn)
    await pool.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


async def timed(repeats: int, call: Callable[[], Awaitable[Any]]) -> dict[str, float]:
    await call()  # warm
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        await call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()  # (this file is `statistics`: the standard module of that name is out of its reach)

    def at(share: float) -> float:
        return round(times[min(int(share * len(times)), len(times) - 1)], 2)

    return {"p50_ms": at(0.5), "p95_ms": at(0.95)}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--offices", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="reuse the database of a previous run")
    args = parser.parse_args()
    stack = StackSettings()
    pg = services.Postgres("postgres", stack)
    exists = pg.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DB}'").strip() == "1"  # noqa: S608 (a constant)
    pool = None
    if not (args.keep and exists):
        pg.psql(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        pg.psql(f'CREATE DATABASE "{DB}"')
        migrate(stack.database_url(DB))
    # building a million cases' rows takes minutes on a busy machine: no statement limit of a background worker's
    pool = await create_pool(stack.database_url(DB), 1, 4, limits=Limits(statement_s=1800, acquire_s=60, connect_s=10))
    if not (args.keep and exists):
        seconds = await build(pool, args.cases, args.offices)
        print(json.dumps({"built_cases": args.cases, "offices": args.offices, "seconds": round(seconds, 1)}))
    sizes = {t: await pool.fetchval(f"SELECT count(*) FROM {t}") for t in store.AGGREGATES}  # noqa: S608
    print(json.dumps({"rows": sizes}))
    offices = [r["id"] for r in await pool.fetch("SELECT id FROM offices")]
    year = (TODAY - timedelta(days=365), TODAY)
    month = (TODAY - timedelta(days=30), TODAY)

    def one() -> Any:
        return random.choice(offices)

    page = MAX_PAGE_ROWS + 1  # what the routes ask for: a page, and one row more to know there is another
    per_procedure, per_office = Breakdown.OFFICE_PROCEDURE, Breakdown.OFFICE
    encoders: dict[type[BaseModel], TypeAdapter[Any]] = {
        m: TypeAdapter(list[m])
        for m in (VolumeRow, StatusTimeRow, ComplianceRow)  # type: ignore[valid-type]
    }

    async def run(name: str, fn: Callable[[Any], Awaitable[list[Any]]], model: type[BaseModel] | None = None) -> None:
        rows: list[Any] = []

        async def call() -> Any:
            nonlocal rows
            async with pool.acquire() as conn:
                rows = await fn(conn)
            if model is not None:  # the route's answer: the page encoded by pydantic-core
                encoders[model].dump_json(rows[:MAX_PAGE_ROWS])

        timing = await timed(args.repeats, call)
        # rows: in the last call's page (a random office's, for one office)
        print(json.dumps({"query": name, "rows": min(len(rows), MAX_PAGE_ROWS), **timing}))

    async def middle(fn: Callable[..., Awaitable[list[Any]]], report: str) -> tuple[Any, ...]:
        """The cursor of the row in the middle of the whole answer (as a `Link` would carry it)."""
        async with pool.acquire() as conn:
            whole = await fn(conn, None, None)
        fields = store.keys(report, per_procedure)
        print(json.dumps({"whole": report, "rows": len(whole)}))
        return store.parse_after(store.cursor_of(whole[len(whole) // 2], fields), fields)

    def vol(office: bool, span: tuple[date, date], period: Period, by: Breakdown = per_procedure) -> Any:
        return lambda c, after=None, limit=page: store.volumes(
            conn=c, office_id=one() if office else None, procedure_id=None, start=span[0], end=span[1],
            period=period, by=by, after=after, limit=limit)  # fmt: skip

    def stay(office: bool, span: tuple[date, date], by: Breakdown = per_procedure) -> Any:
        return lambda c, after=None, limit=page: store.status_time(
            conn=c, office_id=one() if office else None, procedure_id=None, start=span[0], end=span[1], by=by,
            after=after, limit=limit)  # fmt: skip

    def comp(office: bool, span: tuple[date, date], by: Breakdown = per_procedure) -> Any:
        return lambda c, after=None, limit=page: store.compliance(
            conn=c, office_id=one() if office else None, procedure_id=None, start=span[0], end=span[1], by=by,
            after=after, limit=limit)  # fmt: skip

    await run("volumes office year month", vol(True, year, Period.MONTH), VolumeRow)
    await run("volumes office year day, page 1", vol(True, year, Period.DAY), VolumeRow)
    await run("volumes all month week by office", vol(False, month, Period.WEEK, per_office), VolumeRow)
    await run("volumes all month week, page 1", vol(False, month, Period.WEEK), VolumeRow)
    cursor = await middle(vol(False, month, Period.WEEK), "volumes")
    await run("volumes all month week, middle page", lambda c: vol(False, month, Period.WEEK)(c, cursor), VolumeRow)
    await run("volumes all year month by office", vol(False, year, Period.MONTH, per_office), VolumeRow)
    await run("volumes all year month, page 1", vol(False, year, Period.MONTH), VolumeRow)
    await run("status-time office year", stay(True, year), StatusTimeRow)
    await run("status-time all month by office", stay(False, month, per_office), StatusTimeRow)
    await run("status-time all month, page 1", stay(False, month), StatusTimeRow)
    cursor_st = await middle(stay(False, month), "status-time")
    await run("status-time all month, middle page", lambda c: stay(False, month)(c, cursor_st), StatusTimeRow)
    await run("status-time all year by office", stay(False, year, per_office), StatusTimeRow)
    await run("status-time all year, page 1", stay(False, year), StatusTimeRow)
    await run("compliance office year", comp(True, year), ComplianceRow)
    await run("compliance all month by office", comp(False, month, per_office), ComplianceRow)
    await run("compliance all month, page 1", comp(False, month), ComplianceRow)
    await run("compliance all year by office", comp(False, year, per_office), ComplianceRow)
    await run("compliance all year, page 1", comp(False, year), ComplianceRow)
    await run("backlog office", lambda c: store.backlog(conn=c, office_id=one()))
    await run("backlog all", lambda c: store.backlog(conn=c, office_id=None))
    await run("workload office", lambda c: store.workload(conn=c, office_id=one()))

    # information: every page of the largest answer, one request after another
    async def walk() -> None:
        fields = store.keys("volumes", per_procedure)
        after = None
        while True:
            async with pool.acquire() as conn:
                rows = await vol(False, month, Period.WEEK)(conn, after)
            encoders[VolumeRow].dump_json(rows[:MAX_PAGE_ROWS])
            if len(rows) <= MAX_PAGE_ROWS:
                return
            after = store.parse_after(store.cursor_of(rows[MAX_PAGE_ROWS - 1], fields), fields)

    print(json.dumps({"walk": "volumes all month week, every page", **await timed(5, walk)}))
    await pool.close()


if __name__ == "__main__":
    asyncio.run(main())

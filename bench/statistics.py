"""Statistics queries at a million cases: the aggregates of `--cases` generated cases, then p50/p95 per report.

    kep services start
    .venv/bin/python bench/statistics.py [--cases 1000000 --offices 40 --repeats 30]

Builds a database of its own (`kep_bench_statistics`, dropped and made again; `--keep` reuses it), migrated like
the real one, with offices, procedures and the aggregates that the kep-statistics consumer would have kept for
`--cases` cases opened over three years (each with a channel, an outcome, stays in submitted and in progress, a
completion on time or late, open ones in the backlog and on someone's desk): generated per case with
generate_series and summed into the stat_* tables, as the consumer sums events. Then times each report through
`actors.statistics.store` (what the HTTP routes call) for one office over a year and for every office over a
month. Prints JSON lines with p50/p95 in ms; asserts nothing.
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

from actors.statistics import store
from infra.db import create_pool
from infra.migrate import migrate
from kepctl import services
from kepctl.stack import StackSettings
from messages.statistics import Period

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
    pool = await create_pool(stack.database_url(DB), 1, 4)
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

    async def run(name: str, fn: Callable[[Any], Awaitable[Any]]) -> None:
        async def call() -> Any:
            async with pool.acquire() as conn:
                return await fn(conn)

        print(json.dumps({"query": name, **await timed(args.repeats, call)}))

    await run("volumes office year month", lambda c: store.volumes(
        conn=c, office_id=one(), procedure_id=None, start=year[0], end=year[1], period=Period.MONTH))  # fmt: skip
    await run("volumes office year day", lambda c: store.volumes(
        conn=c, office_id=one(), procedure_id=None, start=year[0], end=year[1], period=Period.DAY))  # fmt: skip
    await run("volumes all month week", lambda c: store.volumes(
        conn=c, office_id=None, procedure_id=None, start=month[0], end=month[1], period=Period.WEEK))  # fmt: skip
    await run("status-time office year", lambda c: store.status_time(
        conn=c, office_id=one(), procedure_id=None, start=year[0], end=year[1]))  # fmt: skip
    await run("status-time all month", lambda c: store.status_time(
        conn=c, office_id=None, procedure_id=None, start=month[0], end=month[1]))  # fmt: skip
    await run("compliance office year", lambda c: store.compliance(
        conn=c, office_id=one(), procedure_id=None, start=year[0], end=year[1]))  # fmt: skip
    await run("compliance all month", lambda c: store.compliance(
        conn=c, office_id=None, procedure_id=None, start=month[0], end=month[1]))  # fmt: skip
    await run("backlog office", lambda c: store.backlog(conn=c, office_id=one()))
    await run("backlog all", lambda c: store.backlog(conn=c, office_id=None))
    await run("workload office", lambda c: store.workload(conn=c, office_id=one()))
    await pool.close()


if __name__ == "__main__":
    asyncio.run(main())

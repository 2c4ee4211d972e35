"""The case list at a million cases: generation, then latency per query kind through the API's own search code.

    kep services start
    .venv/bin/python bench/case_search.py [--cases 1000000 --offices 40 --repeats 30]

Builds a database of its own (`kep_bench_cases`, dropped and made again; `--keep` reuses it), migrated like the
real one, with offices, procedures and `--cases` cases spread over a year (PostgreSQL's generate_series: a minute or
two). Then, in one office (cases / offices of them), times `actors.cases.search.search_cases` for each query kind
with varying values, and, as the peer, the same deep page fetched by OFFSET instead of the keyset cursor. Prints
JSON lines with p50/p99 in ms and the plan's access path; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg

from actors.cases.search import encode_cursor, search_cases
from infra.db import create_pool
from infra.migrate import migrate
from kepctl import services
from kepctl.stack import StackSettings
from messages.cases import CaseFilter, CaseStatus

DB = "kep_bench_cases"
FIRST = ["Ελένη", "Νίκος", "Γιώργος", "Μαρία", "Κωνσταντίνος", "Αικατερίνη", "Δημήτρης", "Σοφία", "Ιωάννης",
         "Αναστασία", "Παναγιώτης", "Βασιλική", "Χρήστος", "Ευαγγελία", "Αθανάσιος", "Δέσποινα"]  # fmt: skip
LAST = ["Παπαδοπούλου", "Παπαδάκης", "Οικονόμου", "Ιωάννου", "Γεωργίου", "Νικολάου", "Καραγιάννης", "Βασιλείου",
        "Αθανασίου", "Πετρόπουλος", "Χριστοδούλου", "Μαυρίδης", "Σταματίου", "Αλεξίου", "Κωνσταντίνου",
        "Δημητρίου", "Ζαχαρίου", "Λαμπράκης", "Τσακίρης", "Φωτίου"]  # fmt: skip
STATUSES = ["submitted", "in_progress", "in_progress", "suspended", "completed", "completed", "closed", "closed"]


async def build(pool: asyncpg.Pool[asyncpg.Record], cases: int, offices: int) -> float:
    started = time.perf_counter()
    await pool.execute(
        """INSERT INTO offices (id, code, kind, name_el)
           SELECT gen_random_uuid(), 'B-' || lpad(i::text, 3, '0'), 'kep', 'ΚΕΠ ' || i FROM generate_series(1, $1) i""",
        offices,
    )
    await pool.execute(
        """INSERT INTO procedures (id, mitos_id, title_el, payload, active)
           SELECT gen_random_uuid(), 'b' || i, (ARRAY['Έκδοση', 'Ανανέωση', 'Αντικατάσταση', 'Χορήγηση'])[1 + i % 4]
                  || ' ' || (ARRAY['διαβατηρίου', 'άδειας οδήγησης', 'πιστοποιητικού γέννησης',
                                   'επιδόματος θέρμανσης', 'κάρτας αναπηρίας', 'βεβαίωσης σπουδών'])[1 + i % 6]
                  || ' #' || i, '{}', true
           FROM generate_series(1, 300) i"""
    )

    def pick(param: int) -> str:  # a random element of the text[] bound to $param
        return f"(${param}::text[])[1 + floor(random() * array_length(${param}::text[], 1))::int]"

    await pool.execute(
        f"""
        WITH o AS (SELECT array_agg(id ORDER BY code) ids, array_agg(code ORDER BY code) codes FROM offices),
             p AS (SELECT array_agg(id) ids, array_agg(title_el) titles FROM procedures)
        INSERT INTO cases (id, office_id, year, seq, number, procedure_id, procedure_title, status, citizen,
                           assignee, due_at, created_by, created_at, updated_at)
        SELECT gen_random_uuid(), o.ids[1 + i % $2], 2026, i / $2 + 1,
               o.codes[1 + i % $2] || '/2026/' || lpad((i / $2 + 1)::text, 6, '0'),
               p.ids[1 + r.pi], p.titles[1 + r.pi], {pick(5)},
               jsonb_build_object('afm', lpad((100000000 + (i::bigint * 7919) % 899999999)::text, 9, '0'),
                                  'first_name', {pick(3)}, 'last_name', {pick(4)}),
               CASE WHEN random() < 0.2 THEN NULL ELSE 'user-' || (i % 12) END,
               r.created + interval '30 days', 'bench', r.created, r.created
        FROM generate_series(0, $1 - 1) i, o, p,
             -- `0 * i` ties the subquery to the row, so random() is drawn per case and not once
             LATERAL (SELECT (random() * 299)::int + 0 * i AS pi,
                             now() - random() * interval '365 days' + 0 * i * interval '1 s' AS created) r
        """,  # noqa: S608 (pick() makes only placeholders)
        cases,
        offices,
        FIRST,
        LAST,
        STATUSES,
        timeout=3600,  # a million rows and their trigram index outlast the pool's 30 s command timeout
    )
    await pool.execute("ANALYZE", timeout=600)
    return time.perf_counter() - started


async def timed(make: Callable[[int], Awaitable[Any]], repeats: int) -> dict[str, float]:
    await make(0)  # warm the cache as a working office would
    ms = []
    for i in range(repeats):
        started = time.perf_counter()
        await make(i + 1)
        ms.append((time.perf_counter() - started) * 1000)
    ms.sort()
    return {"p50_ms": round(statistics.median(ms), 2), "p99_ms": round(ms[int(0.99 * (len(ms) - 1))], 2)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--offices", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="reuse the database if it is there")
    args = parser.parse_args()
    stack = StackSettings()
    pg = services.Postgres("postgres", stack)
    exists = pg.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DB}'").strip() == "1"  # noqa: S608 (a constant)
    if not (args.keep and exists):
        pg.psql(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        pg.psql(f'CREATE DATABASE "{DB}"')
        migrate(stack.database_url(DB))
    pool = await create_pool(stack.database_url(DB), 1, 4)
    if not (args.keep and exists):
        seconds = await build(pool, args.cases, args.offices)
        print(json.dumps({"bench": "generate", "cases": args.cases, "seconds": round(seconds, 1)}), flush=True)
    size = await pool.fetchval("SELECT pg_size_pretty(pg_total_relation_size('cases'))")
    office: uuid.UUID = await pool.fetchval("SELECT id FROM offices ORDER BY code LIMIT 1")
    in_office = await pool.fetchval("SELECT count(*) FROM cases WHERE office_id = $1", office)
    print(json.dumps({"bench": "data", "cases_table": size, "cases_in_office": in_office}), flush=True)
    samples = await pool.fetch(
        "SELECT number, citizen->>'afm' AS afm FROM cases WHERE office_id = $1 ORDER BY random() LIMIT $2",
        office,
        args.repeats + 1,
    )
    rng = random.Random(1)
    now = datetime.now(UTC)
    kinds: dict[str, Callable[[int], CaseFilter]] = {
        "first_page": lambda i: CaseFilter(),
        "surname_fragment": lambda i: CaseFilter(q=rng.choice(LAST)[:6].lower()),
        "full_name_no_accents": lambda i: CaseFilter(q="παπαδακησ"),
        "afm": lambda i: CaseFilter(q=samples[i]["afm"]),
        "case_number": lambda i: CaseFilter(q=samples[i]["number"]),
        "overdue": lambda i: CaseFilter(overdue=True),
        "status_and_assignee": lambda i: CaseFilter(status=[CaseStatus.IN_PROGRESS], assignee=f"user-{i % 12}"),
        "procedure_title": lambda i: CaseFilter(q="θερμανσ"),
    }
    async with pool.acquire() as conn:
        for name, make in kinds.items():
            figures = await timed(lambda i, make=make: search_cases(conn=conn, f=make(i), office_id=office, now=now),  # type: ignore[misc]
                                  args.repeats)  # fmt: skip
            print(json.dumps({"bench": "case_search", "kind": name, "repeats": args.repeats} | figures), flush=True)

        # page 400 (10 000 rows in): the keyset cursor against OFFSET, side by side
        depth = min(10_000, in_office // 2)
        row = await conn.fetchrow(
            """SELECT created_at, id FROM cases WHERE office_id = $1
               ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT 1""",
            office,
            depth - 1,
        )
        cursor = encode_cursor(row["created_at"], row["id"])
        keyset = await timed(
            lambda i: search_cases(conn=conn, f=CaseFilter(cursor=cursor), office_id=office, now=now), args.repeats
        )
        offset = await timed(
            lambda i: conn.fetch(
                """SELECT id, number FROM cases WHERE office_id = $1
                   ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT 26""",
                office,
                depth,
            ),
            args.repeats,
        )
        ratio = round(offset["p50_ms"] / keyset["p50_ms"], 1)
        print(json.dumps({"bench": "deep_page", "rows_in": depth, "keyset": keyset, "offset": offset,
                          "offset_over_keyset_p50": ratio}), flush=True)  # fmt: skip

        # the trigram index against a sequential scan of the office's rows, same query
        q = "παπαδακησ"
        like = "c.search_text LIKE '%' || translate(kep_fold($2), 'ς', 'σ') || '%'"
        sql = f"SELECT c.id FROM cases c WHERE c.office_id = $1 AND {like} ORDER BY created_at DESC LIMIT 26"  # noqa: S608
        indexed = await timed(lambda i: conn.fetch(sql, office, q), args.repeats)
        plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + sql, office, q))
        async with conn.transaction():
            await conn.execute("SET LOCAL enable_bitmapscan = off")
            await conn.execute("SET LOCAL enable_indexscan = off")
            scan = await timed(lambda i: conn.fetch(sql, office, q), max(5, args.repeats // 5))
        print(json.dumps({"bench": "trigram_vs_scan", "query": q, "indexed": indexed, "no_index": scan,
                          "uses_trigram_index": "cases_search_trgm" in plan}), flush=True)  # fmt: skip
    await pool.close()


if __name__ == "__main__":
    asyncio.run(main())

"""ΚΣΗΔΕ's org chart kept in PostgreSQL (`kshde_units`, `kshde_sync`): synced from the service, searched by
administrators picking a procedure's recipients, and the check that a chosen recipient can still receive documents.

Units are never deleted. One that leaves the chart stays, inactive, so a recipient chosen before still resolves and
is refused by name (`require_recipient`) instead of vanishing. Search folds text the way `cases.search_text` and
`kep_fold` do (case, accents, final sigma) so `ΔΗΜΟΣ ΑΘΗΝΑΙΩΝ` finds «Δήμος Αθηναίων»; the trigram index of the
migration serves it."""

from __future__ import annotations

from typing import Any, Protocol

import asyncpg

from actors.delivery.adapters import RemoteUnavailable
from actors.delivery.configured import ConnFactory
from actors.delivery.kshde import OrgUnit
from infra.db import Conn, like_escape
from messages.errors import InvalidInput, NotFound
from messages.kshde import KshdeUnit, SyncReport

# A chart missing more than this share of the units in the last one is the service misbehaving (a truncated
# answer), not a reorganisation: applied, it would make most procedures' recipients invalid at once.
MAX_REMOVED_SHARE = 0.5
MAX_WORDS = 8  # of a search query; each one is a trigram lookup
RECIPIENT = "/kshde_recipient"  # the field a recipient is refused at, unless the caller names its own

_COLUMNS = "code, name, name_en, parent_code, is_active, is_sddd, departments, chart_version, synced_at, removed_at"


class ChartSource(Protocol):
    """Where a chart comes from: the ΚΣΗΔΕ adapter (`Kshde`)."""

    async def org_chart(self) -> tuple[int, list[OrgUnit]]: ...


class SuspectChart(RemoteUnavailable):
    """ΚΣΗΔΕ answered a chart that lost most of the units: nothing was applied; the next sync tries again."""

    title = "ΚΣΗΔΕ's org chart looks incomplete"


# What the chart says, as rows; `before` is read in the same snapshot as the upsert, so added and changed are
# counted against what was stored (a data-modifying CTE runs whether or not the main query reads it).
_APPLY = f"""
WITH incoming AS (
    SELECT * FROM jsonb_to_recordset($1::jsonb) AS u(
        code text, name text, name_en text, parent_code text, is_active boolean, is_sddd boolean, departments jsonb)
), before AS (
    SELECT k.* FROM kshde_units k JOIN incoming USING (code)
), written AS (
    INSERT INTO kshde_units AS k ({_COLUMNS})
    SELECT code, name, name_en, parent_code, is_active, is_sddd, departments, $2::integer, $3::timestamptz, NULL
    FROM incoming
    ON CONFLICT (code) DO UPDATE SET
        name = EXCLUDED.name, name_en = EXCLUDED.name_en, parent_code = EXCLUDED.parent_code,
        is_active = EXCLUDED.is_active, is_sddd = EXCLUDED.is_sddd, departments = EXCLUDED.departments,
        chart_version = EXCLUDED.chart_version, synced_at = EXCLUDED.synced_at, removed_at = NULL
    RETURNING k.code
)
SELECT count(*) FILTER (WHERE b.code IS NULL) AS added,
       count(*) FILTER (WHERE b.code IS NOT NULL AND (
           (b.name, b.name_en, b.parent_code, b.is_active, b.is_sddd, b.departments, b.removed_at IS NULL)
           IS DISTINCT FROM (i.name, i.name_en, i.parent_code, i.is_active, i.is_sddd, i.departments, true)
       )) AS changed
FROM incoming i LEFT JOIN before b USING (code)
"""  # noqa: S608 (the column list is a constant)


def _row(unit: OrgUnit) -> dict[str, Any]:
    return {
        "code": unit.code, "name": unit.name, "name_en": unit.name_en, "parent_code": unit.parent,
        "is_active": unit.active, "is_sddd": unit.sddd,
        "departments": [{"code": code, "name": name} for code, name in unit.departments],
    }  # fmt: skip


async def sync(connect: ConnFactory, kshde: ChartSource) -> SyncReport:
    """Reads the chart and applies it in one transaction: every unit upserted, units no longer in it made inactive.
    A chart with the stored version and as many units as stored changes no unit (only the time it was checked)."""
    version, fetched = await kshde.org_chart()  # before a connection is taken: none is held while ΚΣΗΔΕ answers
    units = list({u.code: u for u in fetched}.values())  # a tree names a node once; a repeat would fail the upsert
    codes = [u.code for u in units]
    async with connect() as conn, conn.transaction():
        state = await conn.fetchrow("SELECT version, units FROM kshde_sync FOR UPDATE")  # one sync at a time
        checked_at = await conn.fetchval("SELECT now()")
        previous = state["version"] if state else None
        if state is not None and previous == version and state["units"] == len(units):
            await conn.execute("UPDATE kshde_sync SET checked_at = $1", checked_at)
            return SyncReport(version=version, previous_version=previous, applied=False, units=len(units),
                              checked_at=checked_at)  # fmt: skip
        kept = await conn.fetchrow(
            """SELECT count(*) AS present, count(*) FILTER (WHERE NOT (code = ANY($1::text[]))) AS missing
               FROM kshde_units WHERE removed_at IS NULL""",
            codes,
        )
        present, missing = (kept["present"], kept["missing"]) if kept else (0, 0)
        if missing > MAX_REMOVED_SHARE * present:
            raise SuspectChart(f"ΚΣΗΔΕ's chart version {version} lacks {missing} of the {present} units of the "
                               "last one; nothing was applied")  # fmt: skip
        counts = await conn.fetchrow(_APPLY, [_row(u) for u in units], version, checked_at)
        removed = await conn.fetch(
            """UPDATE kshde_units SET is_active = false, removed_at = $2
               WHERE removed_at IS NULL AND NOT (code = ANY($1::text[])) RETURNING code""",
            codes,
            checked_at,
        )
        await conn.execute(
            "UPDATE kshde_sync SET version = $1, units = $2, synced_at = $3, checked_at = $3",
            version,
            len(units),
            checked_at,
        )
    return SyncReport(version=version, previous_version=previous, applied=True, units=len(units),
                      added=counts["added"], changed=counts["changed"], removed=len(removed),
                      checked_at=checked_at)  # fmt: skip


def _unit(row: asyncpg.Record) -> KshdeUnit:
    return KshdeUnit.model_validate(dict(row))


async def search(
    conn: Conn,
    q: str | None = None,
    *,
    only_sddd: bool = True,
    include_inactive: bool = False,
    limit: int = 100,
    after: str | None = None,
) -> list[KshdeUnit]:
    """Units whose code, Greek or English name holds every word of `q` (case, accents and final sigma aside), by
    name, at most `limit` after the unit `after` (the code of the last one seen: keyset paging). Callers that page
    ask for one more than they show, to know whether there is a next page."""
    args: list[Any] = []
    clauses: list[str] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    for word in (q or "").split()[:MAX_WORDS]:
        # the same folding as the generated column; LIKE '%…%' is served by the trigram index
        clauses.append(f"search_text LIKE '%' || translate(kep_fold({arg(like_escape(word))}), 'ς', 'σ') || '%'")
    if only_sddd:
        clauses.append("is_sddd")
    if not include_inactive:
        clauses.append("is_active")
    if after is not None:
        last = await conn.fetchrow("SELECT sort_name, code FROM kshde_units WHERE code = $1", after)
        if last is None:
            raise InvalidInput.at("/after", "not the code of a unit this list gave out", "cursor")
        clauses.append(f"(sort_name, code) > ({arg(last['sort_name'])}, {arg(last['code'])})")
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM kshde_units {where} ORDER BY sort_name, code LIMIT {arg(limit)}",  # noqa: S608 (fixed parts, bound values)
        *args,
    )
    return [_unit(r) for r in rows]


async def get(conn: Conn, code: str) -> KshdeUnit:
    """The unit, whether or not it is still in the chart; NotFound when it never was."""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM kshde_units WHERE code = $1", code)  # noqa: S608 (a constant)
    if row is None:
        raise NotFound(f"no ΚΣΗΔΕ unit {code!r}")
    return _unit(row)


async def require_recipient(conn: Conn, code: str, *, pointer: str = RECIPIENT) -> KshdeUnit:
    """The unit `code` if documents can be sent to it now: known, active and an SDDD node; else InvalidInput at
    `pointer` saying which of the three it is not."""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM kshde_units WHERE code = $1", code)  # noqa: S608 (a constant)
    if row is None:
        raise InvalidInput.at(pointer, f"{code!r} is not a unit of ΚΣΗΔΕ's org chart", "kshde_unknown")
    unit = _unit(row)
    if not unit.is_active:
        left = " (it left the org chart)" if unit.removed_at is not None else ""
        raise InvalidInput.at(pointer, f"ΚΣΗΔΕ unit {code!r} «{unit.name}» is inactive{left}", "kshde_inactive")
    if not unit.is_sddd:
        raise InvalidInput.at(pointer, f"ΚΣΗΔΕ unit {code!r} «{unit.name}» cannot receive documents (not an SDDD "
                              "node)", "kshde_not_sddd")  # fmt: skip
    return unit

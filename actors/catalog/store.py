"""Catalogue rows for the administrators' screens: filtered, sorted, paged lists, one procedure, local fields."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

from infra.db import Conn
from messages.catalog import AdminProcedure, ProcedureFilter, ProcedurePage, SyncRun
from messages.errors import NotFound

_COLUMNS = """p.id, p.mitos_id, p.title_el, p.title_en, p.description_el, p.description_en, p.owner_org,
              p.categories, p.eugo, p.mykeplive,
              p.duration_days, p.cost_min, p.cost_max, p.active, p.form_key, p.bpmn_process_key,
              p.mitos_updated_at, p.synced_at, p.removed_at"""
_SORT = {"title": "p.title_el", "mitos_id": "p.mitos_id", "updated": "p.mitos_updated_at"}


def _where(f: ProcedureFilter) -> tuple[str, list[Any]]:
    clauses, args = [], []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if not f.include_removed:
        clauses.append("p.removed_at IS NULL")
    if f.q:
        # accent- and case-insensitive substring over both titles; pg_trgm indexes kep_fold(title_el)
        pattern = arg(f"%{f.q}%")
        clauses.append(
            f"(kep_fold(p.title_el) LIKE kep_fold({pattern}) OR kep_fold(coalesce(p.title_en, '')) "
            f"LIKE kep_fold({pattern}) OR p.mitos_id = {arg(f.q.strip())})"
        )
    if f.category:
        clauses.append(f"{arg(f.category)} = ANY(p.categories)")
    for column in ("active", "eugo", "mykeplive"):
        value = getattr(f, column)
        if value is not None:
            clauses.append(f"p.{column} = {arg(value)}")
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", args


async def list_procedures(*, conn: Conn, f: ProcedureFilter) -> ProcedurePage:
    where, args = _where(f)
    total = await conn.fetchval(f"SELECT count(*) FROM procedures p {where}", *args)  # noqa: S608 (built from fixed parts)
    order = f"{_SORT[f.sort]} {'DESC' if f.descending else 'ASC'} NULLS LAST, p.id"
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM procedures p {where} ORDER BY {order} "  # noqa: S608
        f"LIMIT {f.size} OFFSET {(f.page - 1) * f.size}",
        *args,
    )
    return ProcedurePage(
        items=[AdminProcedure.model_validate(dict(r)) for r in rows], total=total, page=f.page, size=f.size
    )


async def get_procedure(*, conn: Conn, procedure_id: uuid.UUID) -> AdminProcedure:
    row = await conn.fetchrow(f"SELECT {_COLUMNS}, p.payload FROM procedures p WHERE p.id = $1", procedure_id)  # noqa: S608
    if row is None:
        raise NotFound(f"procedure {procedure_id} not found")
    return AdminProcedure.model_validate(dict(row))


async def set_active(*, conn: Conn, procedure_id: uuid.UUID, active: bool) -> AdminProcedure:
    found = await conn.fetchval(
        "UPDATE procedures SET active = $2 WHERE id = $1 AND (removed_at IS NULL OR NOT $2) RETURNING id",
        procedure_id,
        active,
    )
    if found is None:
        raise NotFound(f"procedure {procedure_id} not found or removed from Mitos")
    return await get_procedure(conn=conn, procedure_id=procedure_id)


def to_csv(page: ProcedurePage) -> str:
    out = io.StringIO()
    fields = ["id", "mitos_id", "title_el", "title_en", "owner_org", "categories", "eugo", "mykeplive", "active"]
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    for item in page.items:
        row = item.model_dump(mode="json")
        row["categories"] = "; ".join(item.categories)
        writer.writerow(row)
    return out.getvalue()


async def sync_runs(*, conn: Conn, limit: int) -> list[SyncRun]:
    rows = await conn.fetch("SELECT * FROM procedure_sync_runs ORDER BY started_at DESC LIMIT $1", limit)
    return [SyncRun.model_validate(dict(r)) for r in rows]

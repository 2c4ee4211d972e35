"""Catalogue rows for the administrators' screens: filtered, sorted, paged lists, one procedure, local fields."""

from __future__ import annotations

import io
import uuid
from typing import Any

from defusedcsv import csv

from actors.delivery import orgchart
from infra.db import Conn, like_escape
from messages.catalog import AdminProcedure, AuditEntry, ProcedureFilter, ProcedurePage, ProcedureSettings, SyncRun
from messages.errors import FieldError, InvalidInput, NotFound

_COLUMNS = """p.id, p.mitos_id, p.title_el, p.title_en, p.description_el, p.description_en, p.owner_org,
              p.categories, p.eugo, p.mykeplive,
              p.duration_days, p.cost_min, p.cost_max, p.active, p.form_key, p.bpmn_process_key,
              p.attachment_max_mb, p.attachment_types, p.delivery_recipient, p.eugo_min_loa,
              p.mitos_updated_at, p.synced_at, p.removed_at,
              array(SELECT o.office_id FROM procedure_offices o WHERE o.procedure_id = p.id ORDER BY o.office_id)
                  AS offices"""
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
        pattern = arg(f"%{like_escape(f.q)}%")
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


# the procedure's own columns that administrators set (offices are rows of their own)
_LOCAL = (
    "active",
    "form_key",
    "bpmn_process_key",
    "attachment_max_mb",
    "attachment_types",
    "delivery_recipient",
    "eugo_min_loa",
)


async def _settings_of(conn: Conn, procedure_id: uuid.UUID) -> tuple[dict[str, Any], bool] | None:
    row = await conn.fetchrow(
        """SELECT active, form_key, bpmn_process_key, attachment_max_mb, attachment_types, delivery_recipient,
                  eugo_min_loa, removed_at IS NOT NULL AS removed,
                  array(SELECT office_id::text FROM procedure_offices WHERE procedure_id = p.id ORDER BY 1) AS offices
           FROM procedures p WHERE id = $1 FOR UPDATE""",
        procedure_id,
    )
    if row is None:
        return None
    current = {k: row[k] for k in _LOCAL} | {"offices": list(row["offices"])}
    return current, bool(row["removed"])


async def _invalid_settings(conn: Conn, change: dict[str, Any], removed: bool) -> list[FieldError]:
    errors = []
    if change.get("active") and removed:
        errors.append(FieldError("/active", "removed from Mitos: it cannot be activated", "removed"))
    key = change.get("form_key")
    if key is not None and not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM forms WHERE key = $1)", key):
        errors.append(FieldError("/form_key", f"no form with key {key!r}", "unknown_form"))
    recipient = change.get("delivery_recipient")
    if recipient is not None:
        try:
            await orgchart.require_recipient(conn, recipient, pointer="/delivery_recipient")
        except InvalidInput as exc:
            errors += exc.errors
    if change.get("offices"):
        known = {
            r["id"] for r in await conn.fetch("SELECT id FROM offices WHERE id = ANY($1::uuid[])", change["offices"])
        }
        errors += [
            FieldError(f"/offices/{i}", f"no office {office}", "unknown_office")
            for i, office in enumerate(change["offices"])
            if office not in known
        ]
    return errors


async def update_settings(
    *, conn: Conn, procedure_id: uuid.UUID, settings: ProcedureSettings, actor: str, request_id: str | None
) -> AdminProcedure:
    """Change local fields in one transaction with an audit row of what changed; invalid input changes nothing."""
    change = settings.model_dump(exclude_unset=True, exclude={"reason"})
    async with conn.transaction():
        found = await _settings_of(conn, procedure_id)
        if found is None:
            raise NotFound(f"procedure {procedure_id} not found")
        current, removed = found
        if errors := await _invalid_settings(conn, change, removed):
            raise InvalidInput("the procedure's settings were not changed", errors)
        if "offices" in change:
            change["offices"] = sorted({str(o) for o in change["offices"] or []})  # null: every office again
        changed = {k: v for k, v in change.items() if current[k] != v}
        if changed:  # the same settings again: no write, no audit row
            await conn.execute(
                f"UPDATE procedures SET {', '.join(f'{k} = ${i + 2}' for i, k in enumerate(_LOCAL))} WHERE id = $1",  # noqa: S608
                procedure_id,
                *((current | changed)[k] for k in _LOCAL),
            )
            if "offices" in changed:
                await conn.execute("DELETE FROM procedure_offices WHERE procedure_id = $1", procedure_id)
                await conn.executemany(
                    "INSERT INTO procedure_offices (procedure_id, office_id) VALUES ($1, $2)",
                    [(procedure_id, uuid.UUID(o)) for o in changed["offices"]],
                )
            await conn.execute(
                """INSERT INTO admin_audit (entity, entity_id, action, actor, request_id, reason, old, new)
                   VALUES ('procedure', $1, 'settings', $2, $3, $4, $5, $6)""",
                str(procedure_id),
                actor,
                request_id,
                settings.reason,
                {k: current[k] for k in changed},
                changed,
            )
    return await get_procedure(conn=conn, procedure_id=procedure_id)


async def history(*, conn: Conn, procedure_id: uuid.UUID) -> list[AuditEntry]:
    rows = await conn.fetch(
        """SELECT action, actor, request_id, reason, old, new, at FROM admin_audit
           WHERE entity = 'procedure' AND entity_id = $1 ORDER BY id""",
        str(procedure_id),
    )
    return [AuditEntry.model_validate(dict(r)) for r in rows]


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

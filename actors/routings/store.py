"""Routing rules, the one owner of `routings`: the list (filters, pages), one rule, creation, changes and deletion,
each with its `admin_audit` row (entity `routing`) in the same transaction, invalid input changing nothing; the
coverage report of (procedure, region) pairs no rule covers; and the resolver (actors/routings/resolver.py).

A rule names an active office; a municipality rule names its region; two active rules never share a key (the
table's unique index; checked first to name the rule in the way)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from actors import audit
from actors.routings.resolver import resolve
from infra.db import Conn
from messages.catalog import AuditEntry
from messages.errors import InvalidInput, NotFound
from messages.routings import (
    REGIONS,
    Gap,
    GapFilter,
    GapPage,
    Routing,
    RoutingChange,
    RoutingFilter,
    RoutingNew,
    RoutingPage,
)

__all__ = ["change", "create", "delete", "gaps", "get_routing", "history", "list_routings", "resolve"]

FIELDS = ("office_id", "region", "municipality", "channel", "active", "note")
_READ = (
    "r.id, r.procedure_id, p.title_el AS procedure_title, r.office_id, o.code AS office_code, r.region, "
    "r.municipality, r.channel, r.specificity, r.active, r.note, r.created_at, r.updated_at"
)
_FROM = "routings r JOIN procedures p ON p.id = r.procedure_id JOIN offices o ON o.id = r.office_id"
_SAME_KEY = """
    SELECT id FROM routings
    WHERE procedure_id = $1 AND active AND id IS DISTINCT FROM $5
      AND coalesce(region, '') = coalesce($2, '')
      AND coalesce(municipality_key, '') = coalesce(translate(kep_fold($3), 'ς', 'σ'), '')
      AND coalesce(channel, '') = coalesce($4, '')"""


def _routing(row: asyncpg.Record) -> Routing:
    return Routing.model_validate(dict(row))


async def list_routings(*, conn: Conn, f: RoutingFilter) -> RoutingPage:
    args: list[Any] = []
    clauses: list[str] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    for column in ("procedure_id", "office_id", "region", "active"):
        if (value := getattr(f, column)) is not None:
            clauses.append(f"r.{column} = {arg(value)}")
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    total = await conn.fetchval(f"SELECT count(*) FROM routings r {where}", *args)  # noqa: S608 (fixed parts)
    rows = await conn.fetch(
        f"SELECT {_READ} FROM {_FROM} {where} "  # noqa: S608 (fixed parts)
        f"ORDER BY p.title_el, r.procedure_id, r.specificity, r.region NULLS FIRST, r.municipality NULLS FIRST, "
        f"r.channel NULLS FIRST, r.id LIMIT {f.size} OFFSET {(f.page - 1) * f.size}",
        *args,
    )
    return RoutingPage(items=[_routing(r) for r in rows], total=total, page=f.page, size=f.size)


async def get_routing(*, conn: Conn, routing_id: uuid.UUID) -> Routing:
    row = await conn.fetchrow(f"SELECT {_READ} FROM {_FROM} WHERE r.id = $1", routing_id)  # noqa: S608 (constants)
    if row is None:
        raise NotFound(f"routing rule {routing_id} not found")
    return _routing(row)


async def _check(conn: Conn, procedure_id: uuid.UUID, values: dict[str, Any], rule_id: uuid.UUID | None) -> None:
    """The rule as it would be: 422 with the pointer of what is wrong (checked in the writing transaction)."""
    if values["municipality"] is not None and values["region"] is None:
        raise InvalidInput.at("/region", "a municipality rule names the municipality's region", "region_required")
    office = await conn.fetchrow("SELECT code, active FROM offices WHERE id = $1", values["office_id"])
    if office is None:
        raise InvalidInput.at("/office_id", f"no office {values['office_id']}", "unknown_office")
    if values["active"] and not office["active"]:
        raise InvalidInput.at("/office_id", f"office {office['code']} is inactive", "inactive_office")
    if values["active"]:
        keys = (values["region"], values["municipality"], values["channel"])
        if (other := await conn.fetchval(_SAME_KEY, procedure_id, *keys, rule_id)) is not None:
            raise _duplicate(values, f"active rule {other} already routes this key")


def _duplicate(values: dict[str, Any], message: str = "another active rule routes this key") -> InvalidInput:
    """422 at the rule's most specific key (a rule written at the same moment is seen by the unique index)."""
    pointer = next((f"/{k}" for k in ("municipality", "region", "channel") if values[k] is not None), "/procedure_id")
    return InvalidInput.at(pointer, message, "duplicate_rule")


_audit = audit.Trail("routing").record


async def create(*, conn: Conn, new: RoutingNew, actor: str, request_id: str | None) -> Routing:
    """A new rule and its audit row (`create`); an unknown procedure or office, an inactive office, a municipality
    without its region, a key an active rule already routes: 422 with its pointer, nothing written."""
    routing_id = uuid.uuid4()
    values = new.model_dump(mode="json", include={"procedure_id", *FIELDS})
    try:
        async with conn.transaction():
            if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM procedures WHERE id = $1)", new.procedure_id):
                raise InvalidInput.at("/procedure_id", f"no procedure {new.procedure_id}", "unknown_procedure")
            await _check(conn, new.procedure_id, values, None)
            await conn.execute(
                """INSERT INTO routings (id, procedure_id, office_id, region, municipality, channel, active, note)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
                routing_id,
                new.procedure_id,
                new.office_id,
                new.region,
                new.municipality,
                new.channel,
                new.active,
                new.note,
            )
            await _audit(conn, routing_id, "create", actor, request_id, new.reason, {}, values)
    except asyncpg.UniqueViolationError as e:
        raise _duplicate(values) from e
    return await get_routing(conn=conn, routing_id=routing_id)


async def change(
    *, conn: Conn, routing_id: uuid.UUID, change: RoutingChange, actor: str, request_id: str | None
) -> Routing:
    """Change the fields sent with an audit row of what changed (`change`, `activate`, `deactivate`); the same
    values again write nothing; the rule as it would be is checked as a new one is."""
    sent = change.model_dump(mode="json", exclude_unset=True, exclude={"reason"})
    try:
        async with conn.transaction():
            row = await conn.fetchrow(
                "SELECT procedure_id, office_id::text, region, municipality, channel, active, note FROM routings "
                "WHERE id = $1 FOR NO KEY UPDATE",
                routing_id,
            )
            if row is None:
                raise NotFound(f"routing rule {routing_id} not found")
            current = {k: row[k] for k in FIELDS}
            changed = {k: v for k, v in sent.items() if current[k] != v}
            if not changed:
                return await get_routing(conn=conn, routing_id=routing_id)
            merged = current | changed
            await _check(conn, row["procedure_id"], merged, routing_id)
            sets = [f"{k} = ${i}" for i, k in enumerate(changed, start=2)]
            await conn.execute(
                f"UPDATE routings SET {', '.join(sets)}, updated_at = now() WHERE id = $1",  # noqa: S608 (fields)
                routing_id,
                *(uuid.UUID(v) if k == "office_id" else v for k, v in changed.items()),
            )
            active_only = changed.keys() == {"active"}
            action = ("activate" if changed["active"] else "deactivate") if active_only else "change"
            old = {k: current[k] for k in changed}
            await _audit(conn, routing_id, action, actor, request_id, change.reason, old, changed)
    except asyncpg.UniqueViolationError as e:
        raise _duplicate(merged) from e
    return await get_routing(conn=conn, routing_id=routing_id)


async def delete(*, conn: Conn, routing_id: uuid.UUID, reason: str | None, actor: str, request_id: str | None) -> None:
    """The rule is gone; its audit row (`delete`) keeps what it was."""
    async with conn.transaction():
        row = await conn.fetchrow(
            "DELETE FROM routings WHERE id = $1 RETURNING procedure_id::text, office_id::text, region, municipality, "
            "channel, active, note",
            routing_id,
        )
        if row is None:
            raise NotFound(f"routing rule {routing_id} not found")
        await _audit(conn, routing_id, "delete", actor, request_id, reason, dict(row), {})


async def history(*, conn: Conn, routing_id: uuid.UUID) -> list[AuditEntry]:
    """Every audited change of the rule, oldest first (a deleted rule's too)."""
    rows = await conn.fetch(
        """SELECT action, actor, request_id, reason, old, new, at FROM admin_audit
           WHERE entity = 'routing' AND entity_id = $1 ORDER BY id""",
        str(routing_id),
    )
    if not rows:
        raise NotFound(f"routing rule {routing_id} not found")
    return [AuditEntry.model_validate(dict(r)) for r in rows]


async def gaps(*, conn: Conn, f: GapFilter) -> GapPage:
    """(procedure, region) pairs of active procedures where a citizen of the region finds no office: no active
    rule with an active office for the region or the procedure's default, without a channel (or for `f.channel`).
    One query over procedures × the 13 regions; a municipality's rule covers only its municipality."""
    args: list[Any] = [list(REGIONS), f.channel]
    clauses = ["p.active"]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if f.procedure_id is not None:
        clauses.append(f"p.id = {arg(f.procedure_id)}")
    if f.region is not None:
        clauses.append(f"g.region = {arg(f.region)}")
    if f.eugo is not None:
        clauses.append(f"p.eugo = {arg(f.eugo)}")
    clauses.append(
        """NOT EXISTS (SELECT 1 FROM routings r JOIN offices o ON o.id = r.office_id AND o.active
                       WHERE r.procedure_id = p.id AND r.active AND r.municipality IS NULL
                         AND (r.region IS NULL OR r.region = g.region)
                         AND (r.channel IS NULL OR r.channel = $2::text))"""
    )
    body = "FROM procedures p CROSS JOIN unnest($1::text[]) WITH ORDINALITY AS g(region, n) WHERE " + " AND ".join(
        clauses
    )
    total = await conn.fetchval(f"SELECT count(*) {body}", *args)
    rows = await conn.fetch(
        f"SELECT p.id AS procedure_id, p.title_el AS procedure_title, p.mitos_id, p.eugo, g.region {body} "
        f"ORDER BY p.title_el, p.id, g.n LIMIT {f.size} OFFSET {(f.page - 1) * f.size}",
        *args,
    )
    return GapPage(items=[Gap.model_validate(dict(r)) for r in rows], total=total, page=f.page, size=f.size)

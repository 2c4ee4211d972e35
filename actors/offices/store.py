"""Offices as administrators and supervisors keep them: filtered, sorted, paged lists, one office, the org chart,
creation and changes, each change with its audit row in the same transaction.

What a caller sees is a `Sight`: administrators every office; staff the active offices (the public directory of
ΚΕΠ: addresses, contacts, hours, the chart) and their own office, active or not. An office out of sight is
NotFound, as one that does not exist.

The org chart has no cycles and no active office under an inactive one: a parent must exist and be active for an
active office, an office with active offices under it is not deactivated, and changes of parents or of the active
flag take one lock (`offices:chart`, also taken by the table's trigger that refuses cycles whoever writes), so two
changes cannot each pass the checks the other breaks."""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
from defusedcsv import csv

from actors import audit
from infra.db import Conn, like_escape
from messages.catalog import AuditEntry
from messages.errors import FieldError, InvalidInput, NotFound
from messages.offices import (
    Office,
    OfficeChange,
    OfficeFilter,
    OfficeNew,
    OfficeNode,
    OfficeOwnChange,
    OfficePage,
    OpeningHours,
)

MAX_WORDS = 8  # words of `q` that count
_CHART_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('offices:chart', 0))"
# the columns administrators set (created_at, updated_at and search_text are the table's)
FIELDS = (
    "code",
    "kind",
    "name_el",
    "name_en",
    "address",
    "postal_code",
    "municipality",
    "regional_unit",
    "region",
    "phone",
    "email",
    "website",
    "opening_hours",
    "parent_id",
    "active",
)
_COLUMNS = ", ".join(f"o.{f}" for f in FIELDS) + ", o.id, o.created_at, o.updated_at, p.code AS parent_code"
_FROM = "offices o LEFT JOIN offices p ON p.id = o.parent_id"
_LOCKED = f"SELECT {', '.join(FIELDS)} FROM offices WHERE id = $1 FOR NO KEY UPDATE"  # noqa: S608 (constants)


def _fold(sql: str) -> str:
    """Case, accents and final sigma aside, as the generated `search_text` is folded."""
    return f"translate(kep_fold({sql}), 'ς', 'σ')"


_SORT = {
    "code": "o.code",
    "name": _fold("o.name_el"),
    "municipality": _fold("o.municipality"),
    "region": _fold("o.region"),
    "updated": "o.updated_at",
}


@dataclass(frozen=True)
class Sight:
    """The offices a caller may see: every one, or the active ones and `own`."""

    everything: bool
    own: uuid.UUID | None = None

    def clause(self, arg: Any) -> str | None:
        return None if self.everything else f"(o.active OR o.id = {arg(self.own)})"


EVERYTHING = Sight(everything=True)


def _office(row: asyncpg.Record) -> Office:
    return Office.model_validate(dict(row))


def _where(f: OfficeFilter, sight: Sight) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if (seen := sight.clause(arg)) is not None:
        clauses.append(seen)
    for word in (f.q or "").split()[:MAX_WORDS]:
        # the same folding as the generated column; LIKE '%…%' is served by the trigram index
        clauses.append(f"o.search_text LIKE '%' || {_fold(arg(like_escape(word)))} || '%'")
    for column in ("region", "regional_unit", "municipality"):
        if (value := getattr(f, column)) is not None:
            clauses.append(f"{_fold(f'o.{column}')} = {_fold(arg(value.strip()))}")
    if f.kind is not None:
        clauses.append(f"o.kind = {arg(f.kind)}")
    if f.active is not None:
        clauses.append(f"o.active = {arg(f.active)}")
    if f.parent_id is not None:
        clauses.append(f"o.parent_id = {arg(f.parent_id)}")
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", args


async def list_offices(*, conn: Conn, f: OfficeFilter, sight: Sight) -> OfficePage:
    where, args = _where(f, sight)
    total = await conn.fetchval(f"SELECT count(*) FROM offices o {where}", *args)  # noqa: S608 (built from fixed parts)
    order = f"{_SORT[f.sort]} {'DESC' if f.descending else 'ASC'} NULLS LAST, o.code"
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM {_FROM} {where} ORDER BY {order} LIMIT {f.size} OFFSET {(f.page - 1) * f.size}",  # noqa: S608
        *args,
    )
    return OfficePage(items=[_office(r) for r in rows], total=total, page=f.page, size=f.size)


async def get_office(*, conn: Conn, office_id: uuid.UUID, sight: Sight = EVERYTHING) -> Office:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM {_FROM} WHERE o.id = $1", office_id)  # noqa: S608 (constants)
    if row is None or not (sight.everything or row["active"] or office_id == sight.own):
        raise NotFound(f"office {office_id} not found")
    return _office(row)


async def children(*, conn: Conn, office_id: uuid.UUID, sight: Sight) -> list[Office]:
    """The offices right under `office_id` that the caller sees, by code."""
    await get_office(conn=conn, office_id=office_id, sight=sight)
    args: list[Any] = [office_id]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    seen = sight.clause(arg)
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM {_FROM} WHERE o.parent_id = $1 {f'AND {seen}' if seen else ''} ORDER BY o.code",  # noqa: S608
        *args,
    )
    return [_office(r) for r in rows]


async def tree(*, conn: Conn, sight: Sight, root: uuid.UUID | None = None) -> list[OfficeNode]:
    """The org chart as the caller sees it: every office whose parent is out of sight (or none) is a root, each
    with the offices under it, by code; with `root`, that office's part of the chart alone."""
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    seen = sight.clause(arg)
    rows = await conn.fetch(
        f"SELECT o.id, o.parent_id, o.code, o.kind, o.name_el, o.name_en, o.active FROM offices o "  # noqa: S608
        f"{f'WHERE {seen}' if seen else ''} ORDER BY o.code",
        *args,
    )
    visible = {r["id"]: r for r in rows}
    under: dict[uuid.UUID | None, list[uuid.UUID]] = {}
    for r in rows:
        parent = r["parent_id"] if r["parent_id"] in visible else None
        under.setdefault(parent, []).append(r["id"])

    def node(office_id: uuid.UUID) -> OfficeNode:
        r = visible[office_id]
        fields = {k: r[k] for k in ("id", "code", "kind", "name_el", "name_en", "active")}
        return OfficeNode(**fields, children=[node(c) for c in under.get(office_id, [])])

    if root is not None:
        if root not in visible:
            raise NotFound(f"office {root} not found")
        return [node(root)]
    return [node(r) for r in under.get(None, [])]


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """Field values as JSON has them (what is compared, audited and answered): ids as text, hours as the model
    writes them (an office stored before hours existed has `{}`: closed every day, no note)."""
    out = dict(values)
    if "parent_id" in out:
        out["parent_id"] = None if out["parent_id"] is None else str(out["parent_id"])
    if "opening_hours" in out:
        out["opening_hours"] = OpeningHours.model_validate(out["opening_hours"]).model_dump(mode="json")
    return out


def _stored(column: str, value: Any) -> Any:
    return uuid.UUID(value) if column == "parent_id" and value is not None else value


async def _invalid(
    conn: Conn, office_id: uuid.UUID, before: dict[str, Any], after: dict[str, Any], changed: set[str]
) -> list[FieldError]:
    """What the schema cannot say: a code another office has, a parent that is unknown, makes a cycle or is
    inactive for an active office, an office deactivated with active offices under it."""
    errors: list[FieldError] = []
    if "code" in changed and await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM offices WHERE code = $1 AND id <> $2)", after["code"], office_id
    ):
        errors.append(FieldError("/code", f"another office has the code {after['code']}", "duplicate"))
    parent_id = _stored("parent_id", after["parent_id"])
    parent = None
    if parent_id is not None:
        parent = await conn.fetchrow("SELECT active FROM offices WHERE id = $1", parent_id)
        if parent is None:
            errors.append(FieldError("/parent_id", f"no office {parent_id}", "unknown_office"))
        elif "parent_id" in changed and await conn.fetchval(
            """WITH RECURSIVE up (id, parent_id, hops) AS (
                   SELECT id, parent_id, 0 FROM offices WHERE id = $1
                   UNION ALL
                   SELECT o.id, o.parent_id, up.hops + 1 FROM offices o JOIN up ON o.id = up.parent_id
                   WHERE up.hops < 1000)
               SELECT EXISTS (SELECT 1 FROM up WHERE id = $2)""",
            parent_id,
            office_id,
        ):
            errors.append(FieldError("/parent_id", "the office would be under itself in the org chart", "cycle"))
    if after["active"] and parent is not None and not parent["active"]:
        pointer = "/parent_id" if "parent_id" in changed else "/active"
        errors.append(FieldError(pointer, "an active office's parent must be active", "inactive_parent"))
    if before.get("active") and not after["active"]:
        under = await conn.fetch(
            "SELECT code FROM offices WHERE parent_id = $1 AND active ORDER BY code LIMIT 5", office_id
        )
        if under:
            codes = ", ".join(r["code"] for r in under)
            errors.append(
                FieldError(
                    "/active",
                    f"active offices are under it ({codes}): move or deactivate them first",
                    "active_children",
                )
            )
    return errors


_audit = audit.Trail("office").record


def _duplicate(code: str | None) -> InvalidInput:
    """A code taken by a concurrent writer between the check and the write: the transaction rolled back."""
    return InvalidInput.at("/code", f"another office has the code {code}", "duplicate")


async def create(*, conn: Conn, new: OfficeNew, actor: str, request_id: str | None) -> Office:
    """A new office and its audit row (`create`: every field, old `{}`); invalid input writes nothing."""
    office_id = uuid.uuid4()
    values = _plain(new.model_dump(mode="json", include=set(FIELDS)))
    try:
        async with conn.transaction():
            if values["parent_id"] is not None:
                await conn.execute(_CHART_LOCK)
            if errors := await _invalid(conn, office_id, {}, values, set(FIELDS)):
                raise InvalidInput("the office was not created", errors)
            await conn.execute(
                f"INSERT INTO offices (id, {', '.join(FIELDS)}) "  # noqa: S608 (constants)
                f"VALUES ($1, {', '.join(f'${i + 2}' for i in range(len(FIELDS)))})",
                office_id,
                *(_stored(k, values[k]) for k in FIELDS),
            )
            await _audit(conn, office_id, "create", actor, request_id, new.reason, {}, values)
    except asyncpg.UniqueViolationError:
        raise _duplicate(new.code) from None
    return await get_office(conn=conn, office_id=office_id)


async def change(
    *,
    conn: Conn,
    office_id: uuid.UUID,
    change: OfficeChange | OfficeOwnChange,
    actor: str,
    request_id: str | None,
    action: str | None = None,
) -> Office:
    """Change the fields sent in one transaction with an audit row of what changed (`change`, or `activate` /
    `deactivate` when only the active flag did); the same values again write nothing. Invalid input changes
    nothing. Which fields a caller may send is the caller's model: a supervisor's has only their own."""
    sent = _plain(change.model_dump(mode="json", exclude_unset=True, exclude={"reason"}))
    chart = bool({"parent_id", "active"} & sent.keys())
    try:
        async with conn.transaction():
            if chart:  # before the row's lock, in the order the trigger takes them
                await conn.execute(_CHART_LOCK)
            row = await conn.fetchrow(_LOCKED, office_id)
            if row is None:
                raise NotFound(f"office {office_id} not found")
            current = _plain(dict(row))
            changed = {k: v for k, v in sent.items() if current[k] != v}
            if not changed:
                return await get_office(conn=conn, office_id=office_id)
            if errors := await _invalid(conn, office_id, current, current | changed, set(changed)):
                raise InvalidInput("the office was not changed", errors)
            await conn.execute(
                f"UPDATE offices SET {', '.join(f'{k} = ${i + 2}' for i, k in enumerate(changed))} WHERE id = $1",  # noqa: S608
                office_id,
                *(_stored(k, v) for k, v in changed.items()),
            )
            if action is None:
                active_only = changed.keys() == {"active"}
                action = ("activate" if changed["active"] else "deactivate") if active_only else "change"
            await _audit(
                conn, office_id, action, actor, request_id, change.reason, {k: current[k] for k in changed}, changed
            )
    except asyncpg.UniqueViolationError:
        raise _duplicate(sent.get("code")) from None
    return await get_office(conn=conn, office_id=office_id)


async def history(*, conn: Conn, office_id: uuid.UUID) -> list[AuditEntry]:
    """Every audited change of the office, oldest first; NotFound for an office that never was."""
    await get_office(conn=conn, office_id=office_id)
    rows = await conn.fetch(
        """SELECT action, actor, request_id, reason, old, new, at FROM admin_audit
           WHERE entity = 'office' AND entity_id = $1 ORDER BY id""",
        str(office_id),
    )
    return [AuditEntry.model_validate(dict(r)) for r in rows]


CSV_FIELDS = [
    "id",
    "code",
    "kind",
    "name_el",
    "name_en",
    "address",
    "postal_code",
    "municipality",
    "regional_unit",
    "region",
    "phone",
    "email",
    "website",
    "opening_hours",
    "parent_code",
    "active",
]


def to_csv(offices: list[Office]) -> str:
    """One row per office; the hours as `mon 08:00–15:00; …` (cells that start like formulas are defused)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for office in offices:
        row = office.model_dump(mode="json")
        row["opening_hours"] = office.opening_hours.describe()
        writer.writerow(row)
    return out.getvalue()

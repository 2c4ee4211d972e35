"""Organisational positions: the list (filters, pages), one position with its holder now, creation and changes,
filling and vacating, who held it when (and the vacant periods between), the workload per position; every change
with its `admin_audit` row (entity `position`) in the same transaction, invalid input changing nothing.

What a caller sees is a `Sight`: administrators every position; staff their own office's. One out of sight is
NotFound, as one that does not exist. Who may write which is the router's rule."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from actors import audit
from infra.db import Conn
from messages.catalog import AuditEntry
from messages.errors import FieldError, InvalidInput, NotFound
from messages.positions import (
    OPEN_STATUSES,
    Fill,
    Holder,
    Period,
    Position,
    PositionChange,
    PositionFilter,
    PositionNew,
    PositionPage,
    Vacate,
    Workload,
)

FIELDS = ("title", "category", "grade", "branch", "active")
_READ = (
    "p.id, p.office_id, p.title, p.category, p.grade, p.branch, p.active, p.created_at, p.updated_at, "
    "a.subject AS h_subject, u.display_name AS h_name, lower(a.period) AS h_since, upper(a.period) AS h_until"
)
_FROM = (
    "positions p LEFT JOIN position_assignments a ON a.position_id = p.id AND a.period @> now() "
    "LEFT JOIN users u ON u.subject = a.subject"
)
_OVERLAP = {
    "position_assignments_no_overlap": FieldError(
        "/from", "the position is held by someone else in that period", "overlapping_assignment"
    ),
    "position_assignments_one_per_person": FieldError(
        "/subject", "the person holds another position of the office in that period", "overlapping_assignment"
    ),
}


@dataclass(frozen=True)
class Sight:
    """The positions a caller may see: every one, or those of `own` office."""

    everything: bool
    own: uuid.UUID | None = None

    def sees(self, office_id: uuid.UUID) -> bool:
        return self.everything or office_id == self.own


EVERYTHING = Sight(everything=True)


def _position(row: asyncpg.Record) -> Position:
    out = {k: row[k] for k in ("id", "office_id", "title", "category", "grade", "branch", "active")}
    out |= {"created_at": row["created_at"], "updated_at": row["updated_at"], "holder": None}
    if row["h_subject"] is not None:
        out["holder"] = Holder(
            subject=row["h_subject"],
            display_name=row["h_name"] or row["h_subject"],
            since=row["h_since"],
            until=row["h_until"],
        )
    return Position.model_validate(out)


async def list_positions(*, conn: Conn, f: PositionFilter, sight: Sight) -> PositionPage:
    args: list[Any] = []
    clauses: list[str] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if not sight.everything:
        clauses.append(f"p.office_id = {arg(sight.own)}")
    if f.office_id is not None:
        clauses.append(f"p.office_id = {arg(f.office_id)}")
    if f.active is not None:
        clauses.append(f"p.active = {arg(f.active)}")
    if f.vacant is not None:
        clauses.append("a.id IS NULL" if f.vacant else "a.id IS NOT NULL")
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    total = await conn.fetchval(f"SELECT count(*) FROM {_FROM} {where}", *args)  # noqa: S608 (fixed parts)
    rows = await conn.fetch(
        f"SELECT {_READ} FROM {_FROM} {where} ORDER BY p.title, p.id "  # noqa: S608 (fixed parts)
        f"LIMIT {f.size} OFFSET {(f.page - 1) * f.size}",
        *args,
    )
    return PositionPage(items=[_position(r) for r in rows], total=total, page=f.page, size=f.size)


async def get_position(*, conn: Conn, position_id: uuid.UUID, sight: Sight = EVERYTHING) -> Position:
    row = await conn.fetchrow(f"SELECT {_READ} FROM {_FROM} WHERE p.id = $1", position_id)  # noqa: S608
    if row is None or not sight.sees(row["office_id"]):
        raise NotFound(f"position {position_id} not found")
    return _position(row)


async def office_of(*, conn: Conn, position_id: uuid.UUID) -> uuid.UUID:
    office_id = await conn.fetchval("SELECT office_id FROM positions WHERE id = $1", position_id)
    if office_id is None:
        raise NotFound(f"position {position_id} not found")
    return uuid.UUID(str(office_id))


_audit = audit.Trail("position").record


async def create(*, conn: Conn, new: PositionNew, actor: str, request_id: str | None) -> Position:
    """A new position and its audit row (`create`); an unknown office writes nothing (422 at /office_id)."""
    position_id = uuid.uuid4()
    values = new.model_dump(mode="json", include={"office_id", *FIELDS})
    async with conn.transaction():
        if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM offices WHERE id = $1)", new.office_id):
            raise InvalidInput.at("/office_id", f"no office {new.office_id}", "unknown_office")
        await conn.execute(
            """INSERT INTO positions (id, office_id, title, category, grade, branch, active)
               VALUES ($1, $2, $3, $4, $5, $6, $7)""",
            position_id,
            new.office_id,
            new.title,
            new.category,
            new.grade,
            new.branch,
            new.active,
        )
        await _audit(conn, position_id, "create", actor, request_id, new.reason, {}, values)
    return await get_position(conn=conn, position_id=position_id)


async def change(
    *, conn: Conn, position_id: uuid.UUID, change: PositionChange, actor: str, request_id: str | None
) -> Position:
    """Change the fields sent with an audit row of what changed (`change`, `activate`, `deactivate`); the same
    values again write nothing; a held position is not deactivated (422 at /active: vacate it first)."""
    sent = change.model_dump(mode="json", exclude_unset=True, exclude={"reason"})
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT title, category, grade, branch, active FROM positions WHERE id = $1 FOR NO KEY UPDATE", position_id
        )
        if row is None:
            raise NotFound(f"position {position_id} not found")
        current = dict(row)
        changed = {k: v for k, v in sent.items() if current[k] != v}
        if not changed:
            return await get_position(conn=conn, position_id=position_id)
        if changed.get("active") is False and await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM position_assignments WHERE position_id = $1 "
            "AND (upper(period) IS NULL OR upper(period) > now()))",
            position_id,
        ):
            raise InvalidInput.at("/active", "the position is held or will be: vacate it first", "position_held")
        sets = [f"{k} = ${i}" for i, k in enumerate(changed, start=2)]
        await conn.execute(
            f"UPDATE positions SET {', '.join(sets)}, updated_at = now() WHERE id = $1",  # noqa: S608 (fields)
            position_id,
            *changed.values(),
        )
        active_only = changed.keys() == {"active"}
        action = ("activate" if changed["active"] else "deactivate") if active_only else "change"
        await _audit(
            conn, position_id, action, actor, request_id, change.reason, {k: current[k] for k in changed}, changed
        )
    return await get_position(conn=conn, position_id=position_id)


def _span(subject: str | None, lower: datetime | None, upper: datetime | None) -> dict[str, Any]:
    return {
        "subject": subject,
        "from": lower.isoformat() if lower else None,
        "to": upper.isoformat() if upper else None,
    }


async def fill(
    *, conn: Conn, position_id: uuid.UUID, fill: Fill, now: datetime, actor: str, request_id: str | None
) -> Position:
    """Fill the position with a member of its office in [from, to): whoever holds it at `from` leaves it then; an
    unknown user, one of another office or deactivated, a range backwards, an assignment that would overlap another
    of the position or of the person in the office: 422 with its pointer, nothing changed. Audited (`fill`)."""
    start = fill.from_ or now
    if fill.to is not None and fill.to <= start:
        raise InvalidInput.at("/to", "the assignment ends before it begins", "backwards_range")
    try:
        async with conn.transaction():
            position = await conn.fetchrow(
                "SELECT office_id, active FROM positions WHERE id = $1 FOR UPDATE", position_id
            )
            if position is None:
                raise NotFound(f"position {position_id} not found")
            user = await conn.fetchrow("SELECT office_id, active FROM users WHERE subject = $1", fill.subject)
            if user is None:
                raise InvalidInput.at("/subject", f"no user {fill.subject}", "unknown_user")
            if user["office_id"] != position["office_id"]:
                raise InvalidInput.at("/subject", "the user works for another office", "other_office")
            if not user["active"]:
                raise InvalidInput.at("/subject", "the user's account is deactivated", "inactive_user")
            if not position["active"]:
                raise InvalidInput.at("", "the position is inactive", "inactive_position")
            held = await conn.fetchrow(
                "SELECT id, subject, lower(period) AS lower, upper(period) AS upper FROM position_assignments "
                "WHERE position_id = $1 AND period @> $2::timestamptz",
                position_id,
                start,
            )
            old: dict[str, Any] = {}
            if held is not None:
                if held["lower"] == start:
                    raise InvalidInput.at(
                        "/from", "the position is held by someone else from that moment", "overlapping_assignment"
                    )
                old = _span(held["subject"], held["lower"], held["upper"])
                await conn.execute(
                    "UPDATE position_assignments SET period = tstzrange(lower(period), $2, '[)') WHERE id = $1",
                    held["id"],
                    start,
                )
            await conn.execute(
                """INSERT INTO position_assignments (id, position_id, office_id, subject, period)
                   VALUES ($1, $2, $3, $4, tstzrange($5, $6, '[)'))""",
                uuid.uuid4(),
                position_id,
                position["office_id"],
                fill.subject,
                start,
                fill.to,
            )
            await _audit(
                conn, position_id, "fill", actor, request_id, fill.reason, old, _span(fill.subject, start, fill.to)
            )
    except asyncpg.ExclusionViolationError as e:
        error = _OVERLAP.get(e.constraint_name or "", _OVERLAP["position_assignments_no_overlap"])
        raise InvalidInput("the position was not filled", [error]) from e
    return await get_position(conn=conn, position_id=position_id)


async def vacate(
    *, conn: Conn, position_id: uuid.UUID, vacate: Vacate, now: datetime, actor: str, request_id: str | None
) -> Position:
    """Whoever holds the position at `at` (now when left out) leaves it then (an assignment that had not begun is
    dropped); a vacant position is 422 at /at. Audited (`vacate`)."""
    at = vacate.at or now
    async with conn.transaction():
        if await conn.fetchval("SELECT id FROM positions WHERE id = $1 FOR UPDATE", position_id) is None:
            raise NotFound(f"position {position_id} not found")
        held = await conn.fetchrow(
            "SELECT id, subject, lower(period) AS lower, upper(period) AS upper FROM position_assignments "
            "WHERE position_id = $1 AND period @> $2::timestamptz",
            position_id,
            at,
        )
        if held is None:
            raise InvalidInput.at("/at", "nobody holds the position then", "vacant")
        if held["lower"] == at:
            await conn.execute("DELETE FROM position_assignments WHERE id = $1", held["id"])
        else:
            await conn.execute(
                "UPDATE position_assignments SET period = tstzrange(lower(period), $2, '[)') WHERE id = $1",
                held["id"],
                at,
            )
        await _audit(
            conn,
            position_id,
            "vacate",
            actor,
            request_id,
            vacate.reason,
            _span(held["subject"], held["lower"], held["upper"]),
            _span(held["subject"], held["lower"], at),
        )
    return await get_position(conn=conn, position_id=position_id)


async def occupancy(*, conn: Conn, position_id: uuid.UUID) -> list[Period]:
    """Who held the position when, oldest first, with the vacant periods between (from its creation on)."""
    created = await conn.fetchval("SELECT created_at FROM positions WHERE id = $1", position_id)
    if created is None:
        raise NotFound(f"position {position_id} not found")
    rows = await conn.fetch(
        """SELECT a.subject, u.display_name, lower(a.period) AS lower, upper(a.period) AS upper
           FROM position_assignments a LEFT JOIN users u ON u.subject = a.subject
           WHERE a.position_id = $1 ORDER BY lower(a.period)""",
        position_id,
    )
    out: list[Period] = []
    cursor: datetime | None = created
    for r in rows:
        if cursor is not None and r["lower"] > cursor:
            out.append(Period(subject=None, display_name=None, from_=cursor, to=r["lower"]))
        out.append(Period(subject=r["subject"], display_name=r["display_name"], from_=r["lower"], to=r["upper"]))
        cursor = r["upper"]
    if cursor is not None:
        out.append(Period(subject=None, display_name=None, from_=cursor, to=None))
    return out


async def workload(*, conn: Conn, office_id: uuid.UUID) -> list[Workload]:
    """The office's active positions, each with the open cases of the office assigned to its holder now: one
    grouped query."""
    rows = await conn.fetch(
        """SELECT p.id AS position_id, p.title, a.subject, u.display_name,
                  count(c.id) FILTER (WHERE c.status = $2) AS submitted,
                  count(c.id) FILTER (WHERE c.status = $3) AS in_progress,
                  count(c.id) FILTER (WHERE c.status = $4) AS suspended,
                  count(c.id) AS total
           FROM positions p
           LEFT JOIN position_assignments a ON a.position_id = p.id AND a.period @> now()
           LEFT JOIN users u ON u.subject = a.subject
           LEFT JOIN cases c ON c.assignee = a.subject AND c.office_id = p.office_id
                            AND c.status = ANY (ARRAY[$2, $3, $4]::text[])
           WHERE p.office_id = $1 AND p.active
           GROUP BY p.id, p.title, a.subject, u.display_name
           ORDER BY p.title, p.id""",
        office_id,
        *OPEN_STATUSES,
    )
    return [Workload.model_validate(dict(r)) for r in rows]


async def history(*, conn: Conn, position_id: uuid.UUID) -> list[AuditEntry]:
    """Every audited change of the position, oldest first."""
    rows = await conn.fetch(
        """SELECT action, actor, request_id, reason, old, new, at FROM admin_audit
           WHERE entity = 'position' AND entity_id = $1 ORDER BY id""",
        str(position_id),
    )
    return [AuditEntry.model_validate(dict(r)) for r in rows]

"""Service points: the list (filters, folded search, pages), one point, the nearest to a point (KNN on the GiST
index of `location`, within a radius, open at a time, offering a procedure), creation and changes with their
`admin_audit` row (entity `service_point`) in the same transaction.

What a caller sees is a `Sight`: administrators every service point; staff the active ones (public information)
and every one of their own office. One out of sight is NotFound, as one that does not exist. Who may write which
is the router's rule (`may_write`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from actors import audit
from infra.db import Conn, like_escape
from messages.catalog import AuditEntry
from messages.errors import FieldError, InvalidInput, NotFound
from messages.offices import WEEKDAYS, OpeningHours
from messages.service_points import (
    NearestQuery,
    NearServicePoint,
    ServicePoint,
    ServicePointChange,
    ServicePointFilter,
    ServicePointNew,
    ServicePointPage,
)

GREEK_TIME = ZoneInfo("Europe/Athens")
MAX_WORDS = 8
# the columns a writer sets (created_at, updated_at and search_text are the table's); location as lat/lon
FIELDS = (
    "office_id",
    "kind",
    "name_el",
    "name_en",
    "address",
    "postal_code",
    "municipality",
    "location",
    "opening_hours",
    "procedure_ids",
    "categories",
    "active",
)
_POINT = "ST_SetSRID(ST_MakePoint({lon}::float8, {lat}::float8), 4326)::geography"
_READ = (
    "s.id, s.office_id, o.code AS office_code, s.kind, s.name_el, s.name_en, s.address, s.postal_code, "
    "s.municipality, ST_Y(s.location::geometry) AS lat, ST_X(s.location::geometry) AS lon, s.opening_hours, "
    "s.procedure_ids, s.categories, s.active, s.created_at, s.updated_at"
)
_FROM = "service_points s JOIN offices o ON o.id = s.office_id"
_LOCKED = (
    "SELECT office_id, kind, name_el, name_en, address, postal_code, municipality, "
    "ST_Y(location::geometry) AS lat, ST_X(location::geometry) AS lon, opening_hours, procedure_ids, categories, "
    "active FROM service_points WHERE id = $1 FOR NO KEY UPDATE"
)


@dataclass(frozen=True)
class Sight:
    """The service points a caller may see: every one, or the active ones and those of `own` office."""

    everything: bool
    own: uuid.UUID | None = None

    def clause(self, arg: Any) -> str | None:
        return None if self.everything else f"(s.active OR s.office_id = {arg(self.own)})"


EVERYTHING = Sight(everything=True)


def _record(row: asyncpg.Record) -> dict[str, Any]:
    out = dict(row)
    out["location"] = {"lat": out.pop("lat"), "lon": out.pop("lon")}
    return out


def _point(row: asyncpg.Record) -> ServicePoint:
    return ServicePoint.model_validate(_record(row))


class _Args:
    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def _fold(sql: str) -> str:
    return f"translate(kep_fold({sql}), 'ς', 'σ')"


def _offers(arg: _Args, procedure_id: uuid.UUID) -> str:
    """Offers the procedure: by its id, or by one of its categories."""
    p = arg(procedure_id)
    return (
        f"({p}::uuid = ANY (s.procedure_ids) OR s.categories && "  # noqa: S608 (placeholders)
        f"coalesce((SELECT categories FROM procedures WHERE id = {p}), '{{}}'))"
    )


def open_at_clause(arg: _Args, when: datetime) -> str:
    """Open at `when` (a time without a zone is Greek time): an interval of that weekday, in Greek time, holds it."""
    local = when.replace(tzinfo=GREEK_TIME) if when.tzinfo is None else when.astimezone(GREEK_TIME)
    day, c = WEEKDAYS[local.weekday()], arg(local.strftime("%H:%M"))
    return (
        f"EXISTS (SELECT 1 FROM jsonb_array_elements(s.opening_hours -> {arg(day)}::text) i "  # noqa: S608
        f"WHERE (i ->> 'opens') COLLATE \"C\" <= {c}::text AND {c}::text < (i ->> 'closes') COLLATE \"C\")"
    )


async def list_points(*, conn: Conn, f: ServicePointFilter, sight: Sight) -> ServicePointPage:
    arg = _Args()
    clauses: list[str] = []
    if (seen := sight.clause(arg)) is not None:
        clauses.append(seen)
    for word in (f.q or "").split()[:MAX_WORDS]:
        clauses.append(f"s.search_text LIKE '%' || {_fold(arg(like_escape(word)))} || '%'")
    if f.office_id is not None:
        clauses.append(f"s.office_id = {arg(f.office_id)}")
    if f.kind is not None:
        clauses.append(f"s.kind = {arg(f.kind)}")
    if f.active is not None:
        clauses.append(f"s.active = {arg(f.active)}")
    if f.procedure_id is not None:
        clauses.append(_offers(arg, f.procedure_id))
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    total = await conn.fetchval(f"SELECT count(*) FROM {_FROM} {where}", *arg.values)  # noqa: S608 (fixed parts)
    rows = await conn.fetch(
        f"SELECT {_READ} FROM {_FROM} {where} ORDER BY {_fold('s.name_el')}, s.id "  # noqa: S608 (fixed parts)
        f"LIMIT {f.size} OFFSET {(f.page - 1) * f.size}",
        *arg.values,
    )
    return ServicePointPage(items=[_point(r) for r in rows], total=total, page=f.page, size=f.size)


def nearest_sql(q: NearestQuery, now: datetime | None = None) -> tuple[str, list[Any]]:
    """The nearest query: active points within the radius, open then, offering the procedure, nearest first by the
    GiST index's KNN order (`<->`), their distance on the spheroid."""
    arg = _Args()
    point = _POINT.format(lon=arg(q.lon), lat=arg(q.lat))
    clauses = ["s.active", f"ST_DWithin(s.location, {point}, {arg(q.radius_m)}::float8)"]
    when = q.open_at if q.open_at is not None else (now if q.open_now else None)
    if when is not None:
        clauses.append(open_at_clause(arg, when))
    if q.procedure_id is not None:
        clauses.append(_offers(arg, q.procedure_id))
    sql = (
        f"SELECT {_READ}, ST_Distance(s.location, {point}) AS distance_m FROM {_FROM} "  # noqa: S608 (fixed parts)
        f"WHERE {' AND '.join(clauses)} ORDER BY s.location <-> {point} LIMIT {q.limit}"
    )
    return sql, arg.values


async def nearest(*, conn: Conn, q: NearestQuery, now: datetime) -> list[NearServicePoint]:
    sql, args = nearest_sql(q, now)
    rows = await conn.fetch(sql, *args)
    return [NearServicePoint.model_validate(_record(r)) for r in rows]


async def get_point(*, conn: Conn, point_id: uuid.UUID, sight: Sight = EVERYTHING) -> ServicePoint:
    row = await conn.fetchrow(f"SELECT {_READ} FROM {_FROM} WHERE s.id = $1", point_id)  # noqa: S608 (constants)
    if row is None or not (sight.everything or row["active"] or row["office_id"] == sight.own):
        raise NotFound(f"service point {point_id} not found")
    return _point(row)


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """Field values as JSON has them (compared, audited, answered)."""
    out = dict(values)
    if "office_id" in out and out["office_id"] is not None:
        out["office_id"] = str(out["office_id"])
    if "procedure_ids" in out:
        out["procedure_ids"] = sorted({str(p) for p in out["procedure_ids"]})
    if "categories" in out:
        out["categories"] = sorted(set(out["categories"]))
    if "opening_hours" in out:
        out["opening_hours"] = OpeningHours.model_validate(out["opening_hours"]).model_dump(mode="json")
    if "location" in out:
        out["location"] = {"lat": float(out["location"]["lat"]), "lon": float(out["location"]["lon"])}
    return out


def _current(row: asyncpg.Record) -> dict[str, Any]:
    return _plain(_record(row))


async def _invalid(conn: Conn, after: dict[str, Any], changed: set[str]) -> list[FieldError]:
    """What the schema cannot say: an unknown office, unknown procedures."""
    errors: list[FieldError] = []
    if "office_id" in changed and not await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM offices WHERE id = $1)", uuid.UUID(after["office_id"])
    ):
        errors.append(FieldError("/office_id", f"no office {after['office_id']}", "unknown_office"))
    if "procedure_ids" in changed and after["procedure_ids"]:
        known = {
            str(r["id"])
            for r in await conn.fetch(
                "SELECT id FROM procedures WHERE id = ANY ($1::uuid[])", [uuid.UUID(p) for p in after["procedure_ids"]]
            )
        }
        for i, p in enumerate(after["procedure_ids"]):
            if p not in known:
                errors.append(FieldError(f"/procedure_ids/{i}", f"no procedure {p}", "unknown_procedure"))
    return errors


def _column(name: str, value: Any, arg: _Args) -> str:
    """The SQL value of a column (arguments appended to `arg`)."""
    if name == "location":
        return _POINT.format(lon=arg(value["lon"]), lat=arg(value["lat"]))
    if name == "office_id":
        return arg(uuid.UUID(value))
    if name == "procedure_ids":
        return f"{arg([uuid.UUID(p) for p in value])}::uuid[]"
    return arg(value)


_audit = audit.Trail("service_point").record


async def create(*, conn: Conn, new: ServicePointNew, actor: str, request_id: str | None) -> ServicePoint:
    """A new service point and its audit row (`create`: every field, old `{}`); invalid input writes nothing."""
    point_id = uuid.uuid4()
    values = _plain(new.model_dump(mode="json", include=set(FIELDS)))
    async with conn.transaction():
        if errors := await _invalid(conn, values, set(FIELDS)):
            raise InvalidInput("the service point was not created", errors)
        arg = _Args()
        arg(point_id)
        columns = [_column(k, values[k], arg) for k in FIELDS]
        await conn.execute(
            f"INSERT INTO service_points (id, {', '.join(FIELDS)}) VALUES ($1, {', '.join(columns)})",  # noqa: S608
            *arg.values,
        )
        await _audit(conn, point_id, "create", actor, request_id, new.reason, {}, values)
    return await get_point(conn=conn, point_id=point_id)


async def office_of(*, conn: Conn, point_id: uuid.UUID) -> uuid.UUID:
    """The office a service point belongs to (NotFound for none)."""
    office_id = await conn.fetchval("SELECT office_id FROM service_points WHERE id = $1", point_id)
    if office_id is None:
        raise NotFound(f"service point {point_id} not found")
    return uuid.UUID(str(office_id))


async def change(
    *, conn: Conn, point_id: uuid.UUID, change: ServicePointChange, actor: str, request_id: str | None
) -> ServicePoint:
    """Change the fields sent in one transaction with an audit row of what changed (`change`, or `activate` /
    `deactivate` when only the active flag did); the same values again write nothing; invalid input changes
    nothing."""
    sent = _plain(change.model_dump(mode="json", exclude_unset=True, exclude={"reason"}))
    async with conn.transaction():
        row = await conn.fetchrow(_LOCKED, point_id)
        if row is None:
            raise NotFound(f"service point {point_id} not found")
        current = _current(row)
        changed = {k: v for k, v in sent.items() if current[k] != v}
        if not changed:
            return await get_point(conn=conn, point_id=point_id)
        if errors := await _invalid(conn, current | changed, set(changed)):
            raise InvalidInput("the service point was not changed", errors)
        arg = _Args()
        arg(point_id)
        sets = [f"{k} = {_column(k, v, arg)}" for k, v in changed.items()]
        await conn.execute(
            f"UPDATE service_points SET {', '.join(sets)}, updated_at = now() WHERE id = $1",  # noqa: S608
            *arg.values,
        )
        active_only = changed.keys() == {"active"}
        action = ("activate" if changed["active"] else "deactivate") if active_only else "change"
        await _audit(
            conn, point_id, action, actor, request_id, change.reason, {k: current[k] for k in changed}, changed
        )
    return await get_point(conn=conn, point_id=point_id)


async def history(*, conn: Conn, point_id: uuid.UUID) -> list[AuditEntry]:
    """Every audited change of the service point, oldest first."""
    await get_point(conn=conn, point_id=point_id)
    rows = await conn.fetch(
        """SELECT action, actor, request_id, reason, old, new, at FROM admin_audit
           WHERE entity = 'service_point' AND entity_id = $1 ORDER BY id""",
        str(point_id),
    )
    return [AuditEntry.model_validate(dict(r)) for r in rows]

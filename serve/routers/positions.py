"""Organisational positions (οργανικές θέσεις) over HTTP: an office's positions, who holds each since when, who
held it when (and the vacant periods between), and the open cases per position.

Who sees what: administrators every office's positions; staff (employees, supervisors) their own office's; another
office's position is 404 to them. Who changes what: administrators any office's; a supervisor their own office's
(create, change, fill, vacate; creating one for another office, or another office's workload: 403); employees
nothing. Every change audited (`admin_audit`, entity `position`) in its transaction."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from actors.positions import store
from infra.db import Conn
from messages.catalog import AuditEntry
from messages.errors import Forbidden
from messages.positions import (
    Fill,
    Period,
    Position,
    PositionChange,
    PositionFilter,
    PositionNew,
    PositionPage,
    Vacate,
    Workload,
)
from messages.roles import Role
from serve.deps import AnyRole, Caller, Ctx, RequestId
from serve.office_writes import Writer, may_write
from serve.routers.cases import PROBLEMS
from serve.security import Principal

router = APIRouter(prefix="/api/positions", tags=["positions"], responses=PROBLEMS)


async def sight(caller: AnyRole) -> store.Sight:
    """What the caller may see (403 without a role of ours)."""
    if Role.ADMINISTRATOR in caller.roles:
        return store.EVERYTHING
    return store.Sight(everything=False, own=caller.office_id)


Seen = Annotated[store.Sight, Depends(sight)]


@router.get("", response_model=PositionPage)
async def list_positions(seen: Seen, ctx: Ctx, f: Annotated[PositionFilter, Query()]) -> PositionPage:
    """Positions by title with their holder now, a page at a time (`office_id`, `active`, `vacant` filters)."""
    async with ctx.pool.acquire() as conn:
        return await store.list_positions(conn=conn, f=f, sight=seen)


@router.get("/workload", response_model=list[Workload])
async def workload(
    seen: Seen, caller: Caller, ctx: Ctx, office_id: Annotated[uuid.UUID | None, Query()] = None
) -> list[Workload]:
    """The office's active positions (the caller's office when left out), each with the open cases (submitted,
    in progress, suspended) assigned to its holder now; another office's is 403 to staff."""
    office = office_id or caller.office_id
    if office is None or not seen.sees(office):
        raise Forbidden("staff read only their own office's positions")
    async with ctx.pool.acquire() as conn:
        return await store.workload(conn=conn, office_id=office)


@router.get("/{position_id}", response_model=Position)
async def get_position(position_id: uuid.UUID, seen: Seen, ctx: Ctx) -> Position:
    async with ctx.pool.acquire() as conn:
        return await store.get_position(conn=conn, position_id=position_id, sight=seen)


@router.get("/{position_id}/occupancy", response_model=list[Period])
async def occupancy(position_id: uuid.UUID, seen: Seen, ctx: Ctx) -> list[Period]:
    """Who held the position when, oldest first, and the vacant periods between (`subject` null)."""
    async with ctx.pool.acquire() as conn:
        await store.get_position(conn=conn, position_id=position_id, sight=seen)
        return await store.occupancy(conn=conn, position_id=position_id)


@router.post("", response_model=Position, status_code=201)
async def create_position(
    body: PositionNew, caller: Writer, ctx: Ctx, request_id: RequestId, response: Response
) -> Position:
    """A new position (a supervisor's only for their own office: 403 otherwise). Audited."""
    may_write(caller, body.office_id, "positions")
    async with ctx.pool.acquire() as conn:
        position = await store.create(conn=conn, new=body, actor=caller.subject, request_id=request_id)
    response.headers["Location"] = f"/api/positions/{position.id}"
    return position


async def _writable(conn: Conn, caller: Principal, seen: store.Sight, position_id: uuid.UUID) -> None:
    await store.get_position(conn=conn, position_id=position_id, sight=seen)  # 404 where it is not to be seen
    may_write(caller, await store.office_of(conn=conn, position_id=position_id), "positions")


@router.patch("/{position_id}", response_model=Position)
async def change_position(
    position_id: uuid.UUID, body: PositionChange, caller: Writer, seen: Seen, ctx: Ctx, request_id: RequestId
) -> Position:
    """Title, category, grade, branch, active; a field left out stays. Audited."""
    async with ctx.pool.acquire() as conn:
        await _writable(conn, caller, seen, position_id)
        return await store.change(
            conn=conn, position_id=position_id, change=body, actor=caller.subject, request_id=request_id
        )


@router.post("/{position_id}/fill", response_model=Position)
async def fill(
    position_id: uuid.UUID, body: Fill, caller: Writer, seen: Seen, ctx: Ctx, request_id: RequestId
) -> Position:
    """Fill the position with a member of its office from `from` (now) until `to` (open); the previous holder
    leaves it then. Audited."""
    async with ctx.pool.acquire() as conn:
        await _writable(conn, caller, seen, position_id)
        return await store.fill(
            conn=conn,
            position_id=position_id,
            fill=body,
            now=datetime.now(UTC),
            actor=caller.subject,
            request_id=request_id,
        )


@router.post("/{position_id}/vacate", response_model=Position)
async def vacate(
    position_id: uuid.UUID,
    caller: Writer,
    seen: Seen,
    ctx: Ctx,
    request_id: RequestId,
    body: Vacate | None = None,
) -> Position:
    """Whoever holds the position at `at` (now) leaves it. Audited."""
    async with ctx.pool.acquire() as conn:
        await _writable(conn, caller, seen, position_id)
        return await store.vacate(
            conn=conn,
            position_id=position_id,
            vacate=body or Vacate(),
            now=datetime.now(UTC),
            actor=caller.subject,
            request_id=request_id,
        )


@router.get("/{position_id}/history", response_model=list[AuditEntry])
async def history(position_id: uuid.UUID, caller: Writer, seen: Seen, ctx: Ctx) -> list[AuditEntry]:
    """Every change of the position, oldest first (administrators; a supervisor their own office's)."""
    async with ctx.pool.acquire() as conn:
        await _writable(conn, caller, seen, position_id)
        return await store.history(conn=conn, position_id=position_id)

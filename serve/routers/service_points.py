"""Service points over HTTP: where citizens are served, and the nearest ones open to a point.

Who sees what: every member of staff the active service points (public information: where, when, what) and all of
their own office's; administrators every one. Who changes what: administrators any service point; a supervisor
those of their own office (creating one for another office, changing or moving one of another office: 403);
employees nothing. Every change audited (`admin_audit`, entity `service_point`).

No geocoder is reachable from here: "nearest to this address" is asked with the address's point (`lat`, `lon`,
WGS84); the list's `q` matches words of the stored addresses, municipalities and postal codes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from actors.service_points import store
from messages.catalog import AuditEntry
from messages.roles import Role
from messages.service_points import (
    NearestQuery,
    NearServicePoint,
    ServicePoint,
    ServicePointChange,
    ServicePointFilter,
    ServicePointNew,
    ServicePointPage,
    ServicePointReason,
)
from serve.deps import AnyRole, Ctx, RequestId
from serve.office_writes import Writer, may_write
from serve.routers.cases import PROBLEMS

router = APIRouter(prefix="/api/service-points", tags=["service points"], responses=PROBLEMS)


async def sight(caller: AnyRole) -> store.Sight:
    """What the caller may see (403 without a role of ours)."""
    if Role.ADMINISTRATOR in caller.roles:
        return store.EVERYTHING
    return store.Sight(everything=False, own=caller.office_id)


Seen = Annotated[store.Sight, Depends(sight)]


@router.get("", response_model=ServicePointPage)
async def list_points(seen: Seen, ctx: Ctx, f: Annotated[ServicePointFilter, Query()]) -> ServicePointPage:
    """Service points by name, a page at a time, with the `total` of the filtered list."""
    async with ctx.pool.acquire() as conn:
        return await store.list_points(conn=conn, f=f, sight=seen)


@router.get("/nearest", response_model=list[NearServicePoint])
async def nearest(seen: Seen, ctx: Ctx, q: Annotated[NearestQuery, Query()]) -> list[NearServicePoint]:
    """The active service points nearest to (`lat`, `lon`) within `radius_m` (at most 100 km), nearest first, at
    most `limit` (≤ 50), each with `distance_m`; `open_at` (or `open_now=true`): only those open then (Greek time
    for a time without a zone); `procedure_id`: only those offering it (by id or by one of its categories)."""
    async with ctx.pool.acquire() as conn:
        return await store.nearest(conn=conn, q=q, now=datetime.now(UTC))


@router.get("/{point_id}", response_model=ServicePoint)
async def get_point(point_id: uuid.UUID, seen: Seen, ctx: Ctx) -> ServicePoint:
    async with ctx.pool.acquire() as conn:
        return await store.get_point(conn=conn, point_id=point_id, sight=seen)


@router.post("", response_model=ServicePoint, status_code=201)
async def create_point(
    body: ServicePointNew, caller: Writer, ctx: Ctx, request_id: RequestId, response: Response
) -> ServicePoint:
    """A new service point (a supervisor's only for their own office: 403 otherwise); an unknown office or
    procedure is 422 with its pointer. Audited."""
    may_write(caller, body.office_id, "service points")
    async with ctx.pool.acquire() as conn:
        point = await store.create(conn=conn, new=body, actor=caller.subject, request_id=request_id)
    response.headers["Location"] = f"/api/service-points/{point.id}"
    return point


@router.patch("/{point_id}", response_model=ServicePoint)
async def change_point(
    point_id: uuid.UUID, body: ServicePointChange, caller: Writer, seen: Seen, ctx: Ctx, request_id: RequestId
) -> ServicePoint:
    """Any field; a field left out stays, null clears what may be empty; the same values again change nothing.
    A supervisor changes only their own office's, and moves none to another office (403). Audited."""
    async with ctx.pool.acquire() as conn:
        await store.get_point(conn=conn, point_id=point_id, sight=seen)  # 404 where it is not to be seen
        may_write(caller, await store.office_of(conn=conn, point_id=point_id), "service points")
        if body.office_id is not None:
            may_write(caller, body.office_id, "service points")
        return await store.change(
            conn=conn, point_id=point_id, change=body, actor=caller.subject, request_id=request_id
        )


@router.post("/{point_id}/activate", response_model=ServicePoint)
async def activate(
    point_id: uuid.UUID,
    caller: Writer,
    seen: Seen,
    ctx: Ctx,
    request_id: RequestId,
    body: ServicePointReason | None = None,
) -> ServicePoint:
    change = ServicePointChange(active=True, reason=body.reason if body else None)
    return await change_point(point_id, change, caller, seen, ctx, request_id)


@router.post("/{point_id}/deactivate", response_model=ServicePoint)
async def deactivate(
    point_id: uuid.UUID,
    caller: Writer,
    seen: Seen,
    ctx: Ctx,
    request_id: RequestId,
    body: ServicePointReason | None = None,
) -> ServicePoint:
    change = ServicePointChange(active=False, reason=body.reason if body else None)
    return await change_point(point_id, change, caller, seen, ctx, request_id)


@router.get("/{point_id}/history", response_model=list[AuditEntry])
async def history(point_id: uuid.UUID, caller: Writer, seen: Seen, ctx: Ctx) -> list[AuditEntry]:
    """Every change of the service point, oldest first (administrators; a supervisor their own office's)."""
    async with ctx.pool.acquire() as conn:
        await store.get_point(conn=conn, point_id=point_id, sight=seen)
        may_write(caller, await store.office_of(conn=conn, point_id=point_id), "service points")
        return await store.history(conn=conn, point_id=point_id)

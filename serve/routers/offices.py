"""Offices and the org chart over HTTP.

Who sees what: administrators every office, active or not, and each office's history. Employees and supervisors
see the active offices (the directory a ΚΕΠ refers citizens by, published anyway: addresses, contacts, hours, the
chart) and their own office even when it is inactive; an inactive office of another is 404 to them, as a missing
one. Who changes what: administrators any field of any office (`/api/admin/offices…`); a supervisor only their own
office's hours, phone, e-mail and website (`PATCH /api/offices/{id}`: another office's is 403, a field that is not
theirs 422 with its pointer); employees nothing."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from actors.offices import store
from messages.catalog import AuditEntry
from messages.errors import Forbidden
from messages.offices import (
    Office,
    OfficeChange,
    OfficeFilter,
    OfficeNew,
    OfficeNode,
    OfficeOwnChange,
    OfficePage,
    OfficeReason,
)
from messages.roles import Role
from serve.deps import Admin, AnyRole, Ctx, RequestId, SupervisorOrAdmin
from serve.routers.cases import PROBLEMS

router = APIRouter(tags=["offices"], responses=PROBLEMS)


async def sight(caller: AnyRole) -> store.Sight:
    """What the caller may see of the offices (403 without a role of ours)."""
    if Role.ADMINISTRATOR in caller.roles:
        return store.EVERYTHING
    return store.Sight(everything=False, own=caller.office_id)


Seen = Annotated[store.Sight, Depends(sight)]
Filters = Annotated[OfficeFilter, Query()]


@router.get("/api/offices", response_model=OfficePage)
async def list_offices(seen: Seen, ctx: Ctx, f: Filters) -> OfficePage:
    """Offices by `sort`, a page at a time, with the `total` of the filtered list."""
    async with ctx.pool.acquire() as conn:
        return await store.list_offices(conn=conn, f=f, sight=seen)


@router.get("/api/offices.csv", response_class=Response)
async def export_csv(seen: Seen, ctx: Ctx, f: Filters) -> Response:
    """The filtered list, every page of it."""
    everything = f.model_copy(update={"page": 1, "size": 1_000_000})
    async with ctx.pool.acquire() as conn:
        page = await store.list_offices(conn=conn, f=everything, sight=seen)
    headers = {"Content-Disposition": 'attachment; filename="offices.csv"'}
    return Response(store.to_csv(page.items), media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/api/offices/tree", response_model=list[OfficeNode])
async def org_chart(
    seen: Seen,
    ctx: Ctx,
    root: Annotated[uuid.UUID | None, Query(description="only this office's part of the chart")] = None,
) -> list[OfficeNode]:
    """The org chart: the offices at the top (no parent, or one out of the caller's sight), each with those under
    it, by code."""
    async with ctx.pool.acquire() as conn:
        return await store.tree(conn=conn, sight=seen, root=root)


@router.get("/api/offices/{office_id}", response_model=Office)
async def get_office(office_id: uuid.UUID, seen: Seen, ctx: Ctx) -> Office:
    async with ctx.pool.acquire() as conn:
        return await store.get_office(conn=conn, office_id=office_id, sight=seen)


@router.get("/api/offices/{office_id}/children", response_model=list[Office])
async def office_children(office_id: uuid.UUID, seen: Seen, ctx: Ctx) -> list[Office]:
    """The offices right under this one in the org chart, by code."""
    async with ctx.pool.acquire() as conn:
        return await store.children(conn=conn, office_id=office_id, sight=seen)


@router.patch("/api/offices/{office_id}", response_model=Office)
async def change_own_office(
    office_id: uuid.UUID, body: OfficeOwnChange, caller: SupervisorOrAdmin, seen: Seen, ctx: Ctx, request_id: RequestId
) -> Office:
    """A supervisor's change of their own office: opening hours, phone, e-mail, website (any other field is 422
    with its pointer; administrators change those at `PATCH /api/admin/offices/{id}`). Audited."""
    async with ctx.pool.acquire() as conn:
        await store.get_office(conn=conn, office_id=office_id, sight=seen)  # 404 where it is not to be seen
        if Role.ADMINISTRATOR not in caller.roles and caller.office_id != office_id:
            raise Forbidden("a supervisor changes only their own office")
        return await store.change(
            conn=conn, office_id=office_id, change=body, actor=caller.subject, request_id=request_id
        )


@router.post("/api/admin/offices", response_model=Office, status_code=201)
async def create_office(body: OfficeNew, admin: Admin, ctx: Ctx, request_id: RequestId, response: Response) -> Office:
    """A new office; a duplicate code, an unknown or inactive parent are 422 with their pointers. Audited."""
    async with ctx.pool.acquire() as conn:
        office = await store.create(conn=conn, new=body, actor=admin.subject, request_id=request_id)
    response.headers["Location"] = f"/api/offices/{office.id}"
    return office


@router.patch("/api/admin/offices/{office_id}", response_model=Office)
async def change_office(
    office_id: uuid.UUID, body: OfficeChange, admin: Admin, ctx: Ctx, request_id: RequestId
) -> Office:
    """Any field; a field left out stays, null clears what may be empty. A parent that would put the office under
    itself, an unknown one, an inactive one for an active office, a duplicate code, deactivating an office with
    active offices under it: 422 with pointers, nothing changed. The same values again change nothing. Audited."""
    async with ctx.pool.acquire() as conn:
        return await store.change(
            conn=conn, office_id=office_id, change=body, actor=admin.subject, request_id=request_id
        )


@router.post("/api/admin/offices/{office_id}/activate", response_model=Office)
async def activate(
    office_id: uuid.UUID, admin: Admin, ctx: Ctx, request_id: RequestId, body: OfficeReason | None = None
) -> Office:
    change = OfficeChange(active=True, reason=body.reason if body else None)
    return await change_office(office_id, change, admin, ctx, request_id)


@router.post("/api/admin/offices/{office_id}/deactivate", response_model=Office)
async def deactivate(
    office_id: uuid.UUID, admin: Admin, ctx: Ctx, request_id: RequestId, body: OfficeReason | None = None
) -> Office:
    change = OfficeChange(active=False, reason=body.reason if body else None)
    return await change_office(office_id, change, admin, ctx, request_id)


@router.get("/api/admin/offices/{office_id}/history", response_model=list[AuditEntry])
async def office_history(office_id: uuid.UUID, _: Admin, ctx: Ctx) -> list[AuditEntry]:
    """Every change of the office, oldest first: action, who, why, the request, old and new values."""
    async with ctx.pool.acquire() as conn:
        return await store.history(conn=conn, office_id=office_id)

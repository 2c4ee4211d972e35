"""Routings over HTTP: the rules naming the competent office per procedure, municipality or region and channel
(administrators keep them under /api/admin/routings, with the report of regions no rule covers), and the
explanation of which rule answers a question and why (`GET /api/routings/explain`, for staff and administrators).

Who: administrators read and change the rules; employees and supervisors only ask the explanation, which names
the office and the rules looked at: the rules are the central administration's configuration, not an office's, so
a supervisor has nothing of theirs to edit there. Every change audited (`admin_audit`, entity `routing`)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from actors.routings import store
from messages.catalog import AuditEntry
from messages.routings import (
    GapFilter,
    GapPage,
    Resolution,
    RouteQuery,
    Routing,
    RoutingChange,
    RoutingFilter,
    RoutingNew,
    RoutingPage,
    RoutingReason,
)
from serve.deps import Admin, AnyRole, Ctx, RequestId
from serve.routers.cases import PROBLEMS

router = APIRouter(tags=["routings"], responses=PROBLEMS)
ADMIN = "/api/admin/routings"


@router.get("/api/routings/explain", response_model=Resolution)
async def explain(caller: AnyRole, ctx: Ctx, q: Annotated[RouteQuery, Query()]) -> Resolution:
    """The competent office for the procedure, municipality (with its region), channel: the rule that names it,
    the keys it matched, a sentence saying why, and each rule looked at with why it lost; 409 where none does."""
    async with ctx.pool.acquire() as conn:
        return await store.resolve(
            conn, procedure_id=q.procedure_id, municipality=q.municipality, region=q.region, channel=q.channel
        )


@router.get(ADMIN, response_model=RoutingPage)
async def list_routings(_: Admin, ctx: Ctx, f: Annotated[RoutingFilter, Query()]) -> RoutingPage:
    """Rules by procedure, least specific first (`procedure_id`, `office_id`, `region`, `active` filters)."""
    async with ctx.pool.acquire() as conn:
        return await store.list_routings(conn=conn, f=f)


@router.get(f"{ADMIN}/gaps", response_model=GapPage)
async def gaps(_: Admin, ctx: Ctx, f: Annotated[GapFilter, Query()]) -> GapPage:
    """(procedure, region) pairs of active procedures where a citizen finds no office: no active rule with an
    active office for the region nor a default, without a channel (with `channel`: for it or none); `eugo=true`
    only the procedures offered through EUGO."""
    async with ctx.pool.acquire() as conn:
        return await store.gaps(conn=conn, f=f)


@router.get(f"{ADMIN}/{{routing_id}}", response_model=Routing)
async def get_routing(routing_id: uuid.UUID, _: Admin, ctx: Ctx) -> Routing:
    async with ctx.pool.acquire() as conn:
        return await store.get_routing(conn=conn, routing_id=routing_id)


@router.post(ADMIN, response_model=Routing, status_code=201)
async def create_routing(
    body: RoutingNew, caller: Admin, ctx: Ctx, request_id: RequestId, response: Response
) -> Routing:
    """A new rule (no municipality, region nor channel: the procedure's default). Audited."""
    async with ctx.pool.acquire() as conn:
        routing = await store.create(conn=conn, new=body, actor=caller.subject, request_id=request_id)
    response.headers["Location"] = f"{ADMIN}/{routing.id}"
    return routing


@router.patch(f"{ADMIN}/{{routing_id}}", response_model=Routing)
async def change_routing(
    routing_id: uuid.UUID, body: RoutingChange, caller: Admin, ctx: Ctx, request_id: RequestId
) -> Routing:
    """Office, region, municipality, channel, active, note; a field left out stays. Audited."""
    async with ctx.pool.acquire() as conn:
        return await store.change(
            conn=conn, routing_id=routing_id, change=body, actor=caller.subject, request_id=request_id
        )


@router.delete(f"{ADMIN}/{{routing_id}}", status_code=204, response_class=Response)
async def delete_routing(
    routing_id: uuid.UUID, caller: Admin, ctx: Ctx, request_id: RequestId, body: RoutingReason | None = None
) -> Response:
    """The rule is gone (`active: false` keeps it for later instead); its audit keeps what it was."""
    async with ctx.pool.acquire() as conn:
        await store.delete(
            conn=conn,
            routing_id=routing_id,
            reason=body.reason if body else None,
            actor=caller.subject,
            request_id=request_id,
        )
    return Response(status_code=204)


@router.get(f"{ADMIN}/{{routing_id}}/history", response_model=list[AuditEntry])
async def history(routing_id: uuid.UUID, _: Admin, ctx: Ctx) -> list[AuditEntry]:
    """Every change of the rule, oldest first (a deleted rule's too)."""
    async with ctx.pool.acquire() as conn:
        return await store.history(conn=conn, routing_id=routing_id)

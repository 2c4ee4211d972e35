"""Documents from our ΚΣΗΔΕ inbox that matched no case: supervisors and administrators list them and attach each to
the case it concerns.

Who sees what: a document that matched no case belongs to no office (ΚΣΗΔΕ addresses the organisation's sector,
not an office), so every supervisor and administrator sees the list of them (what routing needs: sender, subject,
protocol numbers, file names; the contents only once on a case). Attached, it is the case's office's as the case's
other documents are: it leaves that list, a supervisor sees it among `state=attached` only if the case is their
office's, and another office's supervisor can neither see nor attach it (404). A supervisor attaches only to a case
of their own office (422 at `/case_id` otherwise); administrators to any."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from actors.delivery import incoming
from messages.delivery import AttachIncoming, IncomingDocument
from messages.roles import Role
from serve import paging
from serve.deps import Ctx, SupervisorOrAdmin
from serve.routers.cases import PROBLEMS
from serve.security import Principal

router = APIRouter(prefix="/api/kshde/inbox", tags=["ΚΣΗΔΕ inbox"], responses=PROBLEMS)
ProtocolNo = Annotated[str, Path(min_length=1, max_length=100, description="the document's ΚΣΗΔΕ protocol number")]


def _office_scope(caller: Principal) -> uuid.UUID | None:
    """None for an administrator (every office); a supervisor's own office."""
    return None if Role.ADMINISTRATOR.value in caller.roles else caller.require_office()


@router.get("", response_model=list[IncomingDocument])
async def list_incoming(
    caller: SupervisorOrAdmin,
    ctx: Ctx,
    request: Request,
    response: Response,
    state: Annotated[
        Literal["unmatched", "attached"], Query(description="waiting for a case, or attached to one")
    ] = "unmatched",
    limit: paging.Limit = paging.DEFAULT_LIMIT,
    after: Annotated[int | None, Query(ge=0, description="the last local receipt number seen")] = None,
) -> list[IncomingDocument]:
    """In the order they were protocolled here, a page at a time (the next one in the `Link` header)."""
    office = _office_scope(caller)
    async with ctx.pool.acquire() as conn:
        found = await incoming.listed(conn, attached=state == "attached", office_id=office if state == "attached"
                                      else None, limit=limit + 1, after=after)  # fmt: skip
    items, headers = paging.page(request, found, limit, lambda d: str(d.local_receipt_no))
    response.headers.update(headers)
    return items


@router.post("/{protocol_no:path}/attach", response_model=IncomingDocument)
async def attach_incoming(
    protocol_no: ProtocolNo, body: AttachIncoming, caller: SupervisorOrAdmin, ctx: Ctx
) -> IncomingDocument:
    """The document (its latest version held, or `version`) and its attachments become the case's documents, with a
    note naming the sender and who chose the case. Again to the same case: the same answer, nothing twice; to
    another case: 409."""
    office = _office_scope(caller)
    deps = incoming.InboxDeps(ctx.pool, ctx.cases, ctx.store)
    return await incoming.attach_by_hand(deps, protocol_no=protocol_no, version=body.version, case_id=body.case_id,
                                         office_scope=office, by=caller.subject, by_name=caller.name)  # fmt: skip

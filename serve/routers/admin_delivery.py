"""Administrators and the delivery readers: a pass of each now, and the mailbox replies that named no case of ours
(kept in `mailbox_replies`, never dropped)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from actors.delivery import tracking
from messages.delivery import MailboxReply, ReadReport
from serve import paging
from serve.deps import Admin, Ctx
from serve.routers.cases import PROBLEMS

router = APIRouter(prefix="/api/admin/delivery", tags=["admin: delivery"], responses=PROBLEMS)


@router.post("/read", response_model=ReadReport)
async def read_now(_: Admin, ctx: Ctx) -> ReadReport:
    """A pass of each reader now: the mailbox postings' statuses, the citizens' replies, our ΚΣΗΔΕ inbox; what
    each did, which were skipped (not configured) and which failed (and why)."""
    report: ReadReport = await ctx.delivery_reader.call("read")
    return report


@router.get("/replies", response_model=list[MailboxReply])
async def unmatched_replies(
    _: Admin,
    ctx: Ctx,
    request: Request,
    response: Response,
    limit: paging.Limit = paging.DEFAULT_LIMIT,
    after: Annotated[str | None, Query(min_length=1, max_length=200, description="the last reply id seen")] = None,
) -> list[MailboxReply]:
    """Citizens' mailbox replies whose reference named no case of ours (or a case of another citizen), oldest first."""
    async with ctx.pool.acquire() as conn:
        found = await tracking.unmatched_replies(conn, limit=limit + 1, after=after)
    items, headers = paging.page(request, found, limit, lambda reply: reply.id)
    response.headers.update(headers)
    return items

"""News for staff: every member of staff reads what is published now for their office and roles and marks it read;
administrators write news for any offices, supervisors for their own office only (422 at `/offices` otherwise);
the author and administrators change or withdraw one and see who read it (`receipts`) and its history. An
announcement not shown to the caller is 404 to them, for reading and for marking alike."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from actors.news import store
from messages.catalog import AuditEntry
from messages.news import NewsChange, NewsDraft, NewsItem, NewsRead, NewsState, Receipts, Staff, Withdrawal
from serve import paging
from serve.deps import AnyRole, Ctx, RequestId, SupervisorOrAdmin
from serve.routers.cases import PROBLEMS
from serve.security import Principal

router = APIRouter(prefix="/api/news", tags=["news"], responses=PROBLEMS)
After = Annotated[uuid.UUID | None, Query(description="the id of the last announcement seen (the next page)")]


def _staff(caller: Principal) -> Staff:
    """The caller as the store knows them (the route's signature admitted their role)."""
    return Staff(subject=caller.subject, office_id=caller.office_id, roles=caller.roles)


@router.get("", response_model=list[NewsItem])
async def news_feed(
    caller: AnyRole,
    ctx: Ctx,
    request: Request,
    response: Response,
    unread: Annotated[
        bool | None, Query(description="true: only what the caller has not read; false: only read")
    ] = None,
    limit: paging.Limit = paging.DEFAULT_LIMIT,
    after: After = None,
) -> list[NewsItem]:
    """What is published now for the caller's office and roles: pinned first, then newest first, each with the
    caller's `read` flag; the next page in the `Link` header."""
    reader = _staff(caller)
    async with ctx.pool.acquire() as conn:
        found = await store.feed(conn=conn, reader=reader, unread=unread, limit=limit + 1, after=after)
    items, headers = paging.page(request, found, limit, lambda item: str(item.id))
    response.headers.update(headers)
    return items


@router.get("/written", response_model=list[NewsItem])
async def written_news(
    caller: SupervisorOrAdmin,
    ctx: Ctx,
    request: Request,
    response: Response,
    state: Annotated[NewsState | None, Query(description="only those in this state now")] = None,
    limit: paging.Limit = paging.DEFAULT_LIMIT,
    after: After = None,
) -> list[NewsItem]:
    """For writers: administrators every announcement, supervisors their own, in any state, newest written first."""
    writer = _staff(caller)
    async with ctx.pool.acquire() as conn:
        found = await store.written(conn=conn, by=writer, state=state, limit=limit + 1, after=after)
    items, headers = paging.page(request, found, limit, lambda item: str(item.id))
    response.headers.update(headers)
    return items


@router.post("", status_code=201, response_model=NewsItem)
async def publish_news(body: NewsDraft, caller: SupervisorOrAdmin, ctx: Ctx, request_id: RequestId) -> NewsItem:
    """A new announcement (audited). Supervisors name their own office as the only target."""
    writer = _staff(caller)
    async with ctx.pool.acquire() as conn:
        return await store.create(conn=conn, draft=body, by=writer, request_id=request_id)


@router.get("/{news_id}", response_model=NewsItem)
async def get_news(news_id: uuid.UUID, caller: AnyRole, ctx: Ctx) -> NewsItem:
    """One announcement shown to the caller now; its author and administrators see it in any state."""
    reader = _staff(caller)
    async with ctx.pool.acquire() as conn:
        return await store.get(conn=conn, news_id=news_id, caller=reader)


@router.patch("/{news_id}", response_model=NewsItem)
async def change_news(
    news_id: uuid.UUID, body: NewsChange, caller: SupervisorOrAdmin, ctx: Ctx, request_id: RequestId
) -> NewsItem:
    """Its author or an administrator changes it (audited; the same values again change nothing); withdrawn: 409."""
    writer = _staff(caller)
    async with ctx.pool.acquire() as conn:
        return await store.change(conn=conn, news_id=news_id, change=body, by=writer, request_id=request_id)


@router.post("/{news_id}/withdraw", response_model=NewsItem)
async def withdraw_news(
    news_id: uuid.UUID, caller: SupervisorOrAdmin, ctx: Ctx, request_id: RequestId, body: Withdrawal | None = None
) -> NewsItem:
    """Shown to nobody from now on; kept with its receipts and history. Again: the same answer."""
    writer = _staff(caller)
    reason = body.reason if body else None
    async with ctx.pool.acquire() as conn:
        return await store.withdraw(conn=conn, news_id=news_id, reason=reason, by=writer, request_id=request_id)


@router.post("/{news_id}/read", response_model=NewsRead)
async def mark_read(news_id: uuid.UUID, caller: AnyRole, ctx: Ctx) -> NewsRead:
    """The caller read it; again changes nothing (the first time stays)."""
    reader = _staff(caller)
    async with ctx.pool.acquire() as conn:
        return await store.mark_read(conn=conn, news_id=news_id, reader=reader)


@router.get("/{news_id}/receipts", response_model=Receipts)
async def news_receipts(news_id: uuid.UUID, caller: SupervisorOrAdmin, ctx: Ctx) -> Receipts:
    """For its author and administrators: who read it when, and who of the active staff it targets has not."""
    writer = _staff(caller)
    async with ctx.pool.acquire() as conn:
        return await store.receipts(conn=conn, news_id=news_id, by=writer)


@router.get("/{news_id}/history", response_model=list[AuditEntry])
async def news_history(news_id: uuid.UUID, caller: SupervisorOrAdmin, ctx: Ctx) -> list[AuditEntry]:
    """For its author and administrators: every change, who made it, when, why."""
    writer = _staff(caller)
    async with ctx.pool.acquire() as conn:
        return await store.history(conn=conn, news_id=news_id, by=writer)

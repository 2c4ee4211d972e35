"""FastAPI dependencies: the replica's context, the authenticated caller, the request id."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

import ray
import structlog
from fastapi import Depends, Header, Request

from messages.errors import KepError, Unauthorized
from serve.context import Context
from serve.security import Principal

_open_lock = asyncio.Lock()


async def get_context(request: Request) -> Context:
    state = request.app.state
    if getattr(state, "ctx", None) is None:
        async with _open_lock:
            if getattr(state, "ctx", None) is None:
                state.ctx = await Context.open(state.settings)
    ctx: Context = state.ctx
    return ctx


Ctx = Annotated[Context, Depends(get_context)]


async def get_principal(ctx: Ctx, authorization: Annotated[str | None, Header()] = None) -> Principal:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthorized("a bearer access token is required")
    principal = await ctx.verifier.verify(authorization[7:].strip())
    structlog.contextvars.bind_contextvars(user=principal.subject)
    return principal


Caller = Annotated[Principal, Depends(get_principal)]


def get_request_id(x_request_id: Annotated[str | None, Header(max_length=200)] = None) -> str:
    rid = x_request_id or uuid.uuid4().hex
    structlog.contextvars.bind_contextvars(request_id=rid)
    return rid


RequestId = Annotated[str, Depends(get_request_id)]


async def call_actor(ref: Any) -> Any:
    """Await an actor call, giving back our own error instead of Ray's wrapper."""
    try:
        return await ref
    except ray.exceptions.RayTaskError as exc:
        if isinstance(exc.cause, KepError):
            raise exc.cause from None
        raise

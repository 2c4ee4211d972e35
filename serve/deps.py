"""FastAPI dependencies: the replica's context, the authenticated caller, the request id."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Annotated

import structlog
from fastapi import Depends, Header

from infra.settings import Settings
from messages.errors import ConfigurationError, Unauthorized
from serve.context import Context
from serve.security import Principal


@dataclass
class _Replica:
    """Per-process state: Serve pickles the FastAPI app into the replica, so state lives here, not on the app."""

    settings: Settings | None = None
    ctx: Context | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


replica = _Replica()


def configure(settings: Settings) -> None:
    replica.settings = settings
    replica.ctx = None


async def get_context() -> Context:
    if replica.ctx is None:
        async with replica.lock:
            if replica.ctx is None:
                if replica.settings is None:
                    raise ConfigurationError("the HTTP replica was not configured")
                replica.ctx = await Context.open(replica.settings)
    return replica.ctx


Ctx = Annotated[Context, Depends(get_context)]


async def get_principal(ctx: Ctx, authorization: Annotated[str | None, Header()] = None) -> Principal:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthorized("a bearer access token is required")
    principal = await ctx.verifier.verify(authorization[7:].strip())
    structlog.contextvars.bind_contextvars(user=principal.subject)
    return principal


Caller = Annotated[Principal, Depends(get_principal)]


async def get_request_id(x_request_id: Annotated[str | None, Header(max_length=200)] = None) -> str:
    """Async on purpose: FastAPI runs a plain `def` dependency in a worker thread (a thread hop per request, and
    the log binding would stay in that thread's context)."""
    rid = x_request_id or uuid.uuid4().hex
    structlog.contextvars.bind_contextvars(request_id=rid)
    return rid


RequestId = Annotated[str, Depends(get_request_id)]

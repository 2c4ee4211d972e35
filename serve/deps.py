"""FastAPI dependencies: the replica's context, the authenticated caller, the request id."""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any

import structlog
from fastapi import Depends, Header

from infra.settings import Settings
from messages.errors import ConfigurationError, Unauthorized
from messages.roles import STAFF, Role
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


async def authenticate(authorization: str | None) -> Principal:
    """The caller of an `Authorization` header: a verified token of an active user of the office it names (both
    checks are cached: the guard and the route ask alike)."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthorized("a bearer access token is required")
    ctx = await get_context()
    principal = await ctx.verifier.verify(authorization[7:].strip())
    await ctx.membership.check(principal)
    return principal


async def get_principal(authorization: Annotated[str | None, Header()] = None) -> Principal:
    principal = await authenticate(authorization)
    structlog.contextvars.bind_contextvars(user=principal.subject)
    return principal


Caller = Annotated[Principal, Depends(get_principal)]


def holding(*roles: Role) -> Any:
    """The caller, refused (403) unless they hold one of `roles`. As a dependency it is solved before FastAPI
    validates the query and the body: a caller without the role learns nothing of what the route accepts, where a
    check in the handler would come after a 422 that names the fields."""

    async def check(caller: Caller) -> Principal:
        caller.require(*roles)
        return caller

    return Depends(check)


Staff = Annotated[Principal, holding(*STAFF)]
Supervisor = Annotated[Principal, holding(Role.SUPERVISOR)]
Admin = Annotated[Principal, holding(Role.ADMINISTRATOR)]
SupervisorOrAdmin = Annotated[Principal, holding(Role.SUPERVISOR, Role.ADMINISTRATOR)]
AnyRole = Annotated[Principal, holding(Role.EMPLOYEE, Role.SUPERVISOR, Role.ADMINISTRATOR)]


_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


async def get_request_id(x_request_id: Annotated[str | None, Header()] = None) -> str:
    """The client's `X-Request-ID` when it is a plain token (it correlates the client's logs with ours and with the
    audit), else one of ours: what lands in audit rows, logs and CSV exports is never free text from a client.
    Async on purpose: FastAPI runs a plain `def` dependency in a worker thread (a thread hop per request, and the
    log binding would stay in that thread's context)."""
    rid = x_request_id if x_request_id and _REQUEST_ID.fullmatch(x_request_id) else uuid.uuid4().hex
    structlog.contextvars.bind_contextvars(request_id=rid)
    return rid


RequestId = Annotated[str, Depends(get_request_id)]

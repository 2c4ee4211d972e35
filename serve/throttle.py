"""Per-caller request rates under `/api/`: how many requests one caller may make in a moving window.

A caller is the token's subject when the request carries a valid token (a staff token; under `/api/eugo/` an EU
citizen's, the citizens' realm's subject: each citizen their own window, as each employee), else its client address
(what a bad or missing token is answered with then costs its sender, not the issuer's key set or the database).
Reads (`GET`, `HEAD`) and writes have limits of their own; past one, the answer is 429 problem+json with
`Retry-After` set to when the oldest request of the window leaves it. Every limited answer says where its caller
stands, in the IETF `RateLimit-Policy` / `RateLimit` header fields (draft-ietf-httpapi-ratelimit-headers).

If Redis cannot be reached the request passes: a rate limit protects the service, it must not be one more way for
it to fail; the middleware logs it and counts it (`kep_rate_limit_unavailable`).
"""

from __future__ import annotations

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infra import faults, metrics
from messages.errors import KepError, TooManyRequests
from serve import citizens, deps
from serve.guard import CITIZENS
from serve.problems import error_response

log = structlog.get_logger("http")


async def _subject(scope: Scope) -> str | None:
    authorization = None
    for key, value in scope["headers"]:
        if key == b"authorization":
            authorization = value.decode("latin-1")
    if authorization is None:
        return None
    try:
        if scope["path"].startswith(CITIZENS):
            return "citizen:" + (await citizens.get_citizen(authorization)).subject
        return (await deps.authenticate(authorization)).subject
    except KepError:
        return None  # the route answers it; until then its sender counts as anonymous


class RateLimiter:
    """ASGI middleware: counts each `/api/` request in its caller's window before anything else is done for it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        ctx = await deps.get_context()
        try:
            subject = await _subject(scope)
        except Exception as exc:
            if not faults.is_transient(exc):
                raise
            subject = None  # the issuer's keys cannot be read now: the guard or the route answers 503
        name, item = ctx.rate_policy.for_request(scope["method"], subject)
        if item is None:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        key = f"{name}:{subject}" if subject is not None else f"{name}:{client[0] if client else '-'}"
        try:
            standing = await ctx.rate_windows.hit(item, key)
        except Exception as exc:  # whatever Redis raises, the request passes (module docstring)
            log.warning("rate_limit_unavailable", error=repr(exc))
            metrics.rate_limit_unavailable()
            await self.app(scope, receive, send)
            return
        window_s = item.get_expiry()
        if not standing.allowed:
            metrics.rate_limited(name)
            refused = TooManyRequests(
                f"at most {item.amount} {name} in {window_s} s for one caller; try again in {standing.reset_after_s} s",
                retry_after_s=standing.reset_after_s,
            )
            response = error_response(refused, scope["path"])
            response.headers.update({k.decode(): v.decode() for k, v in standing.headers(name, window_s)})
            await response(scope, receive, send)
            return

        async def send_with_standing(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *standing.headers(name, window_s)]}
            await send(message)

        await self.app(scope, receive, send_with_standing)

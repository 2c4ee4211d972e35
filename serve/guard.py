"""Who may send a body, asked before a byte of it is read.

FastAPI reads and parses a request body before it resolves any dependency, the caller's token included: without
this guard, anyone could make a replica read (and parse) a body up to its size limit, and a malformed one would
answer 422 where it should answer 401. Sizes themselves are FastAPI's `max_body_size` (the app's default for JSON,
a larger one on the upload route), which refuses a declared length over the limit before reading and cuts a body
that grows over it.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from infra import faults
from messages.errors import KepError, RetryableError
from serve import deps
from serve.problems import error_response

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _may_carry_body(scope: Scope) -> bool:
    length = _header(scope, b"content-length")
    chunked = _header(scope, b"transfer-encoding") is not None
    return scope["method"] in _BODY_METHODS or chunked or (length is not None and length != "0")


class TokenBeforeBody:
    """A request under `/api/` that may carry a body is answered 401 unless its bearer token verifies (verified
    tokens are cached: the route's own check then costs a lookup)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/") and _may_carry_body(scope):
            try:
                await deps.authenticate(_header(scope, b"authorization"))
            except KepError as exc:
                await error_response(exc, scope["path"])(scope, receive, send)
                return
            except Exception as exc:
                if not faults.is_transient(exc):
                    raise
                unavailable = RetryableError("the access token cannot be checked now")
                await error_response(unavailable, scope["path"])(scope, receive, send)
                return
        await self.app(scope, receive, send)

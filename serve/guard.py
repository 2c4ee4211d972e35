"""What holds before the application reads a byte of a request body: who sends it, and how much.

FastAPI reads and parses a body before it resolves any dependency, the caller's token included, and nothing in
Serve, uvicorn or HAProxy bounds a body's size. So this ASGI middleware, in front of every route:

- answers 401 to a body under `/api/` from a caller without a valid access token (nothing read): a citizens'
  realm token under `/api/eugo/` (EU citizens' own routes), a staff token anywhere else;
- answers 413 to a body whose declared length is over its route's limit (nothing read), and cuts one that grows
  over it while it is read (413: whatever the application made of the cut body is replaced);
- answers 422 with pointers to a JSON body or a query string with the NUL character (U+0000) in a string or a key:
  valid JSON and URLs, but PostgreSQL takes it in no text or JSON value, so it is refused before any handler works
  on it.

(FastAPI's own `max_body_size` does the second, but answers in plain text and cannot take a limit a handler finds
out, such as a procedure's; ours are problem+json like every other error.) A route's limit is the JSON default or a
larger one given for it; a handler that knows better once it has looked something up lowers it with `lower_limit`
before it reads the body.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from actors.forms.errors import pointer_join
from infra import faults
from messages.errors import InvalidInput, KepError, RetryableError, TooLarge
from messages.problems import FieldError
from serve import citizens, deps
from serve.problems import error_response

JSON_BODY_MAX_BYTES = 1024 * 1024
_LIMIT = "kep.body_limit"
_ANSWER = "kep.body_too_large"  # the TooLarge to answer with when the body is cut
PUBLIC = "/api/public/"  # what anyone may send a body to (a document to verify): limited, never authenticated
CITIZENS = "/api/eugo/"  # what EU citizens signed in through eIDAS send (their applications, answers, documents)
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class LargerBodies:
    """A route whose bodies may be larger than the JSON default: its method, path and limit."""

    method: str
    path: re.Pattern[str]
    max_bytes: int


class _Cut(TooLarge):
    """Raised from `receive` once a body is over its limit: the application stops reading there."""


NUL_ESCAPED = b"\\u0000"  # how JSON writes U+0000 (a raw NUL byte is no JSON at all)


def _nul_pointers(value: Any, at: str = "") -> Iterator[str]:
    if isinstance(value, str):
        if "\x00" in value:
            yield at
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _nul_pointers(item, pointer_join(at, i))
    elif isinstance(value, dict):
        for key, item in value.items():
            here = pointer_join(at, key)
            yield from ([here] if "\x00" in key else _nul_pointers(item, here))


def nul_refusal(body: bytes) -> InvalidInput | None:
    """The 422 for a JSON body with U+0000 in a string or key, pointing at each; None for any other body (one that
    is no JSON is left to the application's own answer)."""
    if NUL_ESCAPED not in body:
        return None
    try:
        pointers = list(_nul_pointers(orjson.loads(body)))
    except orjson.JSONDecodeError:
        return None
    if not pointers:  # an escaped backslash followed by `u0000`: plain text
        return None
    message = "text may not contain the NUL character (U+0000)"
    return InvalidInput(message, [FieldError(p, message, "nul_character") for p in pointers])


def _query_nul_refusal(scope: Scope) -> InvalidInput | None:
    """The 422 for a query string with U+0000 in a parameter's name or value (`%00`), pointing at each parameter."""
    query: bytes = scope.get("query_string", b"")
    if b"%00" not in query and b"\x00" not in query:
        return None
    names = sorted({name for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True)
                    if "\x00" in name or "\x00" in value})  # fmt: skip
    if not names:
        return None
    message = "text may not contain the NUL character (U+0000)"
    return InvalidInput(message, [FieldError(pointer_join("", n), message, "nul_character") for n in names])


def _is_json(scope: Scope) -> bool:
    media = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def lower_limit(request: Request, max_bytes: int, answer: TooLarge) -> None:
    """This request's body may be at most `max_bytes` (never more than the guard allowed); past it, the answer is
    `answer`: raised here when the declared length is already over (nothing read), or when the body is cut."""
    state = request.scope.setdefault("state", {})
    state[_LIMIT] = min(state.get(_LIMIT, max_bytes), max_bytes)
    state[_ANSWER] = answer
    if _declared_length(request.scope) > state[_LIMIT]:
        raise answer


def _too_large(limit: int) -> TooLarge:
    return TooLarge(f"the request body is over {limit} bytes", [FieldError("", f"at most {limit} bytes", "size")])


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _declared_length(scope: Scope) -> int:
    length = _header(scope, b"content-length")
    return int(length) if length is not None and length.isdigit() else 0


def _may_carry_body(scope: Scope) -> bool:
    length = _header(scope, b"content-length")
    chunked = _header(scope, b"transfer-encoding") is not None
    return scope["method"] in _BODY_METHODS or chunked or (length is not None and length != "0")


class RequestGuard:
    def __init__(self, app: ASGIApp, larger: tuple[LargerBodies, ...] = ()) -> None:
        self.app = app
        self.larger = larger

    def _limit(self, scope: Scope) -> int:
        for route in self.larger:
            if scope["method"] == route.method and route.path.fullmatch(scope["path"]):
                return route.max_bytes
        return JSON_BODY_MAX_BYTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query_refused = _query_nul_refusal(scope)
        if query_refused is None and not _may_carry_body(scope):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        limit = self._limit(scope)
        try:
            if path.startswith(CITIZENS):
                await citizens.get_citizen(_header(scope, b"authorization"))
            elif path.startswith("/api/") and not path.startswith(PUBLIC):
                await deps.authenticate(_header(scope, b"authorization"))
            if query_refused is not None:
                raise query_refused
            if _declared_length(scope) > limit:
                raise _too_large(limit)
        except KepError as exc:
            await error_response(exc, path)(scope, receive, send)
            return
        except Exception as exc:
            if not faults.is_transient(exc):  # the token check could not reach the issuer's keys
                raise
            await error_response(RetryableError("the access token cannot be checked now"), path)(scope, receive, send)
            return

        state = scope.setdefault("state", {})
        state[_LIMIT] = limit
        received = 0
        cut = False
        json_chunks: list[bytes] | None = [] if _is_json(scope) else None

        async def limited_receive() -> Message:
            nonlocal received, cut
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > state[_LIMIT]:
                    cut = True
                    raise _Cut(f"the request body is over {state[_LIMIT]} bytes")
                if json_chunks is not None:  # within the limit: kept until the body is whole, then raised as the answer
                    json_chunks.append(chunk)
                    if not message.get("more_body", False) and (refused := nul_refusal(b"".join(json_chunks))):
                        cut = True
                        state[_ANSWER] = refused
                        raise refused
            return message

        async def guarded_send(message: Message) -> None:
            if not cut:  # once cut, what the application makes of a half-read body is not the answer
                await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not cut:
                raise
        if cut:
            await error_response(state.get(_ANSWER) or _too_large(state[_LIMIT]), path)(scope, receive, send)

"""The engine's error answers as our errors: from the HTTP status, the engine's exception `type`, `message` and `code`.

What the engine really answers (Camunda 7.24), where it differs from what one would guess: a user task that is gone
is a 404 only for GET; claim and complete say 500 (`NullValueException`, "Cannot find task"), unclaim says 400
(`NotFoundException`); a claim of someone else's task is a 500 `TaskAlreadyClaimedException`; a cancelled long
poll is a 503 with an HTML page; while it shuts down, a request can get a 400 without the REST API's JSON. Every
report on someone else's external task says "... It is locked by worker 'B'." A job or an instance that is gone
is a 500 too for some calls: a due date says `InvalidRequestException` "No job found with id", variables say
`RestException` "... doesn't exist".
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from bpmn_bridge.errors import (
    EngineConflict,
    EngineError,
    EngineNotFound,
    EngineOverloaded,
    EngineRejected,
    EngineUnavailable,
    LockExpired,
    LongPollCancelled,
    TaskAlreadyClaimed,
    TaskLockedByOther,
)

_OPTIMISTIC_LOCKING, _DEADLOCK = 1, 10000  # BuiltinExceptionCode: the transaction was rolled back
_FOREIGN_KEY, _COLUMN_TOO_SMALL = 10001, 10002  # the data will not fit however often we try
_LOCKED_BY_OTHER = re.compile(r"is locked by worker", re.IGNORECASE)
_MISSING = re.compile(r"does not exist|doesn't exist|cannot find|no matching|\bno \w+(?: \w+)? found\b", re.IGNORECASE)
_QUEUE_FULL = re.compile(r"too many requests", re.IGNORECASE)
# the REST layer is up but the engine is not (yet, or any more): `ProcessEngineProvider` finds none and says 400
_NO_ENGINE = re.compile(r"no process engine available", re.IGNORECASE)
_MODEL_ERROR = re.compile(r"unknown property used in expression|error while evaluating expression", re.IGNORECASE)


def error_for(
    resp: httpx.Response, where: str, *, gone: type[EngineNotFound], lock_call: bool, long_poll: bool
) -> EngineError:
    """The engine's answer as one of our errors, from its status, its exception type and `code`."""
    status = resp.status_code
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    type_, message, code = body.get("type"), body.get("message"), body.get("code")
    detail = f"{where}: {message}" if message else f"{where}: HTTP {status} {resp.text[:120]!r}"
    kw: dict[str, Any] = {"http_status": status, "engine_type": type_, "engine_code": code}
    message = message or ""

    if status == 404 or (status in (400, 500) and type_ in ("NotFoundException", "NullValueException")):
        return gone(detail, **kw) if status == 404 or _MISSING.search(message) else EngineRejected(detail, **kw)
    if 400 <= status < 500 and (_NO_ENGINE.search(message) or (type_ is None and status not in (401, 403))):
        # not the REST API's error (it always names the exception): a server starting or shutting down, a proxy
        return EngineUnavailable(detail, sent=True, **kw)
    if 400 <= status < 500:
        if lock_call and status == 400:
            return LockExpired(detail, **kw)
        if _LOCKED_BY_OTHER.search(message):
            return TaskLockedByOther(detail, **kw)
        return EngineRejected(detail, **kw)
    if status == 503 and long_poll:
        return LongPollCancelled(f"{where}: the engine cancelled the long poll (HTTP 503)", **kw)
    if status == 500:
        if code in (_OPTIMISTIC_LOCKING, _DEADLOCK):
            return EngineConflict(detail, **kw)
        if _QUEUE_FULL.search(message):
            return EngineOverloaded(detail, **kw)
        if type_ == "TaskAlreadyClaimedException":
            return TaskAlreadyClaimed(detail, **kw)
        if "cannot find task" in message.lower():  # a user task that is done: the engine says 500, not 404
            return gone(detail, **kw)
        if type_ in ("InvalidRequestException", "RestException") and _MISSING.search(message):
            return gone(detail, **kw)
        if code in (_FOREIGN_KEY, _COLUMN_TOO_SMALL) or _MODEL_ERROR.search(message):
            return EngineRejected(detail, **kw)
    return EngineUnavailable(detail, sent=True, **kw)

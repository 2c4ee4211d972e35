"""Errors of the engine client; each type says whether a retry can help, so a worker decides from the type alone."""

from __future__ import annotations

from typing import Any

from messages.errors import Conflict, KepError, NotFound, RetryableError


class EngineError(KepError):
    """Root of the engine client's errors; carries the engine's HTTP status, exception type, message and code."""

    title = "Process engine error"

    def __init__(
        self,
        detail: str,
        *,
        http_status: int | None = None,
        engine_type: str | None = None,
        engine_code: int | None = None,
        **data: Any,
    ) -> None:
        super().__init__(detail, http_status=http_status, engine_type=engine_type, engine_code=engine_code, **data)
        self.http_status = http_status
        self.engine_type = engine_type
        self.engine_code = engine_code


class EngineUnavailable(EngineError, RetryableError):
    """The engine could not be reached, timed out or failed on its side (5xx).

    `sent` is False only when the request surely never reached the engine (no connection), so even a call that is
    not idempotent may be repeated.
    """

    title = "Process engine unavailable"

    def __init__(self, detail: str, *, sent: bool = True, **kw: Any) -> None:
        super().__init__(detail, sent=sent, **kw)
        self.sent = sent


class EngineOverloaded(EngineError, RetryableError):
    """The engine's queue of parked long polls is full; back off and poll again."""

    title = "Process engine overloaded"


class LongPollCancelled(EngineOverloaded):
    """The engine dropped a parked long poll (HTTP 503): a newer poll with the same worker id replaced it."""


class EngineConflict(EngineError, RetryableError):
    """The engine's transaction lost an optimistic-locking race or a deadlock and was rolled back; try again."""

    title = "Process engine conflict"


class EngineRejected(EngineError):
    """The engine refused the request as it stands (bad input, nothing to correlate, an error in the model)."""

    status = 409
    title = "Refused by the process engine"


class EngineNotFound(EngineError, NotFound):
    """The process definition, instance or task does not exist (any more)."""


class TaskGone(EngineNotFound):
    """The task is done or its process cancelled or moved on; drop the work, report nothing."""


class TaskLockedByOther(EngineError, Conflict):
    """Another worker holds the external task's lock; abandon the work without reporting it."""


class LockExpired(EngineError, Conflict):
    """The lock cannot be extended: it expired or another worker holds it; stop working on the task."""


class TaskAlreadyClaimed(EngineError, Conflict):
    """The user task is assigned to someone else."""

"""Domain errors. Whether an error may be retried is part of its type, so a consumer decides from the type alone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid field, the one shape of an RFC 9457 problem's `errors` entries everywhere in the system.

    `path` is a JSON pointer into what was sent (`/citizen/afm`, `/form_data/copies`), `type` a stable code for
    machines, `message` is for people.
    """

    path: str
    message: str
    type: str

    def under(self, prefix: str) -> FieldError:
        """The same error, its pointer moved under `prefix` (a form's `data` inside a request body)."""
        return FieldError(prefix + self.path, self.message, self.type)


class KepError(Exception):
    """Root of every error the system raises on purpose."""

    retryable: ClassVar[bool] = False
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str, **data: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.data = data


class RetryableError(KepError):
    """A dependency failed in a way that may pass on its own; try again later."""

    retryable = True
    status = 503
    title = "Service temporarily unavailable"


class Busy(RetryableError):
    """Enough of this kind of work is under way here; try again shortly."""

    title = "Busy"


class TooManyRequests(KepError):
    """This caller already has as many of these under way as one may; try again once one has ended."""

    retryable = True
    status = 429
    title = "Too many requests"


class ConfigurationError(KepError):
    """A setting is missing or wrong; nothing works until an operator fixes it."""

    title = "Configuration error"


class NotFound(KepError):
    """The thing does not exist, or the caller may not know that it does."""

    status = 404
    title = "Not found"


class Forbidden(KepError):
    """The caller is known but lacks the role for this action."""

    status = 403
    title = "Forbidden"


class Unauthorized(KepError):
    """The caller did not prove who they are."""

    status = 401
    title = "Unauthorized"


class Conflict(KepError):
    """The change clashes with the current state (a stale version, a duplicate)."""

    status = 409
    title = "Conflict"


class TooLarge(KepError):
    """The request's content is over the size allowed for it."""

    status = 413
    title = "Content too large"

    def __init__(self, detail: str, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(detail)
        self.errors = tuple(errors)


class NotAvailable(KepError):
    """A capability switched off on this system (by its settings), not a passing failure."""

    status = 503
    title = "Not available"


class InvalidInput(KepError):
    """The input breaks a rule that a schema alone cannot express."""

    status = 422
    title = "Invalid input"

    def __init__(self, detail: str, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(detail)
        self.errors = tuple(errors)

    @classmethod
    def at(cls, path: str, message: str, type_: str) -> InvalidInput:
        """One invalid field, said once: its message is the problem's detail too."""
        return cls(message, [FieldError(path, message, type_)])

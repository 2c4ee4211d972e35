"""Domain errors. Whether an error may be retried is part of its type, so a consumer decides from the type alone."""

from __future__ import annotations

from typing import Any, ClassVar


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

    def __init__(self, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail, errors=errors or [])
        self.errors = errors or []


class NotAvailable(KepError):
    """A capability switched off on this system (by its settings), not a passing failure."""

    status = 503
    title = "Not available"


class InvalidInput(KepError):
    """The input breaks a rule that a schema alone cannot express."""

    status = 422
    title = "Invalid input"

    def __init__(self, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail, errors=errors or [])
        self.errors = errors or []

"""Errors of the procedure catalogue and its Mitos client; retryable or not is in the type."""

from __future__ import annotations

from typing import Any

from messages.errors import ConfigurationError, KepError, NotFound, RetryableError


class MitosError(KepError):
    """Anything the Mitos API did that we could not use."""

    status = 502
    title = "Mitos API error"


class MitosUnavailable(MitosError, RetryableError):
    """Mitos answered 5xx or could not be reached; it may pass on its own."""

    status = 503


class MitosTimeout(MitosUnavailable):
    """Mitos did not answer within the timeout."""


class MitosNotFound(MitosError, NotFound):
    """Mitos has no such procedure or registry entry."""

    status = 404


class MitosAuthFailed(MitosError, ConfigurationError):
    """Mitos refused our API key; an operator must fix the setting."""


class MitosRejected(MitosError):
    """Mitos refused the request itself (a 4xx other than 401/403/404); retrying will not help."""


class MitosBadResponse(MitosError):
    """Mitos answered 2xx but without a usable `{success: true, data}` envelope."""


class MalformedRecord(MitosError):
    """One procedure's record does not have the shape we need; skip it, the rest of the sync goes on."""

    def __init__(self, detail: str, *, mitos_id: int | None, **data: Any) -> None:
        super().__init__(detail, mitos_id=mitos_id, **data)
        self.mitos_id = mitos_id

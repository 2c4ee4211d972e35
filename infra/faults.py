"""Whether trying again later can help: the one answer for every consumer, task handler and retry loop.

A failure is transient when the dependency it came from may come back by itself: a lost or refused connection, a
timeout, a database restarting, shutting down or out of connections, a transaction rolled back by a serialization
failure or a deadlock, an actor that died (Ray restarts it). Our own errors say it in their type (`retryable`).
Everything else (bad input, a missing case, a bug) is permanent: repeating it repeats the failure.

Errors raised inside another actor arrive wrapped in Ray's `RayTaskError`; the cause is what counts.
"""

from __future__ import annotations

import asyncio

import aiormq.exceptions
import asyncpg
import httpx
import ray.exceptions
import redis.exceptions

from infra.settings import Settings
from messages.errors import Forbidden, KepError

# SQLSTATE classes of failures that pass: 08 connection exception, 40 transaction rollback (serialization failure,
# deadlock), 53 insufficient resources (too many connections), 57 operator intervention (shutdown, starting up,
# statement timeout), 58 system error (I/O); and 55P03, a lock that was not available
_TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "58"})
_TRANSIENT_SQLSTATES = frozenset({"55P03"})


def cause(exc: BaseException) -> BaseException:
    """The error itself, out of Ray's wrapping when it was raised in another actor."""
    while isinstance(exc, ray.exceptions.RayTaskError) and exc.cause is not None and exc.cause is not exc:
        exc = exc.cause
    return exc


def is_transient(exc: BaseException) -> bool:
    exc = cause(exc)
    if isinstance(exc, KepError):
        return exc.retryable
    if isinstance(exc, asyncpg.PostgresError):
        state = exc.sqlstate or ""
        return state[:2] in _TRANSIENT_SQLSTATE_CLASSES or state in _TRANSIENT_SQLSTATES
    if isinstance(exc, asyncpg.InterfaceError):  # the driver's own: only a connection that went away passes
        return "connection is closed" in str(exc) or "pool is closing" in str(exc)
    if isinstance(exc, asyncpg.exceptions.TargetServerAttributeNotMatched):
        # a multi-host DSN's `target_session_attrs=read-write` found no primary: between the old primary's stop and
        # the standby's promotion there is none, for seconds
        return True
    if isinstance(exc, asyncpg.exceptions.InternalClientError):
        # a connection the server dropped mid-operation, handed out again before the pool noticed (seen when
        # PostgreSQL shuts down: "cannot switch to state 15; another operation (2) is in progress")
        return "another operation" in str(exc)
    return isinstance(
        exc,
        OSError  # ConnectionError (refused, reset) is one
        | asyncio.TimeoutError
        | aiormq.exceptions.ChannelInvalidStateError  # a channel closed under the call
        | httpx.TransportError
        | redis.exceptions.ConnectionError
        | redis.exceptions.TimeoutError
        | ray.exceptions.RayActorError  # died or unreachable: Ray restarts it, the command is idempotent
        | ray.exceptions.ActorUnavailableError,
    )


def injection_allowed(settings: Settings) -> None:
    """Fault injection (the tests' and the chaos run's `arm_crash` hooks) lives on the actors themselves; a
    production deployment refuses to arm it, whoever can reach the actors."""
    if settings.env == "production":
        raise Forbidden("fault injection is disabled in production")

"""The adapter registry: every external system is one adapter (the way Open Forms registers its plugins), with a
typed options model (secrets as SecretStr), `check_config()` that says what is wrong with the settings, the
connection and the credentials, and one call policy for every remote call: a rate limit (aiolimiter), a circuit
breaker (purgatory), a timeout per try, and retries with backoff and jitter (infra/retry on tenacity) of what is
transient only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

import structlog
from aiolimiter import AsyncLimiter
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState
from pydantic import BaseModel, ConfigDict, Field

from infra import faults, metrics
from infra.retry import Backoff, retrying
from messages.errors import KepError, RetryableError

log = structlog.get_logger("delivery")
T = TypeVar("T")


class RemoteUnavailable(RetryableError):
    """The remote system did not answer, answered 5xx, or its circuit is open: try again later."""

    title = "Remote system unavailable"
    outage = True  # counts towards opening the circuit


class TryAgainNow(RemoteUnavailable):
    """The remote side is up and refused this one call for something the next try mends by itself (a fresh id):
    tried again, never counted as an outage."""

    outage = False


class RemoteRefused(KepError):
    """The remote system refused the request for what it is (bad input, credentials): trying again changes nothing."""

    status = 502
    title = "Refused by the remote system"


class AdapterOptions(BaseModel):
    """What every adapter takes, besides its own endpoint and credentials."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timeout_s: float = Field(default=10.0, gt=0, le=300)
    attempts: int = Field(default=4, ge=1, le=20)
    rate_per_s: float = Field(default=20.0, gt=0)  # calls per second at most, per adapter instance
    breaker_failures: int = Field(default=5, ge=1)  # consecutive failures that open the circuit
    breaker_reset_s: float = Field(default=30.0, gt=0)  # how long it stays open before one call may test it


@dataclass(frozen=True)
class ConfigReport:
    """`check_config()`'s answer: each check by name, and what is wrong where something is."""

    adapter: str
    checks: dict[str, str | None] = field(default_factory=dict)  # name -> None when fine, else the problem

    @property
    def ok(self) -> bool:
        return all(problem is None for problem in self.checks.values())


class Adapter(Protocol):
    name: ClassVar[str]

    async def check_config(self) -> ConfigReport: ...


REGISTRY: dict[str, type[Any]] = {}


def register(cls: type[T]) -> type[T]:
    """Class decorator: the adapter is known by its `name`."""
    REGISTRY[cls.name] = cls  # type: ignore[attr-defined]
    return cls


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError | RemoteUnavailable) or faults.is_transient(exc)


class CallPolicy:
    """The way one adapter calls its remote system."""

    def __init__(self, adapter: str, options: AdapterOptions) -> None:
        self.adapter = adapter
        self.options = options
        self._limiter = AsyncLimiter(max(1.0, options.rate_per_s), 1.0)
        # only what may pass on its own opens the circuit: a refusal is an answer, the remote side is up
        self._breakers = AsyncCircuitBreakerFactory(
            default_threshold=options.breaker_failures,
            default_ttl=options.breaker_reset_s,
            exclude=[(BaseException, lambda exc: not _transient(exc) or not getattr(exc, "outage", True))],
        )
        self._backoff = Backoff(initial_s=0.2, max_s=5.0, jitter_s=0.3, attempts=options.attempts)

    async def call(self, operation: str, fn: Callable[[], Awaitable[T]]) -> T:
        """`fn` under the rate limit, the circuit breaker and a timeout, tried again while it fails transiently."""
        async for attempt in retrying(self._backoff, retry_on=_transient, name=f"{self.adapter}.{operation}"):
            with attempt:
                return await self._once(operation, fn)
        raise AssertionError("unreachable: retrying re-raises the last failure")

    async def _once(self, operation: str, fn: Callable[[], Awaitable[T]]) -> T:
        async with self._limiter:
            breaker = await self._breakers.get_breaker(f"{self.adapter}.{operation}")
            started = time.perf_counter()
            outcome: metrics.AdapterOutcome = "unavailable"
            try:
                async with breaker:
                    async with asyncio.timeout(self.options.timeout_s):
                        result = await fn()
                        outcome = "ok"
                        return result
            except OpenedState:
                outcome = "circuit_open"
                raise RemoteUnavailable(f"{self.adapter}: the circuit is open after repeated failures") from None
            except TimeoutError:
                outcome = "timeout"
                raise RemoteUnavailable(f"{self.adapter}: no answer within {self.options.timeout_s} s") from None
            except KepError as exc:
                outcome = "unavailable" if _transient(exc) else "refused"
                raise
            except Exception as exc:
                if faults.is_transient(exc):
                    raise RemoteUnavailable(f"{self.adapter}: {type(exc).__name__}: {exc}") from exc
                outcome = "error"
                raise
            finally:
                # a refused call was not made: its time says nothing about the remote system
                took = None if outcome == "circuit_open" else time.perf_counter() - started
                metrics.adapter_call(self.adapter, operation, outcome, took)

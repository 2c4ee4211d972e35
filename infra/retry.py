"""The one retry policy: exponential backoff with jitter and a cap, on tenacity, for every call that is tried again and
every loop that must come back after a failure.

- `retrying(backoff)` for a call: `async for attempt in retrying(...): with attempt: ...`; by default only what
  `infra.faults` calls transient is tried again, and the last failure is raised as it was.
- `forever(name, one_pass, backoff)` for a long-lived loop: passes run one after another; a failed pass waits by the
  backoff (its failures in a row, reset by a pass that succeeds) and the loop goes on. Only a cancellation of the loop
  itself ends it: aiormq cancels the calls of a channel that closes under them, and that is a failure like another.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NoReturn

import structlog
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    stop_any,
    stop_never,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base

from infra import faults, metrics

log = structlog.get_logger("retry")


@dataclass(frozen=True)
class Backoff:
    """Waits of `initial_s` doubling per failure up to `max_s`, plus up to `jitter_s` at random. `attempts` counts
    the first try and `within_s` bounds the whole; None for both: for as long as it takes."""

    initial_s: float = 0.2
    max_s: float = 5.0
    jitter_s: float = 0.5
    attempts: int | None = 4
    within_s: float | None = None

    def pause_s(self, failures: int) -> float:
        """The wait after `failures` failures in a row, for a caller that waits by itself (a message held back
        before it is requeued)."""
        state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = max(failures, 1)
        return float(wait_exponential_jitter(initial=self.initial_s, max=self.max_s, jitter=self.jitter_s)(state))

    def stop(self) -> stop_base:
        stops: list[stop_base] = []
        if self.attempts is not None:
            stops.append(stop_after_attempt(self.attempts))
        if self.within_s is not None:
            stops.append(stop_after_delay(self.within_s))
        return stop_any(*stops) if stops else stop_never


def really_cancelled() -> bool:
    """Whether the running task is being cancelled, as opposed to awaiting a call that was cancelled under it."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _before_sleep(name: str | None, on_retry: Callable[[], None] | None) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        if on_retry is not None:
            on_retry()
        if name is None:
            return
        error = state.outcome.exception() if state.outcome else None
        metrics.retried(name)
        log.warning(
            "retrying",
            what=name,
            attempt=state.attempt_number,
            retry_in_s=round(state.upcoming_sleep, 2),
            error=f"{type(error).__name__}: {error}",
        )

    return before_sleep


def retrying(
    backoff: Backoff,
    *,
    retry_on: Callable[[BaseException], bool] = faults.is_transient,
    name: str | None = None,
    on_retry: Callable[[], None] | None = None,
) -> AsyncRetrying:
    """`name` logs each retry and counts it (`kep_retries{what}`); `on_retry` is called before each wait."""
    return AsyncRetrying(
        stop=backoff.stop(),
        wait=wait_exponential_jitter(initial=backoff.initial_s, max=backoff.max_s, jitter=backoff.jitter_s),
        retry=retry_if_exception(retry_on),
        before_sleep=_before_sleep(name, on_retry),
        reraise=True,
    )


def _not_our_cancellation(exc: BaseException) -> bool:
    return not (isinstance(exc, asyncio.CancelledError) and really_cancelled())


async def forever(
    name: str,
    one_pass: Callable[[], Awaitable[object]],
    backoff: Backoff,
    on_failure: Callable[[], None] | None = None,
) -> NoReturn:
    """Run `one_pass` again and again; a failure, whatever it is, waits by the backoff (`on_failure` is told) and
    tries again. A good pass after failures reports how long the loop was down (`kep_recovery_seconds`)."""
    endless = Backoff(backoff.initial_s, backoff.max_s, backoff.jitter_s, attempts=None, within_s=None)
    while True:
        retries = retrying(endless, retry_on=_not_our_cancellation, name=name, on_retry=on_failure)
        async for attempt in retries:
            with attempt:
                await one_pass()
        if retries.statistics.get("attempt_number", 1) > 1:
            down_s = time.monotonic() - retries.statistics["start_time"]
            metrics.recovered(name, down_s)
            log.info("recovered", what=name, after_s=round(down_s, 2))

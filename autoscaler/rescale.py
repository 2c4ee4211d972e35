"""Read, decide, write: the one way the autoscaler changes a target's size, whatever the target is."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter
from tenacity.wait import wait_base

from autoscaler.model import ScaleConflict, Scaler, ScaleState


@dataclass(frozen=True)
class Rescaled:
    """What `rescale` did: `before` is the state the final decision was made on."""

    before: ScaleState
    after: ScaleState
    attempts: int

    @property
    def changed(self) -> bool:
        return self.after.desired != self.before.desired


async def rescale(
    scaler: Scaler,
    decide: Callable[[ScaleState], int],
    *,
    retries: int = 3,
    wait: wait_base | None = None,
) -> Rescaled:
    """Read, decide, write; on a conflict read and decide again (somebody else resized the target), up to
    `retries` times with jitter, then let the `ScaleConflict` go to the caller, who tries at its next tick."""
    retrying = AsyncRetrying(
        retry=retry_if_exception_type(ScaleConflict),
        stop=stop_after_attempt(retries + 1),
        wait=wait or wait_exponential_jitter(initial=0.05, max=1.0, jitter=0.2),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            state = await scaler.read()
            desired = decide(state)
            number = attempt.retry_state.attempt_number
            if desired == state.desired:
                return Rescaled(state, state, number)
            return Rescaled(state, await scaler.write(desired, state), number)
    raise AssertionError("tenacity ends with a return or a raise")  # pragma: no cover

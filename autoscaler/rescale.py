"""Read, decide, write: the one way the autoscaler changes a target's size, whatever the target is."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from autoscaler.model import ScaleConflict, Scaler, ScaleState
from infra.retry import Backoff, retrying

CONFLICT_BACKOFF = Backoff(initial_s=0.05, max_s=1.0, jitter_s=0.2)


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
    backoff: Backoff = CONFLICT_BACKOFF,
) -> Rescaled:
    """Read, decide, write; on a conflict read and decide again (somebody else resized the target), up to
    `retries` times with jitter, then let the `ScaleConflict` go to the caller, who tries at its next tick."""
    again = Backoff(backoff.initial_s, backoff.max_s, backoff.jitter_s, attempts=retries + 1)
    async for attempt in retrying(again, retry_on=lambda e: isinstance(e, ScaleConflict)):
        with attempt:
            state = await scaler.read()
            desired = decide(state)
            number = attempt.retry_state.attempt_number
            if desired == state.desired:
                return Rescaled(state, state, number)
            return Rescaled(state, await scaler.write(desired, state), number)
    raise AssertionError("tenacity ends with a return or a raise")  # pragma: no cover

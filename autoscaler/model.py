"""The values that pass between metric sources, decision functions, scalers and the simulator.

`None` in a metric means *unknown* (the broker did not report it, or the reading is stale), never zero: KEDA reads a
missing field as 0 and scales a busy queue to zero (kedacore/keda#7180); a decision must hold instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

MetricSource = Literal["http", "amqp", "simulated"]


@dataclass(frozen=True)
class QueueMetrics:
    """One reading of one queue. Rates are messages per second; `at` is seconds on the reader's clock."""

    queue: str
    at: float
    source: MetricSource
    ready: int | None = None
    unacked: int | None = None
    consumers: int | None = None
    publish_rate: float | None = None
    deliver_rate: float | None = None
    ack_rate: float | None = None
    # work waiting before the queue, where the producer holds it (the engine's fetchable tasks of the topic the
    # bridge publishes to this queue); None: not read, or unknown
    upstream: int | None = None

    @property
    def backlog(self) -> int | None:
        """Ready plus in flight; unknown when either part is."""
        if self.ready is None or self.unacked is None:
            return None
        return self.ready + self.unacked


@dataclass(frozen=True)
class ScaleState:
    """What the target has now: the replicas asked for, those running and ready, and the version a write must match."""

    target: str
    desired: int
    ready: int
    version: str | None = None


@dataclass(frozen=True)
class Decision:
    """A decision and why: `reason` is a short sentence an operator reads in the log and the HTTP view."""

    target: str
    at: float
    current: int
    desired: int
    reason: str
    raw: int | None = None  # the recommendation before stabilisation and step limits

    @property
    def changes(self) -> bool:
        return self.desired != self.current


class ScalerError(Exception):
    """A scaler could not read or write its target; `reason` says why in words an operator can act on."""

    def __init__(self, target: str, reason: str) -> None:
        super().__init__(f"{target}: {reason}")
        self.target = target
        self.reason = reason


class ScaleTargetRefused(ScalerError):
    """The target's owner answered that it cannot be scaled by us at all (it does not exist, or the account may not
    read or write its size): a policy naming it is refused, rather than failing at every tick."""


class Scaler(Protocol):
    """Something whose replica count the autoscaler sets: a Kubernetes Deployment or a local actor pool."""

    target: str

    async def verify(self) -> None:
        """Before a policy naming the target is taken: raises `ScaleTargetRefused` if it can never be scaled, and
        `ScalerError` if that cannot be known now (the owner unreachable). Changes nothing."""
        ...

    async def read(self) -> ScaleState: ...

    async def write(self, replicas: int, expected: ScaleState) -> ScaleState:
        """Set `replicas` if the target is still at `expected.version`; raises `ScaleConflict` if it moved on."""
        ...


class ScaleConflict(ScalerError):
    """Somebody else changed the target since it was read; read again and decide again."""

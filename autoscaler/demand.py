"""What a target's queues ask for right now: the latest fresh reading of each queue, summed, and the replica count
that would serve it. A figure the broker did not report stays unknown; the decision then holds or only scales up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from autoscaler.model import QueueMetrics
from autoscaler.policy import TargetPolicy


@dataclass(frozen=True)
class Demand:
    at: float  # the oldest of the readings it sums
    ready: int
    unacked: int | None
    consumers: int | None
    arrival_rate: float | None
    ack_rate: float | None

    @property
    def backlog(self) -> int:
        """Ready plus in flight; only the ready part when in-flight is unknown (a lower bound)."""
        return self.ready + (self.unacked or 0)

    @property
    def idle(self) -> bool:
        """Nothing queued, nothing in flight, nothing arriving (an unknown rate does not count against it)."""
        return self.ready == 0 and self.unacked == 0 and not self.arrival_rate


# Share of the consumers' prefetch in flight, with nothing ready, that reads as "more work waits where the queue
# cannot show it": the bridge fetches from the engine only what the workers can hold (bpmn_bridge/bridge.py), so
# its queues never hold a backlog; a full pool is the only sign that the engine has more.
SATURATED = 0.9


def saturated(demand: Demand, prefetch: int) -> bool:
    if not demand.consumers or demand.unacked is None or demand.ready:
        return False
    return demand.unacked >= SATURATED * demand.consumers * prefetch


def stays_saturated(previous: Demand | None, demand: Demand, prefetch: int) -> bool:
    """Saturated in this reading and in the one before it (a different one). Near capacity a pool fills by chance
    now and then (one consumer at 75 % holds 8 messages a tenth of the time, M/M/1: ρ⁸), and each such reading
    alone would add a replica the headroom rule takes back a minute later; work waiting upstream keeps the pool
    full reading after reading, since the producer refills every slot as soon as it frees."""
    if previous is None or previous.at >= demand.at:
        return False
    return saturated(previous, prefetch) and saturated(demand, prefetch)


@dataclass(frozen=True)
class Unknown:
    """Why the readings cannot be used: the decision holds and says this."""

    reason: str


def _sum_or_none(values: Sequence[float | None]) -> float | None:
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


def _mean_rate(readings: Sequence[QueueMetrics], since: float) -> float | None:
    known = [r.publish_rate for r in readings if r.at > since and r.publish_rate is not None]
    return sum(known) / len(known) if known else None


def combine(
    queues: Sequence[str],
    history: Sequence[QueueMetrics],
    now: float,
    stale_after_s: float,
    rate_window_s: float,
    upstream: bool = False,
) -> Demand | Unknown:
    """The latest fresh reading of every queue, summed; arrivals averaged over `rate_window_s` because a single
    5 s broker sample is too noisy to size on (a Poisson stream of 3/s reads anywhere from 1 to 5). With
    `upstream`, the work each queue's producer still holds counts as ready."""
    latest: dict[str, QueueMetrics] = {}
    for reading in history:
        if reading.queue in queues and (reading.queue not in latest or reading.at >= latest[reading.queue].at):
            latest[reading.queue] = reading
    for queue in queues:
        if queue not in latest:
            return Unknown(f"no reading of queue {queue} yet")
        age = now - latest[queue].at
        if age > stale_after_s:
            return Unknown(f"the latest reading of queue {queue} is {age:.0f} s old (stale after {stale_after_s:g} s)")
        if latest[queue].ready is None:
            return Unknown(f"the broker does not report the ready count of queue {queue}")
        if upstream and latest[queue].upstream is None:
            return Unknown(f"the work waiting upstream of queue {queue} is unknown")
    readings = [latest[q] for q in queues]
    unacked = _sum_or_none([r.unacked for r in readings])
    consumers = [r.consumers for r in readings]
    since = now - rate_window_s
    arrivals = _sum_or_none([_mean_rate([r for r in history if r.queue == q], since) for q in queues])
    return Demand(
        at=min(r.at for r in readings),
        ready=sum((r.ready or 0) + (r.upstream or 0) for r in readings),
        unacked=None if unacked is None else int(unacked),
        # every replica consumes every queue of its target, so the largest count is the number of replicas consuming
        consumers=None if any(c is None for c in consumers) else max(c or 0 for c in consumers),
        arrival_rate=arrivals,
        ack_rate=_sum_or_none([r.ack_rate for r in readings]),
    )


def measured_service_rate(previous: Demand | None, demand: Demand, prior_rate: float) -> float | None:
    """Acks per consumer over the last interval, if it measured capacity rather than load: when it began, enough
    was waiting to keep every consumer busy throughout (twice what `prior_rate` would take), and no consumer came or
    went. Only the start may decide: picking intervals by how much still waited at their end picks the intervals in
    which the consumers happened to be slow, and the rate reads low."""
    if previous is None or not demand.consumers or not demand.ack_rate or demand.at <= previous.at:
        return None
    busy_throughout = previous.ready >= 2 * demand.consumers * prior_rate * (demand.at - previous.at)
    if busy_throughout and previous.consumers == demand.consumers:
        return demand.ack_rate / demand.consumers
    return None


@dataclass(frozen=True)
class ServiceRate:
    per_replica: float
    source: str  # learned | configured


def service_rate(policy: TargetPolicy, demand: Demand, learned: float | None) -> ServiceRate:
    """Messages a second one replica handles: the learned rate, else the configured one. Acks per consumer are a
    lower bound on it at any time, so a replica already doing more than either says so."""
    per_consumer = demand.ack_rate / demand.consumers if demand.ack_rate and demand.consumers else 0.0
    if learned is not None:
        return ServiceRate(max(learned, per_consumer), "learned")
    assert policy.service_rate_per_replica is not None
    return ServiceRate(max(policy.service_rate_per_replica, per_consumer), "configured")


@dataclass(frozen=True)
class Need:
    exact: float  # replicas, fractional: the load over one replica's share
    explanation: str
    lower_bound: bool  # a figure was unknown and counted as 0: more may be needed, never fewer

    @property
    def replicas(self) -> int:
        # rounded first so that float noise (3.0000000001) does not add a replica
        return math.ceil(round(self.exact, 9))


def replicas_needed(policy: TargetPolicy, demand: Demand, learned_rate: float | None) -> Need:
    """The replica count for the policy's target: backlog per replica, or R = ceil((λ + B/T) / μ)."""
    waiting = f"{demand.backlog} messages queued ({demand.ready} ready, " + (
        "in flight unknown)" if demand.unacked is None else f"{demand.unacked} in flight)"
    )
    if policy.target_backlog_per_replica is not None:
        target = policy.target_backlog_per_replica
        return Need(demand.backlog / target, f"{waiting} at {target} per replica", demand.unacked is None)
    assert policy.target_drain_seconds is not None
    rate = service_rate(policy, demand, learned_rate)
    arriving = demand.arrival_rate or 0.0
    exact = (arriving + demand.backlog / policy.target_drain_seconds) / rate.per_replica
    arrivals = "arrivals unknown" if demand.arrival_rate is None else f"{arriving:.1f}/s arriving"
    explanation = (
        f"{waiting}, {arrivals}, {rate.per_replica:.2f}/s per replica ({rate.source}); "
        f"drained within {policy.target_drain_seconds:g} s"
    )
    lower_bound = demand.unacked is None or demand.arrival_rate is None
    return Need(exact, explanation, lower_bound)

"""Our scaling decision, a pure function: policy, current size, recent readings and memory in; a decision and the
next memory out. Built against KEDA's known failures: in-flight work counts, unknown readings hold, a drain-time
target uses the measured service rate, and scale-in waits one short window instead of the HPA's five minutes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from autoscaler.behavior import Recommendations, ScaleEvents, limit_rate, stabilize, store_scale_event
from autoscaler.demand import (
    Demand,
    Need,
    Unknown,
    combine,
    measured_service_rate,
    replicas_needed,
    saturated,
    stays_saturated,
)
from autoscaler.model import Decision, QueueMetrics, ScaleState
from autoscaler.policy import TargetPolicy

LEARNING_RATE = 0.3
_LIMIT_WORDS = {
    "ScaleUpLimit": "the scale-up step limit",
    "ScaleDownLimit": "the scale-down step limit",
    "TooManyReplicas": "max_replicas",
    "TooFewReplicas": "min_replicas",
}


@dataclass(frozen=True)
class Memory:
    """What a decision needs from earlier ones; the caller keeps it between calls (and may drop it on restart)."""

    recommendations: Recommendations = ()
    scale_up_events: ScaleEvents = ()
    scale_down_events: ScaleEvents = ()
    service_rate: float | None = None  # per replica, learned while every consumer was busy
    idle_since: float | None = None  # since when every reading showed nothing queued, in flight or arriving
    last_demand: Demand | None = None


def record_scale(memory: Memory, decision: Decision, policy: TargetPolicy) -> Memory:
    """Call once the target has taken `decision`, so that the step limits count it."""
    up, down = store_scale_event(
        memory.scale_up_events,
        memory.scale_down_events,
        policy.behavior,
        decision.current,
        decision.desired,
        decision.at,
    )
    return replace(memory, scale_up_events=up, scale_down_events=down)


def _decision(policy: TargetPolicy, now: float, current: int, desired: int, reason: str, raw: int | None) -> Decision:
    return Decision(target=policy.name, at=now, current=current, desired=desired, reason=reason, raw=raw)


def _propose(
    policy: TargetPolicy, current: int, demand: Demand, need: Need, previous: Demand | None
) -> tuple[int | None, str]:
    """The size the demand asks for, before windows and limits, and why; None: hold as is, remembering nothing.
    `previous` is the demand of the decision before, if it read the queues."""
    if current == 0:
        if demand.backlog <= policy.activation_backlog:
            threshold = policy.activation_backlog
            return None, f"idle at zero: backlog {demand.backlog} is not above the activation threshold {threshold}"
        return max(1, need.replicas), (
            f"activate from zero (backlog {demand.backlog} > {policy.activation_backlog}): {need.explanation}"
        )
    if (
        policy.upstream_backlog
        and saturated(demand, policy.prefetch)
        and need.exact <= current * (1 + policy.tolerance)
    ):
        full = f"{demand.unacked} in flight for {demand.consumers} consumers × prefetch {policy.prefetch}, none ready"
        if stays_saturated(previous, demand, policy.prefetch):
            up = current + 1
            return up, f"scale up to {up}: every consumer is full ({full}) two readings running, so more waits upstream"
        # one full reading may be chance; holding (not falling through) also keeps a scale-down from counting it
        return current, f"steady at {current}: every consumer is full ({full}), but not in the reading before"
    if need.lower_bound and need.replicas <= current:
        return None, f"hold at {current}: a figure is unknown and what is known ({need.explanation}) asks for no more"
    if need.exact > current * (1 + policy.tolerance):
        unknown = " (a lower bound: a figure is unknown)" if need.lower_bound else ""
        return need.replicas, f"scale up to {need.replicas}: {need.explanation}{unknown}"
    # asymmetric: a smaller count must keep headroom, or it runs near saturation and the queue pulls it back up
    down_to = math.ceil(round(need.exact * (1 + policy.scale_down_headroom), 9))
    if down_to < current:
        headroom = f"{need.exact:.2f} replicas' worth + {policy.scale_down_headroom:.0%} headroom"
        return down_to, f"scale down to {down_to} ({headroom}): {need.explanation}"
    return current, f"steady at {current}: {need.exact:.2f} replicas' worth ({need.explanation})"


def _stabilization_note(policy: TargetPolicy, proposal: int, desired: int, current: int) -> str:
    if desired > proposal:
        return f"; held at {desired}, the highest recommendation of the last {policy.behavior.down.window_s} s"
    if desired < proposal and desired != current:
        return f"; held at {desired}, the lowest recommendation of the last {policy.behavior.up.window_s} s"
    if desired < proposal:
        return f"; held at {desired}: the last {policy.behavior.up.window_s} s did not all ask for more"
    return ""


def _learn_from(policy: TargetPolicy, memory: Memory, demand: Demand, now: float) -> Memory:
    learned = memory.service_rate
    if policy.target_drain_seconds is not None:  # only a drain-time target uses a service rate
        prior = learned or policy.service_rate_per_replica or 0.0
        measured = measured_service_rate(memory.last_demand, demand, prior)
        if measured is not None:  # a moving average: one 5 s sample of a few dozen acks is noisy
            learned = measured if learned is None else learned + LEARNING_RATE * (measured - learned)
    idle_since = (memory.idle_since if memory.idle_since is not None else now) if demand.idle else None
    return replace(memory, idle_since=idle_since, service_rate=learned, last_demand=demand)


def decide(
    policy: TargetPolicy, state: ScaleState, history: Sequence[QueueMetrics], now: float, memory: Memory
) -> tuple[Decision, Memory]:
    """What the target should have now, given its recent readings (any order, any of its queues)."""
    current = state.desired
    if current > policy.max_replicas:
        reason = f"above max_replicas {policy.max_replicas}"
        return _decision(policy, now, current, policy.max_replicas, reason, None), memory
    if current < policy.min_replicas:
        reason = f"below min_replicas {policy.min_replicas}"
        return _decision(policy, now, current, policy.min_replicas, reason, None), memory

    demand = combine(
        policy.queues, history, now, policy.stale_after_seconds, policy.rate_window_seconds, policy.engine_backlog
    )
    if isinstance(demand, Unknown):
        forget = replace(memory, idle_since=None, last_demand=None)
        return _decision(policy, now, current, current, f"hold at {current}: {demand.reason}", None), forget
    previous = memory.last_demand
    memory = _learn_from(policy, memory, demand, now)
    need = replicas_needed(policy, demand, memory.service_rate)
    proposal, reason = _propose(policy, current, demand, need, previous)
    if proposal is None:
        return _decision(policy, now, current, current, reason, need.replicas), memory

    desired, recommendations = stabilize(memory.recommendations, proposal, current, policy.behavior, now)
    memory = replace(memory, recommendations=recommendations)
    reason += _stabilization_note(policy, proposal, desired, current)
    final, limit = limit_rate(
        desired,
        current,
        min_replicas=policy.min_replicas,
        max_replicas=policy.max_replicas,
        up=memory.scale_up_events,
        down=memory.scale_down_events,
        behavior=policy.behavior,
        now=now,
    )
    if final != desired:
        reason += f"; limited to {final} by {_LIMIT_WORDS[limit]}"

    if final == 0 and current > 0:
        idle_for = 0.0 if memory.idle_since is None else now - memory.idle_since
        if idle_for < policy.behavior.down.window_s:
            final = 1
            window = policy.behavior.down.window_s
            reason += f"; keeps 1 replica: idle for {idle_for:.0f} s of the {window} s needed to stop"
    if final < current and demand.unacked:
        floor = math.ceil(demand.unacked / policy.prefetch)
        if final < floor:
            final = min(current, floor)
            reason += f"; keeps {final} for {demand.unacked} in-flight messages (prefetch {policy.prefetch})"
    return _decision(policy, now, current, final, reason, need.replicas), memory

"""The HPA's stabilisation and step limits (`pkg/controller/podautoscaler/horizontal.go`) as pure functions.

Both the KEDA + HPA emulation and our own decision use them, so a policy's `behavior` means exactly what it means in an
HPA manifest. Times are seconds on one clock; where Go compares with `After`/`Before` the comparison here is strict too,
and lists are replaced at the same index Go replaces, so the upstream table tests read the same.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

SelectPolicy = Literal["Max", "Min", "Disabled"]
StepKind = Literal["Pods", "Percent"]
Limit = Literal["DesiredWithinRange", "ScaleUpLimit", "TooManyReplicas", "ScaleDownLimit", "TooFewReplicas"]

_MIN_INT32 = -(2**31)
_MAX_INT32 = 2**31 - 1
SCALE_UP_LIMIT_FACTOR = 2.0
SCALE_UP_LIMIT_MINIMUM = 4.0


@dataclass(frozen=True)
class StepPolicy:
    """At most `value` pods (or percent) of change within any `period_s`."""

    kind: StepKind
    value: int
    period_s: int


@dataclass(frozen=True)
class ScalingRules:
    window_s: int
    select: SelectPolicy = "Max"
    policies: tuple[StepPolicy, ...] = ()

    @property
    def longest_period_s(self) -> int:
        return max((p.period_s for p in self.policies), default=0)


@dataclass(frozen=True)
class Behavior:
    up: ScalingRules
    down: ScalingRules


# autoscaling/v2 defaults (`GenerateHPAScaleUpRules`, `GenerateHPAScaleDownRules`); the down window is the controller's
DEFAULT_SCALE_UP = ScalingRules(0, "Max", (StepPolicy("Pods", 4, 15), StepPolicy("Percent", 100, 15)))
DEFAULT_SCALE_DOWN = ScalingRules(300, "Max", (StepPolicy("Percent", 100, 15),))
DEFAULT_BEHAVIOR = Behavior(DEFAULT_SCALE_UP, DEFAULT_SCALE_DOWN)


@dataclass(frozen=True)
class Recommendation:
    replicas: int
    at: float


@dataclass(frozen=True)
class ScaleEvent:
    """A change of `change` replicas (always positive; the list it is in says the direction)."""

    change: int
    at: float
    outdated: bool = False


Recommendations = tuple[Recommendation, ...]
ScaleEvents = tuple[ScaleEvent, ...]


def _record(recs: Recommendations, old_index: int | None, new: Recommendation) -> Recommendations:
    # Go overwrites the last obsolete sample found, else appends
    if old_index is None:
        return (*recs, new)
    return (*recs[:old_index], new, *recs[old_index + 1 :])


def stabilize_max(
    recs: Sequence[Recommendation], desired: int, window_s: float, now: float
) -> tuple[int, Recommendations]:
    """`stabilizeRecommendation` (behavior == nil): the highest recommendation of the window, `desired` included.

    Here a sample exactly at the cutoff still counts (Go: `!Before(cutoff)`), unlike the behavior path.
    """
    cutoff = now - window_s
    highest, old_index = desired, None
    for i, rec in enumerate(recs):
        if rec.at < cutoff:
            old_index = i
        elif rec.replicas > highest:
            highest = rec.replicas
    return highest, _record(tuple(recs), old_index, Recommendation(desired, now))


def stabilize(
    recs: Sequence[Recommendation], desired: int, current: int, behavior: Behavior, now: float
) -> tuple[int, Recommendations]:
    """`stabilizeRecommendationWithBehaviors`: keep `current` unless every recommendation of the up window is above
    it (then the lowest of them) or every one of the down window is below it (then the highest)."""
    up_cutoff = now - behavior.up.window_s
    down_cutoff = now - behavior.down.window_s
    up, down, old_index = desired, desired, None
    for i, rec in enumerate(recs):
        if rec.at > up_cutoff:
            up = min(rec.replicas, up)
        if rec.at > down_cutoff:
            down = max(rec.replicas, down)
        if rec.at < up_cutoff and rec.at < down_cutoff:
            old_index = i
    recommendation = current
    if recommendation < up:
        recommendation = up
    if recommendation > down:
        recommendation = down
    return recommendation, _record(tuple(recs), old_index, Recommendation(desired, now))


def changed_in_period(period_s: int, events: Sequence[ScaleEvent], now: float) -> int:
    """`getReplicasChangePerPeriod`: replicas changed by the events younger than `period_s`."""
    cutoff = now - period_s
    return sum(e.change for e in events if e.at > cutoff)


def _period_start(
    current: int, policy: StepPolicy, up: Sequence[ScaleEvent], down: Sequence[ScaleEvent], now: float
) -> int:
    # P0: what the target had when the policy's period began
    return current - changed_in_period(policy.period_s, up, now) + changed_in_period(policy.period_s, down, now)


def scale_up_limit(
    current: int, up: Sequence[ScaleEvent], down: Sequence[ScaleEvent], rules: ScalingRules, now: float
) -> int:
    """`calculateScaleUpLimitWithScalingRules`."""
    if rules.select == "Disabled":
        return current
    pick = min if rules.select == "Min" else max
    result = _MAX_INT32 if rules.select == "Min" else _MIN_INT32
    for policy in rules.policies:
        p0 = _period_start(current, policy, up, down, now)
        # Percent rounds up, or a small percentage of a small target would never add a pod
        proposed = p0 + policy.value if policy.kind == "Pods" else math.ceil(p0 * (1 + policy.value / 100))
        result = pick(result, proposed)
    return result


def scale_down_limit(
    current: int, up: Sequence[ScaleEvent], down: Sequence[ScaleEvent], rules: ScalingRules, now: float
) -> int:
    """`calculateScaleDownLimitWithBehaviors`; Max selects the largest change, which is the smallest count."""
    if rules.select == "Disabled":
        return current
    pick = max if rules.select == "Min" else min
    result = _MIN_INT32 if rules.select == "Min" else _MAX_INT32
    for policy in rules.policies:
        p0 = _period_start(current, policy, up, down, now)
        # Percent truncates toward zero, as Go's int32() conversion does
        proposed = p0 - policy.value if policy.kind == "Pods" else int(p0 * (1 - policy.value / 100))
        result = pick(result, proposed)
    return result


def limit_rate(
    desired: int,
    current: int,
    *,
    min_replicas: int,
    max_replicas: int,
    up: Sequence[ScaleEvent],
    down: Sequence[ScaleEvent],
    behavior: Behavior,
    now: float,
) -> tuple[int, Limit]:
    """`convertDesiredReplicasWithBehaviorRate`: the step limits and the min/max clamp, with the HPA's reason."""
    reason: Limit
    if desired > current:
        limit = max(scale_up_limit(current, up, down, behavior.up, now), current)
        if max_replicas > limit:
            allowed, reason = limit, "ScaleUpLimit"
        else:
            allowed, reason = max_replicas, "TooManyReplicas"
        if desired > allowed:
            return allowed, reason
    elif desired < current:
        limit = min(scale_down_limit(current, up, down, behavior.down, now), current)
        if min_replicas < limit:
            allowed, reason = limit, "ScaleDownLimit"
        else:
            allowed, reason = min_replicas, "TooFewReplicas"
        if desired < allowed:
            return allowed, reason
    return desired, "DesiredWithinRange"


def limit_without_behavior(desired: int, current: int, *, min_replicas: int, max_replicas: int) -> tuple[int, Limit]:
    """`convertDesiredReplicasWithRules` (behavior == nil): clamp to [min, min(max, max(2·current, 4))]."""
    reason: Limit
    scale_up_cap = int(max(SCALE_UP_LIMIT_FACTOR * current, SCALE_UP_LIMIT_MINIMUM))
    if max_replicas > scale_up_cap:
        highest, reason = scale_up_cap, "ScaleUpLimit"
    else:
        highest, reason = max_replicas, "TooManyReplicas"
    if desired < min_replicas:
        return min_replicas, "TooFewReplicas"
    if desired > highest:
        return highest, reason
    return desired, "DesiredWithinRange"


def _store(events: ScaleEvents, change: int, longest_period_s: int, now: float) -> ScaleEvents:
    cutoff = now - longest_period_s
    marked = tuple(replace(e, outdated=True) if e.at < cutoff else e for e in events)
    old_index = None
    for i, e in enumerate(marked):
        if e.outdated:
            old_index = i
    new = ScaleEvent(change, now)
    if old_index is None:
        return (*marked, new)
    return (*marked[:old_index], new, *marked[old_index + 1 :])


def store_scale_event(
    up: ScaleEvents, down: ScaleEvents, behavior: Behavior | None, previous: int, new: int, now: float
) -> tuple[ScaleEvents, ScaleEvents]:
    """`storeScaleEvent`: events are kept only with a behavior; one older than the longest period is reused."""
    if behavior is None or new == previous:
        return up, down
    if new > previous:
        return _store(up, new - previous, behavior.up.longest_period_s, now), down
    return up, _store(down, previous - new, behavior.down.longest_period_s, now)

"""One trace replayed under our policy and under the KEDA + HPA emulation, scored side by side; and the fair measure:
KEDA swept across its target value and read at our p95 wait, so replica-seconds compare at equal service."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from autoscaler.keda_hpa import KedaConfig, Trigger
from autoscaler.model import Decision
from autoscaler.policy import TargetPolicy
from autoscaler.scorecard import Burst, Score, find_bursts, format_table, score
from autoscaler.simulator import Run, SimulationConfig, as_replayed, fair_trigger, keda_for, run_keda, run_ours
from autoscaler.traces import Trace


@dataclass(frozen=True)
class Comparison:
    trace: Trace
    bursts: list[Burst]
    ours: Run
    keda: Run
    decisions: list[Decision]
    scores: tuple[Score, Score]

    def table(self) -> str:
        return format_table(self.trace, self.bursts, self.scores)


def default_keda(
    policy: TargetPolicy,
    config: SimulationConfig,
    *,
    value: float | None = None,
    protocol: Literal["http", "amqp"] = "http",
    trigger: Trigger | None = None,
) -> KedaConfig:
    """The ScaledObject the comparison gives KEDA: the fair trigger for the producer the replay runs, unless told."""
    replayed = as_replayed(policy, config)
    return keda_for(replayed, value=value, protocol=protocol, trigger=trigger or fair_trigger(replayed))


def compare(trace: Trace, policy: TargetPolicy, config: SimulationConfig, keda: KedaConfig | None = None) -> Comparison:
    keda = keda or default_keda(policy, config)
    ours, decisions = run_ours(trace, policy, config)
    theirs = run_keda(trace, policy, keda, config)
    bursts = find_bursts(trace)
    return Comparison(trace, bursts, ours, theirs, decisions, (score(ours, bursts), score(theirs, bursts)))


# --- the sweep: replica-seconds at equal p95 wait -----------------------------------------------------------------


@dataclass(frozen=True)
class SweepPoint:
    value: float  # KEDA's target value (value / targetValue / targetQueryValue)
    score: Score


@dataclass(frozen=True)
class EqualWait:
    """KEDA read off the sweep at our p95 wait: value and replica-seconds interpolated linearly in p95 between the
    two neighbouring target values whose p95 waits bracket ours. Flaps and drains are counts and do not
    interpolate: they come from `nearest`, the point of the pair closer in p95. `between` None: no pair brackets
    ours, `nearest` is the closest point and the figures are its own (not at equal wait)."""

    p95_wait_s: float
    value: float
    replica_seconds: float
    nearest: SweepPoint
    between: tuple[SweepPoint, SweepPoint] | None

    def describe(self, name: str) -> str:
        if self.between is None:
            return (
                f"no two {name}s bracket our p95 wait: nearest {name} {self.nearest.value:g} "
                f"(p95 {self.nearest.score.p95_wait_s:.1f} s), not at equal wait"
            )
        low, high = self.between
        return (
            f"interpolated between {name} {low.value:g} (p95 {low.score.p95_wait_s:.1f} s) and "
            f"{high.value:g} (p95 {high.score.p95_wait_s:.1f} s); flaps and drain at {self.nearest.value:g}"
        )


def _interpolate(p95: float, low: SweepPoint, high: SweepPoint) -> EqualWait:
    a, b = low.score.p95_wait_s, high.score.p95_wait_s
    share = 0.0 if a == b else (p95 - a) / (b - a)
    nearest = low if abs(p95 - a) <= abs(p95 - b) else high
    return EqualWait(
        p95_wait_s=p95,
        value=low.value + share * (high.value - low.value),
        replica_seconds=low.score.replica_seconds + share * (high.score.replica_seconds - low.score.replica_seconds),
        nearest=nearest,
        between=(low, high),
    )


def equal_wait(p95_wait_s: float, points: Sequence[SweepPoint]) -> EqualWait:
    """KEDA at our p95 wait. The p95 wait need not be monotonic in the target value (the HPA's rounding and
    max-hold make it jump), so several neighbouring pairs may bracket ours: the one that costs KEDA the fewest
    replica-seconds is taken, which errs in KEDA's favour."""
    if not points:
        raise ValueError("an empty sweep")
    ordered = sorted(points, key=lambda p: p.value)
    exact = [(p, p) for p in ordered if p.score.p95_wait_s == p95_wait_s]
    candidates = [
        _interpolate(p95_wait_s, low, high)
        for low, high in [*itertools.pairwise(ordered), *exact]
        if min(low.score.p95_wait_s, high.score.p95_wait_s)
        <= p95_wait_s
        <= max(low.score.p95_wait_s, high.score.p95_wait_s)
    ]
    if candidates:
        return min(candidates, key=lambda c: c.replica_seconds)
    nearest = min(ordered, key=lambda p: (abs(p.score.p95_wait_s - p95_wait_s), p.score.replica_seconds))
    return EqualWait(p95_wait_s, nearest.value, float(nearest.score.replica_seconds), nearest, None)


def sweep_values(upper: float) -> tuple[float, ...]:
    """Target values from 1 to `upper`, a factor √2 apart: fine enough to interpolate, few enough to run."""
    steps = max(1, math.ceil(2 * math.log2(max(upper, 1.0))))
    return tuple(float(f"{2 ** (k / 2):.3g}") for k in range(steps + 1))


def worst_drain(drains: Sequence[int | None]) -> str:
    """The slowest burst's drain time: '-' without bursts, 'not drained' if one never drained."""
    if not drains:
        return "-"
    if any(d is None for d in drains):
        return "not drained"
    return f"{max(d for d in drains if d is not None)} s"


@dataclass(frozen=True)
class Sweep:
    trace: Trace
    keda: KedaConfig  # the swept ScaledObject (its `value` is the one configured, not swept)
    ours: Score
    points: tuple[SweepPoint, ...]
    match: EqualWait

    @property
    def ratio(self) -> float:
        """Ours' replica-seconds over KEDA's at equal p95 wait: below 1, ours is cheaper for the same service."""
        return self.ours.replica_seconds / self.match.replica_seconds

    def table(self) -> str:
        name = self.keda.value_name
        header = f"{name:>16}{'p95 wait (s)':>14}{'replica-s':>12}{'peak':>6}{'flaps':>7}{'worst drain':>14}"
        lines = [f"trace {self.trace.name}: KEDA + HPA swept across {name}, {self.keda.signal}", header]
        for p in sorted(self.points, key=lambda p: p.value):
            lines.append(_row(f"{p.value:g}", p.score))
        lines.append(_row("ours", self.ours))
        m, keda = self.match, self.match.nearest.score
        lines += [
            f"KEDA at our p95 wait {m.p95_wait_s:.1f} s: {name} {m.value:.3g}, replica-seconds "
            f"{m.replica_seconds:.0f}, flaps {keda.flaps}, worst drain {worst_drain(keda.drains_s)} "
            f"({m.describe(name)})",
            f"ours / KEDA replica-seconds at equal p95 wait: {self.ratio:.2f}; "
            f"flaps ours {self.ours.flaps}, KEDA {keda.flaps}",
        ]
        return "\n".join(lines)


def _row(label: str, s: Score) -> str:
    return (
        f"{label:>16}{s.p95_wait_s:>14.1f}{s.replica_seconds:>12}{s.peak_replicas:>6}{s.flaps:>7}"
        f"{worst_drain(s.drains_s):>14}"
    )


def sweep(
    trace: Trace,
    policy: TargetPolicy,
    config: SimulationConfig,
    keda: KedaConfig | None = None,
    values: Sequence[float] | None = None,
) -> Sweep:
    """Replay `trace` under ours once and under KEDA + HPA at each target value; read KEDA at our p95 wait."""
    keda = keda or default_keda(policy, config)
    values = values or sweep_values(2 * keda.value)
    bursts = find_bursts(trace)
    ours_run, _ = run_ours(trace, policy, config)
    ours = score(ours_run, bursts)
    points = tuple(
        SweepPoint(v, score(run_keda(trace, policy, replace(keda, value=v), config), bursts)) for v in values
    )
    return Sweep(trace, keda, ours, points, equal_wait(ours.p95_wait_s, points))

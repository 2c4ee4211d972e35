"""One trace replayed under our policy and under the KEDA + HPA emulation, scored side by side."""

from __future__ import annotations

from dataclasses import dataclass

from autoscaler.keda_hpa import KedaConfig
from autoscaler.model import Decision
from autoscaler.policy import TargetPolicy
from autoscaler.scorecard import Burst, Score, find_bursts, format_table, score
from autoscaler.simulator import Run, SimulationConfig, keda_for, run_keda, run_ours
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


def compare(trace: Trace, policy: TargetPolicy, config: SimulationConfig, keda: KedaConfig | None = None) -> Comparison:
    keda = keda or keda_for(policy)
    ours, decisions = run_ours(trace, policy, config)
    theirs = run_keda(trace, policy, keda, config)
    bursts = find_bursts(trace)
    return Comparison(trace, bursts, ours, theirs, decisions, (score(ours, bursts), score(theirs, bursts)))

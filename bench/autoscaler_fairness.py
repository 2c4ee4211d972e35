"""Ours against KEDA + HPA like for like: replica-seconds at equal p95 wait, for every shipped trace and target.

    .venv/bin/python bench/autoscaler_fairness.py [--seeds 1,2,3] [--targets bridge-workers] [--plain]

For each trace in `deployments/autoscaler/traces/` and each shipped target whose producer holds work upstream
(`upstream_backlog`), replays the trace under our policy and under KEDA + HPA swept across its target value
(`autoscaler.replay.sweep`: 1 to twice the policy's backlog per replica, √2 apart), with KEDA given the signal an
operator would give it there: a metrics-api trigger on the engine's task count (the engine's backlog plus the
queue). KEDA is read at our p95 wait, interpolated between the two target values that bracket it. Per seed (the
seed draws the arrival times within a trace row, the service times and each loop's phase), then the median over
seeds. For contrast, the QueueLength trigger at the policy's value on the same world (what the comparison gave KEDA
before): its peak replicas and what it left unfinished. `--plain` adds the same sweep with a plain producer (every
arrival published), where QueueLength is the fair trigger. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from autoscaler.policy import DEFAULT_POLICIES, TargetPolicy, load_policies
from autoscaler.replay import Sweep, default_keda, sweep
from autoscaler.scorecard import find_bursts, score
from autoscaler.simulator import SimulationConfig, run_keda
from autoscaler.traces import Trace, load_trace

TRACES = DEFAULT_POLICIES.parent / "traces"


@dataclass(frozen=True)
class Seeded:
    """One seed's sweep, and the QueueLength run on the same world for contrast."""

    sweep: Sweep
    queue_length: tuple[int, int] | None  # peak replicas, unfinished; None: not run (a plain producer)


def _drain(drains: Sequence[int | None]) -> float | None:
    """The slowest burst's drain in seconds; inf: one never drained; None: no bursts."""
    if not drains:
        return None
    return math.inf if any(d is None for d in drains) else float(max(d for d in drains if d is not None))


def _med(values: Sequence[float]) -> float:
    return float(np.median(values))


def _median(values: Sequence[float | None]) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return "-"
    m = _med(present)
    return "not drained" if math.isinf(m) else f"{m:.0f}"


def run_seed(trace: Trace, policy: TargetPolicy, config: SimulationConfig, values: Sequence[float] | None) -> Seeded:
    result = sweep(trace, policy, config, values=values)
    if result.keda.trigger == "rabbitmq":  # QueueLength is the fair signal already
        return Seeded(result, None)
    queue_length = run_keda(trace, policy, default_keda(policy, config, trigger="rabbitmq"), config)
    baseline = score(queue_length, find_bursts(trace))
    return Seeded(result, (baseline.peak_replicas, baseline.unfinished))


HEADER = (
    f"{'trace':<13}{'target':<18}{'producer':<10}{'KEDA signal':<13}{'ours p95':>9}{'KEDA value':>11}"
    f"{'ours r-s':>10}{'KEDA r-s':>10}{'ratio':>7}{'ratio range':>13}{'flaps o/K':>11}{'drain o/K (s)':>16}"
    f"{'bracketed':>10}{'QueueLength peak/unfinished':>29}"
)


def row(trace: str, target: str, producer: str, runs: Sequence[Seeded]) -> str:
    """Medians over seeds; flaps and drain are KEDA's at the sweep point nearest our wait (counts do not
    interpolate); `bracketed` counts the seeds where two target values bracket our wait."""
    sweeps = [r.sweep for r in runs]
    ratios = [s.ratio for s in sweeps]
    med = _med
    signal = sweeps[0].keda.trigger if sweeps[0].keda.trigger != "rabbitmq" else "QueueLength"
    flaps = f"{med([s.ours.flaps for s in sweeps]):g}/{med([s.match.nearest.score.flaps for s in sweeps]):g}"
    drains = (
        f"{_median([_drain(s.ours.drains_s) for s in sweeps])}/"
        f"{_median([_drain(s.match.nearest.score.drains_s) for s in sweeps])}"
    )
    bracketed = f"{sum(s.match.between is not None for s in sweeps)}/{len(sweeps)}"
    contrast = [r.queue_length for r in runs if r.queue_length is not None]
    baseline = f"{med([c[0] for c in contrast]):g}/{med([c[1] for c in contrast]):g}" if contrast else "-"
    return (
        f"{trace:<13}{target:<18}{producer:<10}{signal:<13}{med([s.ours.p95_wait_s for s in sweeps]):>9.1f}"
        f"{med([s.match.value for s in sweeps]):>11.3g}{med([s.ours.replica_seconds for s in sweeps]):>10.0f}"
        f"{med([s.match.replica_seconds for s in sweeps]):>10.0f}{med(ratios):>7.2f}"
        f"{f'{min(ratios):.2f}–{max(ratios):.2f}':>13}{flaps:>11}{drains:>16}{bracketed:>10}{baseline:>29}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="1,2,3", help="comma-separated; the figures are medians over them")
    ap.add_argument("--targets", default=None, help="comma-separated (default: every shipped upstream target)")
    ap.add_argument("--traces", default=None, help="comma-separated names in deployments/autoscaler/traces")
    ap.add_argument("--values", default=None, help="KEDA target values to sweep (default: 1 to 2×, √2 apart)")
    ap.add_argument("--plain", action="store_true", help="also sweep with a plain producer and QueueLength")
    args = ap.parse_args()

    policies = load_policies(DEFAULT_POLICIES)
    names = args.targets.split(",") if args.targets else [n for n in policies.targets if policies[n].upstream_backlog]
    traces = [load_trace(TRACES / f"{t}.csv") for t in (args.traces.split(",") if args.traces else [])] or [
        load_trace(p) for p in sorted(TRACES.glob("*.csv"))
    ]
    seeds = [int(s) for s in args.seeds.split(",")]
    values = tuple(float(v) for v in args.values.split(",")) if args.values else None
    producers = ["upstream", "plain"] if args.plain else ["upstream"]

    print(f"seeds {seeds}; ratio = ours / KEDA replica-seconds at our p95 wait (median over seeds)")
    print(HEADER)
    for trace in traces:
        for name in names:
            for producer in producers:
                started = time.monotonic()
                runs = [
                    run_seed(trace, policies[name], SimulationConfig(seed=s, upstream=producer == "upstream"), values)
                    for s in seeds
                ]
                print(row(trace.name, name, producer, runs), flush=True)
                print(f"  {trace.name} {name} {producer}: {time.monotonic() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()

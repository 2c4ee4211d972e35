"""The figures an operator compares autoscalers by, from simulated runs of one trace, and the table that shows them."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from autoscaler.simulator import Run, ScaleChange
from autoscaler.traces import Trace

FLAP_WINDOW_S = 300
DRAINED_BELOW = 10  # waiting messages; a queue sized for a drain time holds a few even when all is well


@dataclass(frozen=True)
class Burst:
    start: int
    end: int


def find_bursts(
    trace: Trace, window_s: int = 30, factor: float = 2.0, min_length_s: int = 10, merge_within_s: int = 300
) -> list[Burst]:
    """Stretches where the trailing `window_s` arrival rate exceeds `factor` × the trace's median rate (and 1/s)."""
    rate = trace.arrivals_per_second()
    if len(rate) == 0:
        return []
    trailing = np.convolve(rate, np.ones(window_s) / window_s)[: len(rate)]
    threshold = max(factor * float(np.median(trailing)), 1.0)
    bursts: list[Burst] = []
    above = np.flatnonzero(trailing > threshold)
    for t in above:
        if bursts and t - bursts[-1].end <= merge_within_s:
            bursts[-1] = Burst(bursts[-1].start, int(t))
        else:
            bursts.append(Burst(int(t), int(t)))
    return [b for b in bursts if b.end - b.start >= min_length_s]


def drain_time(run: Run, burst: Burst, horizon: int, epsilon: int = DRAINED_BELOW) -> int | None:
    """Seconds after the burst's end until at most `epsilon` messages wait (0: no more were waiting when it ended);
    None when that does not happen before `horizon` (the next burst, or the end of the run). Waiting upstream
    counts: with an upstream producer the queue shows no ready messages however much waits."""
    drained = np.flatnonzero(run.waiting[burst.end : horizon] <= epsilon)
    return None if len(drained) == 0 else int(drained[0])


def flaps(changes: Sequence[ScaleChange], window_s: int = FLAP_WINDOW_S) -> int:
    """Direction reversals: a change opposite to the one before it, within `window_s` of it."""
    count = 0
    for before, after in itertools.pairwise(changes):
        reversed_ = (before.after > before.before) != (after.after > after.before)
        if reversed_ and after.at - before.at <= window_s:
            count += 1
    return count


@dataclass(frozen=True)
class Score:
    label: str
    peak_backlog: int  # what the broker shows: ready + unacked
    peak_true_backlog: int | None  # upstream + ready + unacked; None with a plain producer (the same figure)
    drains_s: tuple[int | None, ...]
    p95_wait_s: float
    replica_seconds: int
    peak_replicas: int
    scale_events: int
    flaps: int
    requeued: int
    unfinished: int


def score(run: Run, bursts: Sequence[Burst]) -> Score:
    horizons = [b.start for b in bursts[1:]] + [len(run.ready)] if bursts else []
    return Score(
        label=run.label,
        peak_backlog=int((run.ready + run.unacked).max(initial=0)),
        peak_true_backlog=int((run.upstream + run.ready + run.unacked).max(initial=0)) if run.upstream_mode else None,
        drains_s=tuple(drain_time(run, b, h) for b, h in zip(bursts, horizons, strict=True)),
        p95_wait_s=float(np.percentile(run.waits, 95)) if len(run.waits) else 0.0,
        replica_seconds=int(run.replicas.sum()),
        peak_replicas=int(run.replicas.max(initial=0)),
        scale_events=len(run.changes),
        flaps=flaps(run.changes),
        requeued=run.requeued,
        unfinished=run.unfinished,
    )


def clock(seconds: int) -> str:
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def format_table(trace: Trace, bursts: Sequence[Burst], scores: Sequence[Score]) -> str:
    rows: list[tuple[str, list[str]]] = [("peak backlog (ready+unacked)", [str(s.peak_backlog) for s in scores])]
    if any(s.peak_true_backlog is not None for s in scores):
        cells = ["-" if s.peak_true_backlog is None else str(s.peak_true_backlog) for s in scores]
        rows.append(("peak backlog upstream+queue", cells))
    for i, b in enumerate(bursts):
        cells = ["not drained" if s.drains_s[i] is None else f"{s.drains_s[i]} s" for s in scores]
        rows.append((f"drained after burst {clock(b.start)}+{b.end - b.start + 1}s", cells))
    rows += [
        ("p95 wait (s)", [f"{s.p95_wait_s:.1f}" for s in scores]),
        ("replica-seconds", [str(s.replica_seconds) for s in scores]),
        ("peak replicas", [str(s.peak_replicas) for s in scores]),
        ("scale events", [str(s.scale_events) for s in scores]),
        (f"flaps (reversals ≤{FLAP_WINDOW_S} s)", [str(s.flaps) for s in scores]),
        ("requeued messages", [str(s.requeued) for s in scores]),
        ("unfinished at end", [str(s.unfinished) for s in scores]),
    ]
    width = max(len(name) for name, _ in rows) + 2
    header = "".join(f"{s.label:>14}" for s in scores)
    lines = [
        f"trace {trace.name}: {clock(trace.duration_s)}, {trace.total_arrivals} messages",
        f"{'':<{width}}{header}",
    ]
    lines += [f"{name:<{width}}" + "".join(f"{c:>14}" for c in cells) for name, cells in rows]
    return "\n".join(lines)

"""A PNG of simulated runs side by side: arrivals, backlog and replicas over time."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from autoscaler.scorecard import Burst
from autoscaler.simulator import Run
from autoscaler.traces import Trace


def plot_runs(trace: Trace, runs: Sequence[Run], bursts: Sequence[Burst], out: Path) -> Path:
    # a bare Figure on the Agg canvas: no pyplot state, no display needed
    figure = Figure(figsize=(12, 8), layout="constrained")
    FigureCanvasAgg(figure)
    arrivals_ax, backlog_ax, replicas_ax = figure.subplots(3, 1, sharex=True)
    minutes = np.arange(trace.duration_s) / 60
    rate = trace.arrivals_per_second()
    smooth = np.convolve(rate, np.ones(30) / 30, mode="same")
    arrivals_ax.plot(minutes, smooth, color="grey", linewidth=0.8)
    arrivals_ax.set_ylabel("arrivals/s (30 s mean)")
    for run in runs:
        t = run.seconds / 60
        [line] = backlog_ax.plot(t, run.ready + run.unacked, label=run.label, linewidth=0.9)
        if run.upstream_mode:  # the broker shows only the queue; dashed, what also waits upstream
            total = run.upstream + run.ready + run.unacked
            backlog_ax.plot(
                t, total, color=line.get_color(), linestyle="--", linewidth=0.9, label=f"{run.label} +upstream"
            )
        replicas_ax.step(t, run.replicas, where="post", label=run.label, linewidth=0.9)
    for ax in (arrivals_ax, backlog_ax, replicas_ax):
        for b in bursts:
            ax.axvspan(b.start / 60, (b.end + 1) / 60, color="orange", alpha=0.15, linewidth=0)
    upstream = "; dashed: +upstream" if any(r.upstream_mode for r in runs) else ""
    backlog_ax.set_ylabel(f"backlog (ready+unacked{upstream})")
    replicas_ax.set_ylabel("replicas")
    replicas_ax.set_xlabel("minutes")
    backlog_ax.legend(loc="upper right")
    figure.suptitle(f"trace {trace.name}")
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=100)
    return out

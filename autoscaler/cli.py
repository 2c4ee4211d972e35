"""`kep autoscaler …`: replay a trace against a policy and against KEDA + HPA, and write the sample traces."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Literal

import typer

from autoscaler.keda_hpa import TRIGGERS, Trigger
from autoscaler.policy import DEFAULT_POLICIES, PolicyError, TargetPolicy, load_policies
from autoscaler.replay import compare, default_keda, sweep
from autoscaler.scorecard import Burst
from autoscaler.simulator import Run, SimulationConfig, as_replayed
from autoscaler.traces import Trace, TraceError, load_trace, sample_traces, write_traces

DEFAULT_TRACES = DEFAULT_POLICIES.parent / "traces"

app = typer.Typer(help="Queue-depth autoscaling: replay traces, write sample traces.", no_args_is_help=True)


def _fail(message: str) -> typer.Exit:
    typer.secho(message, fg="red", err=True)
    return typer.Exit(2)


def _target(policy_path: Path, name: str | None) -> TargetPolicy:
    try:
        policies = load_policies(policy_path)
    except PolicyError as exc:
        raise _fail(str(exc)) from None
    names = sorted(policies.targets)
    if name is None:
        if len(names) != 1:
            raise _fail(f"{policy_path} holds several targets; choose one with --target: {', '.join(names)}")
        name = names[0]
    if name not in policies.targets:
        raise _fail(f"no target {name!r} in {policy_path}; there are: {', '.join(names)}")
    return policies[name]


def _gap(text: str) -> tuple[int, int]:
    start, _, end = text.partition("-")
    try:
        return int(start), int(end)
    except ValueError:
        raise _fail(f"--stats-gap wants START-END in seconds, not {text!r}") from None


def _trigger(text: str) -> Trigger | None:
    if text == "auto":
        return None
    for trigger in TRIGGERS:
        if text == trigger:
            return trigger
    raise _fail(f"--keda-trigger is auto or one of {', '.join(TRIGGERS)}, not {text!r}")


def _values(text: str | None) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise _fail(f"--keda-values wants numbers separated by commas, not {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise _fail("--keda-values must be above 0")
    return values


def _plotter() -> Callable[[Trace, Sequence[Run], Sequence[Burst], Path], Path]:
    # matplotlib is an optional extra and slow to import: a chart needs it, no other `kep` command does
    try:
        from autoscaler.plot import plot_runs
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] != "matplotlib":
            raise
        raise _fail("--png needs matplotlib: pip install 'kep-backoffice[plots]'") from None
    return plot_runs


@app.command()
def simulate(
    trace: Annotated[Path, typer.Argument(help="CSV: second,arrivals,service_time_s[,duration_s]")],
    policy: Annotated[Path, typer.Option(help="policy file or folder")] = DEFAULT_POLICIES,
    target: Annotated[str | None, typer.Option(help="target name in the policy file")] = None,
    png: Annotated[Path | None, typer.Option(help="draw backlog and replicas to this PNG")] = None,
    seed: int = 1,
    ready_delay: Annotated[float, typer.Option(help="seconds from asking for a replica to it consuming")] = 10.0,
    concurrency: Annotated[int, typer.Option(help="messages one replica works on at once")] = 1,
    keda_value: Annotated[float | None, typer.Option(help="KEDA backlog per replica (default: policy's)")] = None,
    keda_protocol: Annotated[
        str, typer.Option(help="rabbitmq trigger: http (ready+unacked) or amqp (ready only)")
    ] = "http",
    keda_trigger: Annotated[
        str,
        typer.Option(
            help="KEDA's trigger: rabbitmq (QueueLength), metrics-api or postgresql (the engine's backlog + queue); "
            "auto: metrics-api when the producer holds work upstream, else rabbitmq"
        ),
    ] = "auto",
    run_sweep: Annotated[
        bool, typer.Option("--sweep", help="also run KEDA across target values; compare at our p95 wait")
    ] = False,
    keda_values: Annotated[
        str | None, typer.Option(help="the target values to sweep, comma-separated (default: 1 to 2×, √2 apart)")
    ] = None,
    stats_gap: Annotated[list[str] | None, typer.Option(help="START-END seconds without broker statistics")] = None,
    upstream: Annotated[
        bool | None,
        typer.Option(
            "--upstream/--no-upstream",
            help="the producer holds work upstream and publishes only into free prefetch (default: the policy's "
            "upstream_backlog); sets upstream_backlog for the replay too",
            show_default=False,
        ),
    ] = None,
    engine_backlog: Annotated[
        bool | None,
        typer.Option(
            "--engine-backlog/--no-engine-backlog",
            help="with an upstream producer, ours reads what waits upstream (default: the policy's engine_backlog)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Replay TRACE under the policy and under the KEDA + HPA emulation; print the figures side by side. With
    --sweep, KEDA also runs across its target value and is read at our p95 wait: replica-seconds at equal wait."""
    plot = _plotter() if png is not None else None  # before the replay, which takes a while
    chosen = _target(policy, target)
    if upstream and chosen.min_replicas == 0:
        # as the policy loader refuses it: with no consumer the producer publishes nothing, so nothing would start
        raise _fail(f"--upstream needs min_replicas ≥ 1; target {chosen.name} has min_replicas 0")
    try:
        loaded = load_trace(trace)
    except TraceError as exc:
        raise _fail(str(exc)) from None
    if keda_protocol not in ("http", "amqp"):
        raise _fail("--keda-protocol is http or amqp")
    protocol: Literal["http", "amqp"] = "amqp" if keda_protocol == "amqp" else "http"
    trigger, values = _trigger(keda_trigger), _values(keda_values)
    config = SimulationConfig(
        seed=seed,
        ready_delay_s=ready_delay,
        concurrency=concurrency,
        stats_gaps=tuple(_gap(g) for g in stats_gap or []),
        upstream=upstream,
        engine_backlog=engine_backlog,
    )
    replayed = as_replayed(chosen, config)  # the producer and signals the replay runs with, overrides applied
    keda = default_keda(chosen, config, value=keda_value, protocol=protocol, trigger=trigger)
    result = compare(loaded, chosen, config, keda)
    typer.echo(
        f"policy {chosen.name}: every {chosen.interval_seconds:g} s, "
        f"replicas {chosen.min_replicas}..{chosen.max_replicas}; "
        f"KEDA: {keda.describe()}, activation {keda.activation_value:g}, "
        f"polling {keda.polling_interval_s:g} s, cooldown {keda.cooldown_period_s:g} s; seed {seed}, "
        f"readiness {ready_delay:g} s, prefetch {chosen.prefetch}, concurrency {concurrency}; "
        + (
            "producer holds work upstream (upstream_backlog)"
            if replayed.upstream_backlog
            else "producer publishes every arrival"
        )
        + ("; ours reads the upstream backlog (engine_backlog)" if replayed.engine_backlog else "")
    )
    typer.echo(result.table())
    if run_sweep:
        typer.echo(sweep(loaded, chosen, config, keda, values).table())
    if plot is not None and png is not None:
        typer.echo(f"chart: {plot(loaded, [result.ours, result.keda], result.bursts, png)}")


@app.command()
def traces(
    out: Annotated[Path, typer.Option(help="folder to write the CSV files to")] = DEFAULT_TRACES,
    seed: int = 7,
) -> None:
    """Write the sample traces (office hours, steady, spike, ramp) generated from SEED."""
    for path in write_traces(sample_traces(seed), out):
        typer.echo(f"{path} ({path.stat().st_size // 1024} KiB)")

"""`kep autoscaler`, as an operator runs it: no services needed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kepctl.main import app

runner = CliRunner()
POLICY = """\
targets:
  - name: workers
    queues: [q]
    scale: {ray_pool: {name: pool}}
    min_replicas: 0
    max_replicas: 6
    target_drain_seconds: 20
    service_rate_per_replica: 4
"""


def files(tmp_path: Path) -> tuple[Path, Path]:
    trace = tmp_path / "burst.csv"
    rows = [f"{s},{20 if 60 <= s < 120 else 1},0.25" for s in range(300)]
    trace.write_text("second,arrivals,service_time_s\n" + "\n".join(rows) + "\n", encoding="utf-8")
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    return trace, policy


def test_simulate_prints_the_table_and_draws(tmp_path: Path) -> None:
    trace, policy = files(tmp_path)
    png = tmp_path / "out" / "chart.png"
    result = runner.invoke(app, ["autoscaler", "simulate", str(trace), "--policy", str(policy), "--png", str(png)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "KEDA: QueueLength value 80 over http" in lines[0]
    assert lines[1] == "trace burst: 0:05:00, 1440 messages"
    for row in ("peak backlog", "drained after burst", "p95 wait", "replica-seconds", "scale events", "flaps"):
        assert any(line.startswith(row) for line in lines), row
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_chart_without_matplotlib_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # given: matplotlib not installed (the `plots` extra left out)
    for name in [m for m in sys.modules if m.split(".")[0] == "matplotlib" or m == "autoscaler.plot"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    trace, policy = files(tmp_path)
    png = tmp_path / "chart.png"

    result = runner.invoke(app, ["autoscaler", "simulate", str(trace), "--policy", str(policy), "--png", str(png)])

    assert result.exit_code == 2
    assert "pip install 'kep-backoffice[plots]'" in result.output
    assert "peak backlog" not in result.output  # said before the replay, not after it
    assert not png.exists()


def test_simulate_refuses_bad_input(tmp_path: Path) -> None:
    trace, policy = files(tmp_path)
    policy.write_text(POLICY.replace("max_replicas: 6", "max_replicas: -6"), encoding="utf-8")
    result = runner.invoke(app, ["autoscaler", "simulate", str(trace), "--policy", str(policy)])
    assert result.exit_code == 2
    assert f"{policy}: targets.0.max_replicas: Input should be greater than or equal to 1" in result.output
    policy.write_text(POLICY, encoding="utf-8")
    result = runner.invoke(app, ["autoscaler", "simulate", str(trace), "--policy", str(tmp_path), "--target", "x"])
    assert result.exit_code == 2
    assert "no target 'x'" in result.output
    result = runner.invoke(app, ["autoscaler", "simulate", str(tmp_path / "none.csv"), "--target", "bridge-workers"])
    assert result.exit_code == 2
    assert "cannot read" in result.output


def test_the_default_policy_file_needs_a_target_only_when_it_holds_several(tmp_path: Path) -> None:
    trace, _ = files(tmp_path)
    result = runner.invoke(app, ["autoscaler", "simulate", str(trace), "--target", "bridge-workers"])
    assert result.exit_code == 0, result.output
    assert "policy bridge-workers" in result.output


def test_the_upstream_flag_overrides_the_policy(tmp_path: Path) -> None:
    trace, policy = files(tmp_path)
    policy.write_text(POLICY.replace("min_replicas: 0", "min_replicas: 1"), encoding="utf-8")
    base = ["autoscaler", "simulate", str(trace), "--policy", str(policy)]
    plain = runner.invoke(app, base)
    assert plain.exit_code == 0, plain.output
    assert "producer publishes every arrival" in plain.output.splitlines()[0]
    assert "upstream+queue" not in plain.output
    upstream = runner.invoke(app, [*base, "--upstream"])
    assert upstream.exit_code == 0, upstream.output
    assert "producer holds work upstream (upstream_backlog)" in upstream.output.splitlines()[0]
    assert any(line.startswith("peak backlog upstream+queue") for line in upstream.output.splitlines())


def test_the_shipped_policy_replays_upstream_unless_told_otherwise(tmp_path: Path) -> None:
    trace, _ = files(tmp_path)
    png = tmp_path / "chart.png"
    shipped = runner.invoke(
        app, ["autoscaler", "simulate", str(trace), "--target", "bridge-workers", "--png", str(png)]
    )
    assert shipped.exit_code == 0, shipped.output
    assert "peak backlog upstream+queue" in shipped.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plain = runner.invoke(app, ["autoscaler", "simulate", str(trace), "--target", "bridge-workers", "--no-upstream"])
    assert plain.exit_code == 0, plain.output
    assert "upstream+queue" not in plain.output


def test_upstream_from_zero_is_refused(tmp_path: Path) -> None:
    trace, policy = files(tmp_path)  # min_replicas 0: with no consumer nothing would ever be published
    result = runner.invoke(app, ["autoscaler", "simulate", str(trace), "--policy", str(policy), "--upstream"])
    assert result.exit_code == 2
    assert "--upstream needs min_replicas ≥ 1; target workers has min_replicas 0" in result.output


def test_traces_writes_the_samples(tmp_path: Path) -> None:
    result = runner.invoke(app, ["autoscaler", "traces", "--out", str(tmp_path), "--seed", "7"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["office-hours.csv", "ramp.csv", "spike.csv", "steady.csv"]


def test_the_shipped_upstream_target_gives_keda_the_engine_backlog_and_sweeps(tmp_path: Path) -> None:
    trace, _ = files(tmp_path)
    base = ["autoscaler", "simulate", str(trace), "--target", "bridge-workers"]
    result = runner.invoke(app, [*base, "--sweep", "--keda-values", "2,8,32,128"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "KEDA: metrics-api on the engine's backlog + queue (AverageValue), targetValue 120" in lines[0]
    sweep_at = lines.index(
        "trace burst: KEDA + HPA swept across targetValue, metrics-api on the engine's backlog + queue (AverageValue)"
    )
    assert lines[sweep_at + 1].split() == [
        "targetValue",
        "p95",
        "wait",
        "(s)",
        "replica-s",
        "peak",
        "flaps",
        "worst",
        "drain",
    ]
    assert [line.split()[0] for line in lines[sweep_at + 2 : sweep_at + 7]] == ["2", "8", "32", "128", "ours"]
    assert lines[sweep_at + 7].startswith("KEDA at our p95 wait ")
    assert lines[sweep_at + 8].startswith("ours / KEDA replica-seconds at equal p95 wait: ")
    # QueueLength stays available, and a plain producer gets it by default
    queue_length = runner.invoke(app, [*base, "--keda-trigger", "rabbitmq"])
    assert queue_length.exit_code == 0, queue_length.output
    assert "KEDA: QueueLength value 120 over http" in queue_length.output.splitlines()[0]
    plain = runner.invoke(app, [*base, "--no-upstream"])
    assert plain.exit_code == 0, plain.output
    assert "KEDA: QueueLength value 120 over http" in plain.output.splitlines()[0]


def test_sweep_options_are_checked(tmp_path: Path) -> None:
    trace, policy = files(tmp_path)
    base = ["autoscaler", "simulate", str(trace), "--policy", str(policy)]
    result = runner.invoke(app, [*base, "--keda-trigger", "prometheus"])
    assert result.exit_code == 2
    assert "--keda-trigger is auto or one of rabbitmq, metrics-api, postgresql, not 'prometheus'" in result.output
    result = runner.invoke(app, [*base, "--sweep", "--keda-values", "4,x"])
    assert result.exit_code == 2
    assert "--keda-values wants numbers separated by commas" in result.output
    result = runner.invoke(app, [*base, "--sweep", "--keda-values", "0,4"])
    assert result.exit_code == 2
    assert "--keda-values must be above 0" in result.output

"""Traces: the shipped samples are what the seeded generator makes, and broken files are refused by line."""

from __future__ import annotations

from pathlib import Path

import pytest

from autoscaler.traces import TraceError, format_trace, load_trace, parse_trace, sample_traces, write_traces

SHIPPED = Path(__file__).resolve().parents[2] / "deployments" / "autoscaler" / "traces"


def test_shipped_traces_are_the_generated_ones(tmp_path: Path) -> None:
    written = write_traces(sample_traces(seed=7), tmp_path)
    assert sorted(p.name for p in written) == ["office-hours.csv", "ramp.csv", "spike.csv", "steady.csv"]
    for path in written:
        shipped = SHIPPED / path.name
        assert shipped.read_bytes() == path.read_bytes(), f"regenerate with `kep autoscaler traces` ({path.name})"
        assert shipped.stat().st_size < 200 * 1024


def test_shipped_traces_have_their_shapes() -> None:
    office, steady, spike, ramp = (
        load_trace(SHIPPED / f"{n}.csv") for n in ("office-hours", "steady", "spike", "ramp")
    )
    assert office.duration_s == 9 * 3600
    rate = office.arrivals_per_second()
    assert rate[5400:5700].mean() > 3 * rate[10800:14400].mean()  # 08:30 against the late morning
    assert 9.5 < steady.total_arrivals / steady.duration_s < 10.5
    assert spike.arrivals_per_second()[1200:1290].mean() > 50
    assert ramp.arrivals_per_second()[:600].mean() < ramp.arrivals_per_second()[-600:].mean() / 5


def test_the_generator_is_seeded() -> None:
    assert format_trace(sample_traces(1)[1]) == format_trace(sample_traces(1)[1])
    assert format_trace(sample_traces(1)[1]) != format_trace(sample_traces(2)[1])


def test_round_trip_and_long_rows() -> None:
    trace = parse_trace("second,arrivals,service_time_s,duration_s\n0,10,0.5,10\n10,0,0.5,5\n20,3,0.2,1\n", "t")
    assert trace.duration_s == 21
    assert trace.total_arrivals == 13
    assert trace.arrivals_per_second()[:10].tolist() == [1.0] * 10
    assert parse_trace(format_trace(trace), "t") == trace


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b\n1,2\n", "the header must name second, arrivals, service_time_s"),
        (
            "second,arrivals,service_time_s\n0,-1,0.5\n",
            "t line 2: arrivals: Input should be greater than or equal to 0",
        ),
        ("second,arrivals,service_time_s\n0,1,0.5\n1,x,0.5\n", "t line 3: arrivals: Input should be a valid integer"),
        ("second,arrivals,service_time_s\n0,1,0\n", "t line 2: service_time_s: Input should be greater than 0"),
        ("second,arrivals,service_time_s\n0,1,0.5\n0,1,0.5\n", "t line 3: second 0 overlaps the row before"),
        ("second,arrivals,service_time_s\n", "t: no rows"),
    ],
)
def test_broken_traces_name_the_line_and_column(text: str, message: str) -> None:
    with pytest.raises(TraceError) as refused:
        parse_trace(text, "t")
    assert message in str(refused.value)

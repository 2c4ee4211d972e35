"""Load traces (CSV: `second,arrivals,service_time_s[,duration_s]`) and generate the seeded sample traces.

A row covers `duration_s` seconds (default 1) starting at `second`: its arrivals are spread over them and each message
needs about `service_time_s` of a consumer's time. Rows longer than a second keep a whole office day small.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from messages.errors import ConfigurationError

COLUMNS = ("second", "arrivals", "service_time_s", "duration_s")


class TraceRow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    second: Annotated[int, Field(ge=0)]
    arrivals: Annotated[int, Field(ge=0)]
    service_time_s: Annotated[float, Field(gt=0)]
    duration_s: Annotated[int, Field(ge=1)] = 1

    @property
    def end(self) -> int:
        return self.second + self.duration_s


class TraceError(ConfigurationError):
    """A trace file cannot be replayed; the message names the line and the column."""


@dataclass(frozen=True)
class Trace:
    name: str
    rows: tuple[TraceRow, ...]

    @property
    def duration_s(self) -> int:
        return self.rows[-1].end if self.rows else 0

    @property
    def total_arrivals(self) -> int:
        return sum(r.arrivals for r in self.rows)

    def arrivals_per_second(self) -> np.ndarray:
        """Expected arrivals in each second (a long row's count spread evenly), for charts and burst detection."""
        out = np.zeros(self.duration_s)
        for r in self.rows:
            out[r.second : r.end] += r.arrivals / r.duration_s
        return out


def parse_trace(text: str, name: str) -> Trace:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or not {"second", "arrivals", "service_time_s"} <= set(reader.fieldnames):
        raise TraceError(f"{name}: the header must name second, arrivals, service_time_s (and optionally duration_s)")
    rows: list[TraceRow] = []
    for line, record in enumerate(reader, start=2):
        values = {k: v for k, v in record.items() if k is not None and v not in (None, "")}
        try:
            row = TraceRow.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False))
            raise TraceError(f"{name} line {line}: {problems}") from None
        if rows and row.second < rows[-1].end:
            raise TraceError(
                f"{name} line {line}: second {row.second} overlaps the row before (ends at {rows[-1].end})"
            )
        rows.append(row)
    if not rows:
        raise TraceError(f"{name}: no rows")
    return Trace(name, tuple(rows))


def load_trace(path: Path) -> Trace:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TraceError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_trace(text, path.stem)


def format_trace(trace: Trace) -> str:
    with_duration = any(r.duration_s != 1 for r in trace.rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS if with_duration else COLUMNS[:3])
    for r in trace.rows:
        cells: list[object] = [r.second, r.arrivals, f"{r.service_time_s:.3f}"]
        writer.writerow([*cells, r.duration_s] if with_duration else cells)
    return out.getvalue()


# --- seeded sample traces -----------------------------------------------------------------------------------------

RateCurve = Callable[[float], float]  # messages per second at a second of the trace


def _generate(name: str, seconds: int, step: int, rate: RateCurve, service_s: RateCurve, seed: int) -> Trace:
    rng = np.random.default_rng(seed)
    rows = []
    for start in range(0, seconds, step):
        mid = start + step / 2
        arrivals = int(rng.poisson(max(rate(mid), 0.0) * step))
        # a little day-to-day wobble in how long a task takes
        service = max(0.01, service_s(mid) * float(rng.lognormal(0.0, 0.05)))
        rows.append(TraceRow(second=start, arrivals=arrivals, service_time_s=round(service, 3), duration_s=step))
    return Trace(name, tuple(rows))


def _office_hours(t: float) -> float:
    """Seconds from 07:00 until 16:00: doors at 08:00, a queue of citizens until ~09:15, lunch dip,
    the afternoon, closing at 14:30 with the back office finishing by 15:30."""
    hour = 7 + t / 3600
    if hour < 8:
        return 0.3
    if hour < 9.25:  # the morning burst: everyone who waited outside at once
        return 4 + 20 * math.exp(-(((hour - 8.5) / 0.3) ** 2))
    if 12.5 <= hour < 13.5:
        return 3.0
    if hour < 14.5:
        return 6.0
    return max(0.2, 6.0 * (15.5 - hour))


def _spike(t: float) -> float:
    return 60.0 if 1200 <= t < 1290 else 3.0


def _ramp(t: float) -> float:
    return 1.0 + 29.0 * min(t / 5400, 1.0)


def _handler_time(_t: float) -> float:
    return 0.25


def sample_traces(seed: int) -> list[Trace]:
    """The four shipped traces. Service time 0.25 s (the bridge's handlers: a database read and a case command)."""
    return [
        _generate("office-hours", 9 * 3600, 10, _office_hours, _handler_time, seed),
        _generate("steady", 3600, 1, lambda _t: 10.0, _handler_time, seed + 1),
        _generate("spike", 3600, 1, _spike, _handler_time, seed + 2),
        _generate("ramp", 2 * 3600, 1, _ramp, _handler_time, seed + 3),
    ]


def write_traces(traces: Iterable[Trace], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for trace in traces:
        path = folder / f"{trace.name}.csv"
        path.write_text(format_trace(trace), encoding="utf-8")
        written.append(path)
    return written

"""The trace replay: the queue model keeps every message, a seed fixes the run, and our policy's promises hold in it."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from autoscaler.keda_hpa import KedaConfig
from autoscaler.policy import TargetPolicy
from autoscaler.queue_model import World, WorldConfig
from autoscaler.replay import (
    SweepPoint,
    compare,
    default_keda,
    equal_wait,
    sweep,
    sweep_values,
    worst_drain,
)
from autoscaler.scorecard import Burst, Score, drain_time, find_bursts, flaps
from autoscaler.simulator import (
    OurAutoscaler,
    Run,
    ScaleChange,
    SimulationConfig,
    as_single_queue,
    keda_for,
    run_keda,
    run_ours,
)
from autoscaler.traces import Trace, TraceRow


def policy(**overrides: Any) -> TargetPolicy:
    fields: dict[str, Any] = {
        "name": "workers",
        "queues": ["a", "b"],
        "scale": {"ray_pool": {"name": "pool"}},
        "min_replicas": 0,
        "max_replicas": 10,
        "target_drain_seconds": 30,
        "service_rate_per_replica": 4,
    }
    fields.update(overrides)
    return TargetPolicy.model_validate(fields)


def trace(*segments: tuple[int, float], service: float = 0.25) -> Trace:
    """Segments of (seconds, messages per second) one after the other."""
    rows, second = [], 0
    for seconds, rate in segments:
        for s in range(second, second + seconds):
            rows.append(TraceRow(second=s, arrivals=int(rate), service_time_s=service))
        second += seconds
    return Trace("test", tuple(rows))


BURSTY = trace((120, 0), (60, 30), (300, 2), (60, 0))
FAST = SimulationConfig(tail_s=300)


def test_messages_are_conserved() -> None:
    ours, _ = run_ours(BURSTY, policy(), FAST)
    theirs = run_keda(BURSTY, policy(), keda_for(policy()), FAST)
    for run in (ours, theirs):
        assert run.published == BURSTY.total_arrivals
        assert run.published == run.acked + run.remaining
        assert len(run.waits) == run.acked
        assert (run.waits >= -1e-9).all()


def test_a_removed_replica_gives_its_messages_back() -> None:
    world = World(trace((5, 50)), WorldConfig(prefetch=8, ready_delay_s=0), seed=1, replicas=3)
    for _ in range(3):
        world.step()
    held = world.unacked
    assert held == 24  # three full prefetch windows
    world.set_replicas(1)
    assert world.requeued == 16
    assert world.interrupted == 2  # the two messages being worked on
    assert world.unacked == 8
    assert len(world.queue) + world.unacked + world.acked == world.published


def test_statistics_lag_for_http_readers_but_not_for_amqp() -> None:
    world = World(trace((20, 10)), WorldConfig(stats_interval_s=5, ready_delay_s=0), seed=1, replicas=0)
    world.step()
    assert world.http_reading().ready is None  # a fresh queue reports no counts at all
    assert world.amqp_reading().ready == 10
    for _ in range(4):
        world.step()
    assert world.http_reading().ready == 50
    assert world.http_reading().publish_rate == 10.0
    world.step()
    assert world.http_reading().ready == 50  # until the next refresh
    assert world.amqp_reading().ready == 60


def test_a_seed_fixes_the_run() -> None:
    a, decisions_a = run_ours(BURSTY, policy(), FAST)
    b, decisions_b = run_ours(BURSTY, policy(), FAST)
    assert np.array_equal(a.replicas, b.replicas)
    assert np.array_equal(a.waits, b.waits)
    assert [d.reason for d in decisions_a] == [d.reason for d in decisions_b]
    c, _ = run_ours(BURSTY, policy(), SimulationConfig(tail_s=300, seed=2))
    assert not np.array_equal(a.waits, c.waits)


def test_the_messages_depend_on_the_seed_only() -> None:
    # ours and KEDA's runs differ in consumers and timing, never in what is published
    idle = World(BURSTY, WorldConfig(prefetch=1), seed=5, replicas=0)
    other = World(BURSTY, WorldConfig(prefetch=50, ready_delay_s=0), seed=5, replicas=0)
    for _ in range(200):
        idle.step()
        other.step()
    assert [(m.arrival, m.service) for m in idle.queue] == [(m.arrival, m.service) for m in other.queue]
    assert idle.published == 60 * 30 + 20 * 2


def test_ours_never_scales_to_zero_with_work_in_flight_or_waiting() -> None:
    busy_then_quiet = trace((30, 0), (120, 20), (200, 0), (60, 6), (400, 0))
    p = as_single_queue(policy())
    world = World(busy_then_quiet, WorldConfig(prefetch=p.prefetch), seed=3, replicas=0)
    ours = OurAutoscaler(p, phase=2.0)
    stops = 0
    for _ in range(busy_then_quiet.duration_s):
        before, requeued = len(world.replicas), world.requeued
        ours.act(world)
        if before > 0 and not world.replicas:
            stops += 1
            assert world.requeued == requeued, "a replica was stopped with messages on it"
            assert not world.queue
        world.step()
    assert stops >= 2, "the trace goes quiet twice: the policy should stop every replica each time"
    for d in ours.decisions:
        if d.desired == 0 and d.current > 0:
            window = [x for x in ours.decisions if d.at - 60 <= x.at <= d.at]
            assert all("0 messages queued (0 ready, 0 in flight)" in x.reason for x in window), d.reason


def test_unknown_statistics_hold() -> None:
    gap = (200, 800)
    load = trace((100, 5), (800, 25))
    config = SimulationConfig(tail_s=0, stats_gaps=(gap,))
    run, decisions = run_ours(load, policy(), config)
    during = [d for d in decisions if gap[0] + 5 <= d.at < gap[1]]
    assert during
    assert all(d.reason.startswith(f"hold at {d.current}: the broker does not report") for d in during)
    assert len(set(run.replicas[gap[0] + 5 : gap[1]])) == 1
    # KEDA reads the missing counts as 0 and, after its cooldown, stops everything despite the backlog
    theirs = run_keda(load, policy(), keda_for(policy()), config)
    assert 0 in theirs.replicas[gap[0] : gap[1]]
    assert theirs.ready[gap[1] - 1] > 1000


def test_keda_counts_its_own_clock() -> None:
    keda = KedaConfig(value=20, min_replica_count=0, max_replica_count=10, polling_interval_s=30)
    run = run_keda(BURSTY, policy(), keda, FAST)
    first_up = next(c for c in run.changes if c.after > c.before)
    assert first_up.at < 120 + 30 + 15  # activation within one poll, or the HPA within one sync, of the burst
    assert run.replicas.max() > 1


def test_compare_scores_both_runs() -> None:
    result = compare(BURSTY, policy(), FAST)
    assert [s.label for s in result.scores] == ["ours", "keda+hpa"]
    [burst] = result.bursts
    assert 120 <= burst.start <= 125
    table = result.table()
    assert "peak backlog" in table
    assert f"drained after burst 0:02:{burst.start - 120:02d}" in table
    assert table.count("\n") >= 9


def run_with(
    ready: list[int],
    replicas: list[int] | None = None,
    changes: list[ScaleChange] | None = None,
    upstream: list[int] | None = None,
) -> Run:
    n = len(ready)
    return Run(
        label="x",
        seconds=np.arange(1, n + 1),
        ready=np.asarray(ready),
        unacked=np.zeros(n, int),
        upstream=np.asarray(upstream or [0] * n),
        replicas=np.asarray(replicas or [1] * n),
        waits=np.zeros(0),
        changes=changes or [],
        arrived=0,
        published=0,
        acked=0,
        remaining=0,
        remaining_upstream=0,
        requeued=0,
        interrupted=0,
        upstream_mode=upstream is not None,
    )


@pytest.mark.parametrize(
    ("ready", "expected"),
    [([0, 50, 80, 40, 9, 0], 1), ([0, 50, 80, 0, 0, 0], 0), ([0, 0, 0, 0, 0, 0], 0), ([0, 50, 80, 40, 20, 30], None)],
)
def test_drain_time_counts_from_the_burst_end(ready: list[int], expected: int | None) -> None:
    assert drain_time(run_with(ready), Burst(1, 3), horizon=len(ready)) == expected


def test_work_waiting_upstream_is_not_drained() -> None:
    # the queue shows nothing ready the whole time; what waits upstream still waits
    run = run_with([0] * 6, upstream=[0, 50, 80, 40, 9, 0])
    assert drain_time(run, Burst(1, 3), horizon=6) == 1


def test_flaps_are_reversals_within_five_minutes() -> None:
    changes = [
        ScaleChange(0, 1, 3, "x"),
        ScaleChange(100, 3, 2, "x"),  # reversal after 100 s: a flap
        ScaleChange(200, 2, 1, "x"),  # same direction
        ScaleChange(600, 1, 2, "x"),  # reversal after 400 s: not a flap
        ScaleChange(650, 2, 1, "x"),  # a flap
    ]
    assert flaps(changes) == 2


def test_bursts_are_found_against_the_median() -> None:
    steady = trace((600, 10))
    assert find_bursts(steady) == []
    spike = trace((300, 3), (90, 60), (300, 3))
    [burst] = find_bursts(spike)
    assert 300 <= burst.start <= 305
    assert 390 <= burst.end <= 420


# --- an upstream producer (the BPMN bridge): arrivals wait in the engine, the queue holds only free prefetch --------

UPSTREAM: dict[str, Any] = {"upstream_backlog": True, "min_replicas": 1}
# 20/s for five minutes against 4/s per replica: a backlog far beyond one replica's prefetch
OVERLOAD = trace((30, 2), (300, 20), (120, 2))


def upstream_world(load: Trace, replicas: int, prefetch: int = 4, upstream: bool = True) -> World:
    config = WorldConfig(prefetch=prefetch, ready_delay_s=3, upstream=upstream)
    return World(load, config, seed=4, replicas=replicas)


def test_messages_are_conserved_with_upstream() -> None:
    p = policy(**UPSTREAM)
    config = SimulationConfig(tail_s=30)
    ours, _ = run_ours(OVERLOAD, p, config)
    theirs = run_keda(OVERLOAD, p, keda_for(p), config)
    for run in (ours, theirs):
        assert run.upstream_mode
        assert run.arrived == OVERLOAD.total_arrivals
        assert run.arrived == run.acked + run.remaining_upstream + run.remaining
        assert run.published == run.acked + run.remaining  # the broker's own count covers the queue only
        assert len(run.waits) == run.acked
        assert (run.waits >= -1e-9).all()
    assert theirs.remaining_upstream > 1000, "the check above must cover work left upstream"


def test_nothing_is_published_without_a_ready_consumer() -> None:
    world = upstream_world(trace((30, 10)), replicas=0)
    for _ in range(10):
        world.step()
    assert (world.published, world.arrived, len(world.upstream)) == (0, 100, 100)
    world.set_replicas(2)  # ready 3 s later: no consumer until then, so no room
    for _ in range(3):
        world.step()
    assert world.published == 0
    world.step()
    assert world.published > 0


def test_the_queue_never_holds_more_than_the_consumers_prefetch() -> None:
    world = upstream_world(OVERLOAD, replicas=1)
    sizes = {0: 1, 60: 3, 120: 6, 200: 2, 260: 5}  # up, up, a scale-down that gives messages back, up again
    reached = 0
    for t in range(OVERLOAD.duration_s):
        if t in sizes:
            world.set_replicas(sizes[t])
        published, held_before = world.published, len(world.queue) + world.unacked
        world.step()
        held, room = len(world.queue) + world.unacked, world.ready_replicas * world.config.prefetch
        # a scale-down may leave more than the rest can hold; then nothing more goes in until it is below again
        assert held <= room or (world.published == published and held <= held_before), t
        reached = max(reached, held)
        assert world.arrived == world.acked + len(world.upstream) + held
    assert reached == 6 * 4, "the pool should fill at its largest"
    assert world.requeued > 0, "the scale-down should have given messages back"


def test_keda_is_blind_to_the_upstream_backlog_while_ours_grows() -> None:
    p = policy(**UPSTREAM)
    config = SimulationConfig(tail_s=0)
    ours, _ = run_ours(OVERLOAD, p, config)
    for value in (6.0, float(p.equivalent_backlog_per_replica())):
        theirs = run_keda(OVERLOAD, p, keda_for(p, value=value), config)
        for change in theirs.changes:  # the queue never shows more than the replicas can hold, so nor does KEDA
            assert change.after <= max(p.min_replicas, math.ceil(change.before * p.prefetch / value)), change
    # the policy's own figure (4/s × 30 s = 120) is above one replica's prefetch: KEDA never passes one replica
    assert theirs.replicas.max() == 1
    assert theirs.upstream.max() > 3000  # while the work piles up in the engine
    assert ours.replicas.max() >= 5  # 20/s at 4/s a replica
    assert ours.upstream.max() < theirs.upstream.max() / 4


def test_waits_count_from_the_arrival_upstream() -> None:
    # one consumer, 100 messages at once: each starts when the one before ends, whether it waited in the queue or
    # upstream; the last waits ~25 s though it spent at most two services in the queue (prefetch 2)
    burst = trace((1, 100), (60, 0))
    plain, upstream = upstream_world(burst, 1, prefetch=2, upstream=False), upstream_world(burst, 1, prefetch=2)
    for _ in range(burst.duration_s):
        plain.step()
        upstream.step()
    assert upstream.acked == plain.acked == 100
    assert np.allclose(upstream.waits, plain.waits)
    assert max(upstream.waits) > 15


def test_the_replay_override_sets_the_producer_for_both_sides_and_our_rule() -> None:
    p = policy(**UPSTREAM)
    plain = SimulationConfig(tail_s=30, upstream=False)
    ours, decisions = run_ours(OVERLOAD, p, plain)
    theirs = run_keda(OVERLOAD, p, keda_for(p), plain)
    assert not ours.upstream_mode
    assert not theirs.upstream_mode
    assert ours.upstream.max() == theirs.upstream.max() == 0
    assert not any("every consumer is full" in d.reason for d in decisions)
    forced, _ = run_ours(OVERLOAD, policy(min_replicas=1), SimulationConfig(tail_s=30, upstream=True))
    assert forced.upstream_mode
    assert forced.upstream.max() > 0


def test_an_upstream_run_is_fixed_by_its_seed() -> None:
    p = policy(**UPSTREAM)
    (a, decisions_a), (b, decisions_b) = run_ours(OVERLOAD, p, FAST), run_ours(OVERLOAD, p, FAST)
    assert np.array_equal(a.upstream, b.upstream)
    assert np.array_equal(a.waits, b.waits)
    assert [d.reason for d in decisions_a] == [d.reason for d in decisions_b]


def test_the_scorecard_shows_the_true_backlog_only_upstream() -> None:
    upstream = compare(OVERLOAD, policy(**UPSTREAM), FAST)
    ours, theirs = upstream.scores
    assert theirs.peak_true_backlog is not None
    assert theirs.peak_true_backlog > 10 * theirs.peak_backlog
    assert ours.peak_true_backlog is not None
    assert ours.peak_true_backlog >= ours.peak_backlog
    line = next(x for x in upstream.table().splitlines() if x.startswith("peak backlog upstream+queue"))
    assert line.split()[-2:] == [str(ours.peak_true_backlog), str(theirs.peak_true_backlog)]
    plain = compare(OVERLOAD, policy(), FAST)
    assert all(s.peak_true_backlog is None for s in plain.scores)
    assert "upstream+queue" not in plain.table()


def test_reading_the_upstream_backlog_sizes_the_pool_to_the_target_instead_of_growing_until_not_full() -> None:
    # the engine's backlog read directly against the full-pool rule alone, on the same overload and seed
    p = policy(**UPSTREAM)
    full_only, _ = run_ours(OVERLOAD, p, FAST)
    reads_engine = policy(**UPSTREAM, engine_backlog=True, queues=["tasks.a", "tasks.b"])
    engine, decisions = run_ours(OVERLOAD, reads_engine, FAST)
    assert any("ready" in d.reason and d.desired > d.current + 1 for d in decisions), "a step of more than one"
    # both keep the promise (drained within 30 s); sized on the backlog, the pool does it with fewer replicas,
    # while the full-pool rule keeps adding one until the pool is no longer full and overshoots to max_replicas
    assert engine.waits.max() <= p.target_drain_seconds
    assert full_only.waits.max() <= p.target_drain_seconds
    assert engine.replicas.max() < full_only.replicas.max() == p.max_replicas
    assert engine.replicas.sum() < full_only.replicas.sum()
    assert len(engine.changes) < len(full_only.changes)
    assert engine.acked == engine.arrived  # nothing lost on the way
    # without an upstream producer there is nothing to read: the override turns it off with the producer
    plain, _ = run_ours(OVERLOAD, reads_engine, SimulationConfig(upstream=False))
    assert not plain.upstream_mode
    assert plain.upstream.max() == 0


# --- like for like: KEDA given the engine's backlog, and compared at equal p95 wait ------------------------------


def test_the_fair_signal_scales_where_queue_length_cannot() -> None:
    # the capacity-limited producer: the queue shows one replica's prefetch, the rest waits in the engine
    p = policy(**UPSTREAM)
    config = SimulationConfig(tail_s=120)
    queue_length = run_keda(OVERLOAD, p, keda_for(p, trigger="rabbitmq"), config)
    fair = run_keda(OVERLOAD, p, keda_for(p, trigger="metrics-api"), config)
    assert queue_length.replicas.max() == 1
    assert queue_length.unfinished > 1000
    assert fair.replicas.max() >= 4  # 20/s at 4/s a replica, sized on what waits upstream
    assert fair.upstream.max() < queue_length.upstream.max() / 2
    assert fair.unfinished < queue_length.unfinished / 10
    assert fair.arrived == fair.acked + fair.unfinished  # nothing lost on the way


def test_the_comparison_gives_keda_the_fair_signal_for_the_producer_it_replays() -> None:
    upstream, plain = policy(**UPSTREAM), policy(min_replicas=1)
    assert default_keda(upstream, FAST).trigger == "metrics-api"
    assert default_keda(plain, FAST).trigger == "rabbitmq"
    # the override that makes the producer plain makes QueueLength fair again
    assert default_keda(upstream, SimulationConfig(upstream=False)).trigger == "rabbitmq"
    assert default_keda(plain, SimulationConfig(upstream=True)).trigger == "metrics-api"
    assert default_keda(upstream, FAST, trigger="postgresql").trigger == "postgresql"
    assert default_keda(upstream, FAST).value == upstream.equivalent_backlog_per_replica()


def point(value: float, p95: float, replica_seconds: int, flaps: int = 0) -> SweepPoint:
    s = Score("keda+hpa", 0, None, (), p95, replica_seconds, 1, 0, flaps, 0, 0)
    return SweepPoint(value, s)


def test_equal_wait_interpolates_between_the_bracketing_pair() -> None:
    points = [point(8, 4.0, 3000, flaps=7), point(2, 1.0, 9000), point(4, 2.0, 6000, flaps=3)]
    match = equal_wait(2.5, points)
    assert match.between is not None
    assert [p.value for p in match.between] == [4, 8]
    assert match.value == pytest.approx(5.0)  # a quarter of the way from 2 s to 4 s
    assert match.replica_seconds == pytest.approx(5250)
    assert match.nearest.value == 4  # flaps and drain do not interpolate: the closer point's
    assert "interpolated between targetValue 4" in match.describe("targetValue")


def test_equal_wait_takes_the_cheapest_pair_when_the_wait_is_not_monotonic() -> None:
    # p95 goes 1 → 3 → 2 → 4: 2.5 s is bracketed three times; KEDA gets the cheapest reading
    points = [point(1, 1.0, 9000), point(2, 3.0, 8000), point(4, 2.0, 7000), point(8, 4.0, 2000)]
    match = equal_wait(2.5, points)
    assert match.between is not None
    assert [p.value for p in match.between] == [4, 8]
    assert match.replica_seconds == pytest.approx(5750)  # not 8250 (1–2) nor 7500 (2–4)


def test_equal_wait_outside_the_sweep_says_so() -> None:
    points = [point(2, 1.0, 9000), point(4, 2.0, 6000)]
    match = equal_wait(10.0, points)
    assert match.between is None
    assert match.nearest.value == 4
    assert match.replica_seconds == 6000
    assert "not at equal wait" in match.describe("value")
    exact = equal_wait(2.0, points)
    assert exact.replica_seconds == 6000
    assert exact.between is not None


def test_sweep_values_are_a_root_two_apart_up_to_the_bound() -> None:
    assert sweep_values(8) == (1.0, 1.41, 2.0, 2.83, 4.0, 5.66, 8.0)
    assert sweep_values(0.5) == (1.0, 1.41)
    assert worst_drain(()) == "-"
    assert worst_drain((3, None)) == "not drained"
    assert worst_drain((3, 12)) == "12 s"


def test_the_sweep_reads_keda_at_our_wait_on_a_small_trace() -> None:
    p = policy(**UPSTREAM)
    result = sweep(OVERLOAD, p, FAST, values=(1.0, 4.0, 16.0, 64.0, 256.0))
    assert result.keda.trigger == "metrics-api"
    assert [pt.value for pt in result.points] == [1.0, 4.0, 16.0, 64.0, 256.0]
    waits = [pt.score.p95_wait_s for pt in result.points]
    assert min(waits) < result.ours.p95_wait_s < max(waits), "the sweep should bracket ours here"
    assert result.match.between is not None
    low, high = result.match.between
    assert min(low.score.p95_wait_s, high.score.p95_wait_s) <= result.ours.p95_wait_s
    assert result.ours.p95_wait_s <= max(low.score.p95_wait_s, high.score.p95_wait_s)
    assert result.ratio == pytest.approx(result.ours.replica_seconds / result.match.replica_seconds)
    table = result.table().splitlines()
    assert table[0] == (
        "trace test: KEDA + HPA swept across targetValue, metrics-api on the engine's backlog + queue (AverageValue)"
    )
    assert table[-1].startswith("ours / KEDA replica-seconds at equal p95 wait: ")
    # the same seed, the same sweep
    again = sweep(OVERLOAD, p, FAST, values=(1.0, 4.0, 16.0, 64.0, 256.0))
    assert again.table() == result.table()


def test_the_engine_answers_live_with_what_waits_upstream_and_what_it_has_handed_out() -> None:
    world = upstream_world(trace((3, 20)), replicas=1, prefetch=4)
    for _ in range(3):
        world.step()
    reading = world.engine_reading()
    assert reading.at == 3.0  # not the broker's 5 s statistics
    assert world.http_reading().ready is None
    assert reading.upstream == len(world.upstream) > 0
    assert (reading.ready or 0) + (reading.unacked or 0) == len(world.queue) + world.unacked
    assert reading.upstream + len(world.queue) + world.unacked == world.arrived - world.acked

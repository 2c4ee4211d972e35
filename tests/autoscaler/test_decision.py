"""Our decision function, table-driven: each branch, its reason, and the memory it hands on."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from autoscaler.behavior import Recommendation
from autoscaler.decision import Memory, decide, record_scale
from autoscaler.demand import Demand, measured_service_rate
from autoscaler.model import QueueMetrics, ScaleState
from autoscaler.policy import TargetPolicy

NOW = 1000.0
TQ = "tasks.t"  # a bridge task queue, whose topic's backlog waits in the engine
ENGINE = {"queues": [TQ], "upstream_backlog": True, "engine_backlog": True, "min_replicas": 1}


def policy(**overrides: Any) -> TargetPolicy:
    fields: dict[str, Any] = {
        "name": "workers",
        "queues": ["q"],
        "scale": {"ray_pool": {"name": "pool"}},
        "min_replicas": 0,
        "max_replicas": 20,
        "target_drain_seconds": 30,
        "service_rate_per_replica": 4,
        "prefetch": 8,
    }
    fields.update(overrides)
    return TargetPolicy.model_validate({k: v for k, v in fields.items() if v is not None})


def reading(
    ready: int | None = 0,
    unacked: int | None = 0,
    rate: float | None = 0.0,
    *,
    consumers: int | None = 1,
    ack: float | None = 0.0,
    at: float = NOW,
    queue: str = "q",
    upstream: int | None = None,
) -> QueueMetrics:
    return QueueMetrics(
        queue=queue,
        upstream=upstream,
        at=at,
        source="http",
        ready=ready,
        unacked=unacked,
        consumers=consumers,
        publish_rate=rate,
        ack_rate=ack,
    )


def state(replicas: int) -> ScaleState:
    return ScaleState(target="workers", desired=replicas, ready=replicas)


UPSTREAM: dict[str, Any] = {"upstream_backlog": True, "min_replicas": 1}  # no scaling from zero upstream
# the decision 5 s before read a pool just as full
FULL_BEFORE_DEMAND = Demand(at=NOW - 5, ready=0, unacked=16, consumers=2, arrival_rate=8.0, ack_rate=8.0)
FULL_BEFORE = Memory(last_demand=FULL_BEFORE_DEMAND)

# id, policy overrides, current, readings, memory, expected desired, reason starts with
CASES: list[tuple[str, dict[str, Any], int, list[QueueMetrics], Memory, int, str]] = [
    ("above max", {}, 25, [reading()], Memory(), 20, "above max_replicas 20"),
    ("below min", {"min_replicas": 2}, 1, [reading()], Memory(), 2, "below min_replicas 2"),
    ("no reading", {}, 3, [], Memory(), 3, "hold at 3: no reading of queue q yet"),
    ("stale reading", {}, 3, [reading(at=NOW - 31)], Memory(), 3, "hold at 3: the latest reading of queue q is 31 s"),
    ("ready unknown", {}, 3, [reading(ready=None)], Memory(), 3, "hold at 3: the broker does not report the ready"),
    ("all unknown never goes to zero", {}, 1, [reading(None, None, None, consumers=None, ack=None)],
     Memory(idle_since=NOW - 600), 1, "hold at 1"),
    ("other queue missing", {"queues": ["q", "r"]}, 2, [reading(100)], Memory(), 2, "hold at 2: no reading of queue r"),
    ("idle at zero", {"activation_backlog": 5}, 0, [reading(5, 0)], Memory(), 0, "idle at zero: backlog 5 is not"),
    ("activate", {"activation_backlog": 5}, 0, [reading(6, 0)], Memory(), 1, "activate from zero (backlog 6 > 5)"),
    ("activate big, step-limited", {}, 0, [reading(3000, 0, 50)], Memory(), 4, "activate from zero (backlog 3000 > 0)"),
    # (10/s + 60/30 s) / 4 per replica = 3
    ("drain target", {}, 1, [reading(52, 8, 10)], Memory(), 3, "scale up to 3: 60 messages queued (52 ready, 8 in"),
    ("backlog target", {"target_drain_seconds": None, "service_rate_per_replica": None,
                        "target_backlog_per_replica": 20}, 2, [reading(90, 10)], Memory(), 5, "scale up to 5"),
    ("up step limit", {}, 2, [reading(3000, 16, 40)], Memory(), 6, "scale up to 36"),
    ("max clamp", {"max_replicas": 5}, 4, [reading(3000, 16, 40)], Memory(), 5, "scale up to 36"),
    ("within tolerance", {}, 3, [reading(0, 10, 12.8)], Memory(), 3, "steady at 3: 3.28 replicas' worth"),
    ("lower bound asks more", {}, 2, [reading(600, None, 10)], Memory(), 6, "scale up to 8"),
    ("lower bound asks less", {}, 6, [reading(0, None, 1)], Memory(), 6, "hold at 6: a figure is unknown"),
    ("arrivals unknown asks less", {}, 6, [reading(0, 0, None)], Memory(), 6, "hold at 6: a figure is unknown"),
    ("down, headroom", {}, 5, [reading(0, 2, 10.4)], Memory(), 3, "scale down to 3 (2.62 replicas' worth + 10%"),
    ("down, not below headroom", {}, 4, [reading(0, 2, 10.9)], Memory(), 4, "steady at 4"),
    ("down held by the window", {}, 5, [reading(0, 2, 4)], Memory(recommendations=(Recommendation(5, NOW - 30),)), 5,
     "scale down to 2"),
    ("down after the window", {}, 5, [reading(0, 2, 4)], Memory(recommendations=(Recommendation(5, NOW - 61),)), 2,
     "scale down to 2"),
    # the engine's backlog counts as waiting: (8/s + (600 + 16)/30 s) / 4 = 7.1 → 8, step-limited to 2 + 4
    ("engine backlog sizes the pool", ENGINE, 2, [reading(0, 16, 8, consumers=2, ack=8, queue=TQ, upstream=600)],
     Memory(), 6, "scale up to 8: 616 messages queued (600 ready, 16 in flight)"),
    ("engine backlog unknown holds", ENGINE, 2, [reading(0, 16, 8, consumers=2, ack=8, queue=TQ)], Memory(), 2,
     "hold at 2: the work waiting upstream of queue tasks.t is unknown"),
    ("engine empty: down as usual", ENGINE, 5, [reading(0, 2, 4.4, consumers=5, ack=4, queue=TQ, upstream=0)],
     Memory(recommendations=(Recommendation(5, NOW - 61),)), 2, "scale down to 2"),
    ("full pool, plain queue", {}, 2, [reading(0, 16, 8, consumers=2, ack=8)], Memory(), 2, "steady at 2"),
    ("in-flight floor", {}, 8, [reading(0, 40, 0, consumers=8)], Memory(), 5, "scale down to 1"),
    # the bridge fetches only what the workers hold: a pool that stays full with an empty queue means more waits in
    # the engine; one full reading alone may be chance
    ("full pool twice asks for one more", UPSTREAM, 2, [reading(0, 16, 8, consumers=2, ack=8)], FULL_BEFORE, 3,
     "scale up to 3: every consumer is full (16 in flight for 2 consumers × prefetch 8, none ready) two readings"),
    ("full pool once holds", UPSTREAM, 2, [reading(0, 16, 8, consumers=2, ack=8)], Memory(), 2,
     "steady at 2: every consumer is full (16 in flight for 2 consumers × prefetch 8, none ready), but not in the"),
    ("full after not full holds", UPSTREAM, 2, [reading(0, 15, 8, consumers=2, ack=8)],
     Memory(last_demand=replace(FULL_BEFORE_DEMAND, unacked=12)), 2, "steady at 2: every consumer is full (15 in"),
    ("the same full reading twice is once", UPSTREAM, 3, [reading(0, 24, 12, consumers=3, ack=12)],
     Memory(last_demand=replace(FULL_BEFORE_DEMAND, at=NOW, unacked=24, consumers=3)), 3,
     "steady at 3: every consumer is full (24 in flight for 3 consumers"),
    ("nearly full is not full", UPSTREAM, 2, [reading(0, 12, 8, consumers=2, ack=8)], FULL_BEFORE, 2,
     "steady at 2: 2.10"),
    ("full with a queue: the backlog speaks", UPSTREAM, 2, [reading(100, 16, 8, consumers=2, ack=8)], FULL_BEFORE, 3,
     "scale up to 3: 116 messages queued"),
    ("to zero too early", {}, 2, [reading(0, 0, 0)], Memory(idle_since=NOW - 30), 1, "scale down to 0"),
    ("to zero", {}, 2, [reading(0, 0, 0)], Memory(idle_since=NOW - 60), 0, "scale down to 0"),
    ("not to zero with arrivals", {}, 1, [reading(0, 0, 0.01)], Memory(idle_since=NOW - 600), 1, "steady at 1"),
    ("not to zero while in flight", {}, 1, [reading(0, 1, 0)], Memory(idle_since=NOW - 600), 1, "steady at 1: 0.01"),
    ("min 1 never zero", {"min_replicas": 1}, 2, [reading(0, 0, 0)], Memory(idle_since=NOW - 600), 1,
     "scale down to 0"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("overrides", "current", "readings", "memory", "expected", "reason"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_decide(
    overrides: dict[str, Any],
    current: int,
    readings: list[QueueMetrics],
    memory: Memory,
    expected: int,
    reason: str,
) -> None:
    decision, _ = decide(policy(**overrides), state(current), readings, NOW, memory)
    assert (decision.current, decision.desired) == (current, expected), decision.reason
    assert decision.reason.startswith(reason), decision.reason
    assert decision.target == "workers"
    assert decision.at == NOW


def test_each_branch_says_something_different() -> None:
    reasons = []
    for _, overrides, current, readings, memory, _, _ in CASES:
        decision, _ = decide(policy(**overrides), state(current), readings, NOW, memory)
        reasons.append(decision.reason)
    assert len(set(reasons)) == len(reasons)


@pytest.mark.parametrize(
    ("case", "modifier"),
    [
        ("up step limit", "; limited to 6 by the scale-up step limit"),
        ("max clamp", "; limited to 5 by max_replicas"),
        ("down held by the window", "; held at 5, the highest recommendation of the last 60 s"),
        ("in-flight floor", "; keeps 5 for 40 in-flight messages (prefetch 8)"),
        ("to zero too early", "; keeps 1 replica: idle for 30 s of the 60 s needed to stop"),
        ("min 1 never zero", "; limited to 1 by min_replicas"),
    ],
)
def test_what_held_a_decision_back_is_named(case: str, modifier: str) -> None:
    _, overrides, current, readings, memory, _, _ = next(c for c in CASES if c[0] == case)
    decision, _ = decide(policy(**overrides), state(current), readings, NOW, memory)
    assert modifier in decision.reason


def test_raw_recommendation_is_kept() -> None:
    decision, _ = decide(policy(max_replicas=5), state(4), [reading(3000, 16, 40)], NOW, Memory())
    assert decision.raw == 36
    assert decision.changes


def test_the_latest_reading_of_each_queue_counts_and_queues_add_up() -> None:
    p = policy(queues=["a", "b"])
    history = [
        reading(500, 0, 0, queue="a", at=NOW - 10),
        reading(40, 8, 2, queue="a", at=NOW - 5),
        reading(20, 8, 2, queue="b", at=NOW - 2),
    ]
    decision, memory = decide(p, state(1), history, NOW, Memory())
    # λ: a's two readings average 1/s, b's 2/s; B = 76; (3 + 76/30) / 4 → 1.38 → 2
    assert decision.desired == 2
    assert memory.last_demand is not None
    assert (memory.last_demand.ready, memory.last_demand.unacked, memory.last_demand.consumers) == (60, 16, 1)


def test_arrivals_are_averaged_over_the_rate_window() -> None:
    p = policy(rate_window_seconds=30)
    history = [reading(0, 0, 40, at=NOW - 40), reading(0, 0, 8, at=NOW - 20), reading(0, 0, 4, at=NOW)]
    decision, _ = decide(p, state(1), history, NOW, Memory())
    assert "6.0/s arriving" in decision.reason  # (8 + 4) / 2; the 40/s sample is older than the window


def test_recommendations_and_scale_events_are_remembered() -> None:
    p = policy()
    busy = [reading(3000, 16, 40)]
    first, memory = decide(p, state(2), busy, NOW, Memory())
    assert first.desired == 6
    memory = record_scale(memory, first, p)
    assert [(e.change, e.at) for e in memory.scale_up_events] == [(4, NOW)]
    # 5 s later: the +4 still counts against the 15 s period, so P0 = 2 and no more than 6 is allowed
    second, memory = decide(p, state(6), busy, NOW + 5, memory)
    assert second.desired == 6
    third, _ = decide(p, state(6), busy, NOW + 15, memory)
    assert third.desired == 12
    assert [r.replicas for r in memory.recommendations] == [36, 36]


def test_idle_time_is_tracked_and_reset() -> None:
    p = policy()
    _, memory = decide(p, state(1), [reading(0, 0, 0)], NOW, Memory())
    assert memory.idle_since == NOW
    _, memory = decide(p, state(1), [reading(0, 0, 0, at=NOW + 5)], NOW + 5, memory)
    assert memory.idle_since == NOW
    _, busy = decide(p, state(1), [reading(0, 1, 0, at=NOW + 10)], NOW + 10, memory)
    assert busy.idle_since is None
    _, unknown = decide(p, state(1), [reading(None, at=NOW + 10)], NOW + 10, memory)
    assert unknown.idle_since is None


def test_scales_to_zero_only_after_a_whole_idle_window() -> None:
    p = policy()
    memory, replicas = Memory(), 1
    history: list[QueueMetrics] = []
    path = []
    for i in range(20):
        now = NOW + 5 * i
        history.append(reading(0, 0, 0, at=now))
        decision, memory = decide(p, state(replicas), history, now, memory)
        if decision.changes:
            memory = record_scale(memory, decision, p)
            replicas = decision.desired
        path.append(replicas)
    assert path.index(0) == 12  # idle since NOW, and NOW + 60 is the first tick with 60 s behind it


def demand(ready: int, consumers: int = 2, ack: float = 8.0, at: float = NOW) -> Demand:
    return Demand(at=at, ready=ready, unacked=16, consumers=consumers, arrival_rate=0.0, ack_rate=ack)


@pytest.mark.parametrize(
    ("previous", "current", "expected"),
    [
        pytest.param(None, demand(100), None, id="no previous reading"),
        pytest.param(demand(80, at=NOW - 5), demand(0), 4.0, id="enough waited at the start: capacity"),
        pytest.param(demand(79, at=NOW - 5), demand(500), None, id="too little waited at the start"),
        pytest.param(demand(500, consumers=1, at=NOW - 5), demand(500), None, id="a consumer joined"),
        pytest.param(demand(500, at=NOW), demand(500), None, id="no time passed"),
        pytest.param(demand(500, at=NOW - 5), demand(500, ack=0.0), None, id="no acks"),
    ],
)
def test_service_rate_is_measured_only_while_every_consumer_was_busy(
    previous: Demand | None, current: Demand, expected: float | None
) -> None:
    # busy throughout: at the start, twice what 2 consumers at 4/s take in 5 s (80) was waiting
    assert measured_service_rate(previous, current, prior_rate=4.0) == expected


def test_the_learned_rate_replaces_the_configured_one() -> None:
    p = policy()
    slow = [reading(600, 16, 2, consumers=2, ack=2.0, at=NOW - 5), reading(600, 16, 2, consumers=2, ack=2.0)]
    _, memory = decide(p, state(2), slow[:1], NOW - 5, Memory())
    decision, memory = decide(p, state(2), slow, NOW, memory)
    assert memory.service_rate == 1.0
    assert "1.00/s per replica (learned)" in decision.reason
    # later measurements move it by a fraction only
    faster = replace(slow[1], ack_rate=4.0, at=NOW + 5)
    _, memory = decide(p, state(2), [*slow, faster], NOW + 5, memory)
    assert memory.service_rate == pytest.approx(1.3)

"""The HPA normalization, checked against the upstream table tests (kubernetes `horizontal_test.go`) and the
examples of the HPA documentation. Event times follow upstream's `generateEventsUniformDistribution`."""

from __future__ import annotations

import pytest

from autoscaler.behavior import (
    DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
    Behavior,
    Recommendation,
    ScaleEvent,
    ScalingRules,
    StepPolicy,
    changed_in_period,
    limit_rate,
    limit_without_behavior,
    scale_down_limit,
    scale_up_limit,
    stabilize,
    stabilize_max,
    store_scale_event,
)

NOW = 10_000.0


def rules(pods: int, pods_period: int, percent: int, percent_period: int, window: int) -> ScalingRules:
    """upstream `generateScalingRules`"""
    policies = []
    if pods:
        policies.append(StepPolicy("Pods", pods, pods_period))
    if percent:
        policies.append(StepPolicy("Percent", percent, percent_period))
    return ScalingRules(window, "Max", tuple(policies))


def spread(changes: list[int], period_s: int) -> tuple[ScaleEvent, ...]:
    """upstream `generateEventsUniformDistribution`: Go truncates each offset to whole seconds."""
    segment = period_s / len(changes)
    return tuple(
        ScaleEvent(change, NOW - int(period_s - segment * (i + 1) + segment / 2)) for i, change in enumerate(changes)
    )


# name, up events, down events, min, max, up rules, down rules, current, desired, expected, condition
SCALING_WITH_RULES = [
    ("within range", (), (), 3, 8, None, None, 5, 7, 7, "DesiredWithinRange"),
    ("below min", (), (), 2, 8, None, None, 3, 1, 2, "TooFewReplicas"),
    ("zero within range when min is 0", (), (), 0, 10, None, None, 1, 0, 0, "DesiredWithinRange"),
    ("max below the up limit", (), (), 1, 10, None, None, 20, 1000, 10, "TooManyReplicas"),
    ("more than max", (), (), 100, 150, None, None, 100, 1000, 150, "TooManyReplicas"),
    ("up limit with user policies", (), (), 1, 2000, rules(0, 0, 1, 60, 0), None, 3, 1000, 4, "ScaleUpLimit"),
    ("down limit with user policies", (), (), 3, 2000, None, rules(20, 60, 0, 0, 0), 1000, 3, 980, "ScaleDownLimit"),
    ("up with default behavior", (), (), 1, 1000, None, None, 10, 50, 20, "ScaleUpLimit"),
    ("up, pods policy larger", (), (), 1, 1000, rules(100, 60, 100, 60, 0), None, 10, 500, 110, "ScaleUpLimit"),
    ("up, percent policy larger", (), (), 1, 1000, rules(2, 60, 100, 60, 0), None, 10, 500, 20, "ScaleUpLimit"),
    ("up, large pod policy", (), (), 1, 1000, rules(100, 60, 0, 0, 0), None, 10, 50, 50, "DesiredWithinRange"),
    ("up, large percent policy", (), (), 1, 1000, rules(10000, 60, 0, 0, 0), None, 10, 50, 50, "DesiredWithinRange"),
    ("up, pod policy limit", (), (), 1, 1000, rules(30, 60, 0, 0, 0), None, 10, 50, 40, "ScaleUpLimit"),
    ("up, percent policy limit", (), (), 1, 1000, rules(0, 0, 200, 60, 0), None, 10, 50, 30, "ScaleUpLimit"),
    ("down, percent larger", (), (), 1, 1000, None, rules(20, 60, 1, 60, 300), 100, 2, 80, "ScaleDownLimit"),
    ("down, pods larger", (), (), 1, 1000, None, rules(2, 60, 1, 60, 300), 100, 2, 98, "ScaleDownLimit"),
    ("down, min with large pods", (), (), 1, 1000, None, rules(100, 60, 0, 0, 300), 10, 0, 1, "TooFewReplicas"),
    ("down, min with large percent", (), (), 5, 1000, None, rules(0, 0, 100, 60, 300), 10, 2, 5, "TooFewReplicas"),
    ("down, pod policy limit", (), (), 1, 1000, None, rules(5, 60, 0, 0, 300), 10, 2, 5, "ScaleDownLimit"),
    ("down, percent policy limit", (), (), 1, 1000, None, rules(0, 0, 50, 60, 300), 10, 5, 5, "DesiredWithinRange"),
    # with events in the period: P0 = current - added + removed
    ("up, max with events", spread([1, 5, 9], 120), (), 1, 200, rules(300, 60, 0, 0, 0), None, 100, 500, 200,
     "TooManyReplicas"),
    ("up, max with percent and events", spread([1, 5, 9], 120), (), 1, 200, rules(0, 0, 10000, 60, 0), None, 100, 500,
     200, "TooManyReplicas"),
    ("up, no more until events age out", spread([1, 5, 9], 120), (), 1, 1000, rules(5, 120, 0, 0, 0), None, 100, 500,
     100, "ScaleUpLimit"),
    ("up, pods after events", spread([1, 5, 9], 120), (), 1, 1000, rules(150, 120, 0, 0, 0), None, 100, 500, 235,
     "ScaleUpLimit"),
    ("up, percent after events", spread([1, 5, 9], 120), (), 1, 1000, rules(0, 0, 200, 120, 0), None, 100, 500, 255,
     "ScaleUpLimit"),
    ("up, percent after up and down events", spread([4], 120), spread([2], 120), 1, 1000, rules(0, 0, 300, 300, 0),
     None, 6, 24, 16, "ScaleUpLimit"),
    ("down, default policy with events", (), spread([1, 5, 9], 120), 1, 1000, None, None, 10, 5, 5,
     "DesiredWithinRange"),
    ("down, min with large pods and events", (), spread([1, 5, 9], 120), 1, 1000, None, rules(115, 120, 0, 0, 300), 100,
     0, 1, "TooFewReplicas"),
    ("down, min 5 with large pods and events", (), spread([1, 5, 9], 120), 5, 1000, None, rules(130, 120, 0, 0, 300),
     100, 0, 5, "TooFewReplicas"),
    ("down, min with 100% and events", (), spread([1, 5, 9], 120), 5, 1000, None, rules(0, 0, 100, 120, 300), 100, 2, 5,
     "TooFewReplicas"),
    ("down, pods limit and events", (), spread([1, 5, 9], 120), 1, 1000, None, rules(5, 120, 0, 0, 300), 100, 2, 100,
     "ScaleDownLimit"),
    ("down, percent limit and events", (), spread([2, 4, 6], 120), 1, 1000, None, rules(0, 0, 50, 120, 300), 100, 0, 56,
     "ScaleDownLimit"),
    ("down, percent after up and down events", spread([2], 120), spread([4], 120), 1, 1000, None,
     rules(0, 0, 50, 180, 0), 10, 1, 6, "ScaleDownLimit"),
    ("down, events prevent more", (), spread([10, 10, 10], 120), 1, 1000, None, rules(0, 0, 10, 120, 300), 100, 0, 100,
     "ScaleDownLimit"),
    ("down, events still allow more", (), spread([10, 10, 10], 120), 1, 1000, None, rules(0, 0, 1000, 120, 300), 10, 5,
     5, "DesiredWithinRange"),
    ("outdated up events, one policy", spread([8, 12, 9, 11], 120), (), 1, 1000, rules(1000, 60, 0, 0, 0), None, 100,
     200, 200, "DesiredWithinRange"),
    ("outdated up events, two policies", spread([8, 12, 9, 11], 120), (), 1, 1000, rules(1000, 30, 100, 60, 0), None,
     100, 200, 200, "DesiredWithinRange"),
    ("outdated down events, one policy", (), spread([8, 12, 9, 11], 120), 1, 1000, None, rules(1000, 60, 0, 0, 300),
     100, 5, 5, "DesiredWithinRange"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("up", "down", "lo", "hi", "up_rules", "down_rules", "current", "desired", "expected", "condition"),
    [pytest.param(*case[1:], id=case[0]) for case in SCALING_WITH_RULES],
)
def test_scaling_with_rules(
    up: tuple[ScaleEvent, ...],
    down: tuple[ScaleEvent, ...],
    lo: int,
    hi: int,
    up_rules: ScalingRules | None,
    down_rules: ScalingRules | None,
    current: int,
    desired: int,
    expected: int,
    condition: str,
) -> None:
    behavior = Behavior(up_rules or DEFAULT_SCALE_UP, down_rules or DEFAULT_SCALE_DOWN)
    got = limit_rate(desired, current, min_replicas=lo, max_replicas=hi, up=up, down=down, behavior=behavior, now=NOW)
    assert got == (expected, condition)


def test_min_select_policy_picks_the_smallest_change() -> None:
    # upstream TestCalculateScaleUpLimitWithScalingRules / TestCalculateScaleDownLimitWithBehaviors
    two = (StepPolicy("Pods", 2, 60), StepPolicy("Percent", 50, 60))
    assert scale_up_limit(1, (), (), ScalingRules(300, "Min", two), NOW) == 2
    assert scale_down_limit(5, (), (), ScalingRules(300, "Min", two), NOW) == 3


def test_disabled_select_policy_holds() -> None:
    disabled = Behavior(ScalingRules(0, "Disabled", DEFAULT_SCALE_UP.policies), DEFAULT_SCALE_DOWN)
    assert limit_rate(50, 10, min_replicas=1, max_replicas=100, up=(), down=(), behavior=disabled, now=NOW) == (
        10,
        "ScaleUpLimit",
    )
    no_down = Behavior(DEFAULT_SCALE_UP, ScalingRules(300, "Disabled", DEFAULT_SCALE_DOWN.policies))
    assert limit_rate(2, 10, min_replicas=1, max_replicas=100, up=(), down=(), behavior=no_down, now=NOW)[0] == 10


@pytest.mark.parametrize(
    ("current", "desired", "lo", "hi", "expected"),
    [
        (5, 7, 3, 8, (7, "DesiredWithinRange")),
        (3, 1, 2, 8, (2, "TooFewReplicas")),
        (1, 0, 0, 10, (0, "DesiredWithinRange")),
        (20, 1000, 1, 10, (10, "TooManyReplicas")),
        (3, 1000, 1, 2000, (6, "ScaleUpLimit")),  # max(2·3, 4)
        (1, 1000, 1, 2000, (4, "ScaleUpLimit")),  # scaleUpLimitMinimum
    ],
)
def test_convert_desired_replicas_with_rules(
    current: int, desired: int, lo: int, hi: int, expected: tuple[int, str]
) -> None:
    # upstream TestConvertDesiredReplicasWithRules (behavior == nil)
    assert limit_without_behavior(desired, current, min_replicas=lo, max_replicas=hi) == expected


MINUTE = 60.0


@pytest.mark.parametrize(
    ("recs", "desired", "expected", "log_length"),
    [
        pytest.param([], 5, 5, 1, id="empty log"),
        pytest.param([(4, 2), (5, 1)], 3, 5, 3, id="stabilize"),
        pytest.param([(1, 2), (2, 1)], 3, 3, 3, id="no stabilize"),
        pytest.param([(10, 10), (9, 9)], 3, 3, 2, id="no stabilize - old recommendations"),
        pytest.param([(10, 10), (4, 1), (5, 2), (9, 9)], 3, 5, 4, id="stabilize - old recommendations"),
    ],
)
def test_stabilize_without_behavior(recs: list[tuple[int, int]], desired: int, expected: int, log_length: int) -> None:
    # upstream TestNormalizeDesiredReplicas: the highest of the last 5 minutes; one obsolete sample is reused
    log = tuple(Recommendation(r, NOW - m * MINUTE) for r, m in recs)
    stabilized, new_log = stabilize_max(log, desired, 300, NOW)
    assert (stabilized, len(new_log)) == (expected, log_length)


@pytest.mark.parametrize(
    ("recs", "current", "desired", "up_window", "down_window", "expected", "stored"),
    [
        pytest.param([], 100, 5, 0, 0, 5, [5], id="empty recommendations for scaling down"),
        pytest.param([(4, 2), (5, 1)], 100, 3, 0, 180, 5, [4, 5, 3], id="simple scale down stabilization"),
        pytest.param([(4, 2), (5, 1)], 1, 7, 300, 0, 4, [4, 5, 7], id="simple scale up stabilization"),
        pytest.param([(1, 2), (2, 1)], 100, 3, 300, 0, 3, [1, 2, 3], id="no scale down stabilization"),
        pytest.param([(4, 2), (5, 1)], 1, 3, 0, 300, 3, [4, 5, 3], id="no scale up stabilization"),
        pytest.param([(10, 10), (9, 9)], 100, 3, 0, 0, 3, [10, 3], id="no down stabilization, reuse element"),
        pytest.param([(10, 10), (9, 9)], 1, 100, 0, 0, 100, [10, 100], id="no up stabilization, reuse element"),
        pytest.param(
            [(10, 10), (4, 1), (5, 2), (9, 9)], 100, 3, 0, 180, 5, [10, 4, 5, 3], id="down, reuse one obsolete"
        ),
        pytest.param([(10, 100), (6, 1), (5, 2), (9, 3)], 1, 100, 300, 0, 5, [100, 6, 5, 9], id="up, reuse obsolete"),
        pytest.param([(2, 100), (3, 3)], 2, 1, 300, 300, 2, None, id="no up when the recommendation goes down"),
        pytest.param([(2, 100), (1, 3)], 2, 3, 300, 300, 2, None, id="no down when the recommendation goes up"),
    ],
)
def test_stabilize_with_behaviors(
    recs: list[tuple[int, int]],
    current: int,
    desired: int,
    up_window: int,
    down_window: int,
    expected: int,
    stored: list[int] | None,
) -> None:
    # upstream TestNormalizeDesiredReplicasWithBehavior
    log = tuple(Recommendation(r, NOW - m * MINUTE) for r, m in recs)
    behavior = Behavior(ScalingRules(up_window), ScalingRules(down_window))
    stabilized, new_log = stabilize(log, desired, current, behavior, NOW)
    assert stabilized == expected
    if stored is not None:
        assert [r.replicas for r in new_log] == stored


@pytest.mark.parametrize(
    ("previous", "with_behavior", "stored", "change_in_60s"),
    [
        pytest.param([], False, [], 0, id="empty, default behavior: nothing stored"),
        pytest.param([], True, [(5, False)], 0, id="empty, two policies"),
        pytest.param([(7, 61)], False, [(7, False)], 0, id="outdated entry kept without behavior"),
        pytest.param([(7, 61)], True, [(5, False)], 0, id="outdated entry replaced"),
        pytest.param([(7, 58)], True, [(7, False), (5, False)], 7, id="actual entry kept"),
        pytest.param([(7, 61), (6, 59)], True, [(5, False), (6, False)], 6, id="one of two replaced"),
        pytest.param(
            [(8, 29), (6, 59), (7, 61), (9, 61)],
            True,
            [(8, False), (6, False), (7, True), (5, False)],
            14,
            id="different periods: the last outdated one is replaced",
        ),
    ],
)
def test_store_scale_events(
    previous: list[tuple[int, int]], with_behavior: bool, stored: list[tuple[int, bool]], change_in_60s: int
) -> None:
    # upstream TestStoreScaleEvents, both directions
    events = tuple(ScaleEvent(change, NOW - age) for change, age in previous)
    assert changed_in_period(60, events, NOW) == change_in_60s
    periods = rules(10, 60, 100, 30, 0) if len(previous) == 4 else rules(10, 60, 100, 60, 0)
    behavior = Behavior(periods, periods) if with_behavior else None
    up, _ = store_scale_event(events, (), behavior, 10, 15, NOW)
    _, down = store_scale_event((), events, behavior, 10, 5, NOW)
    for got in (up, down):
        assert [(e.change, e.outdated) for e in got] == stored


def test_docs_example_scale_down_percent_then_pods() -> None:
    """HPA docs, "Scaling policies": Pods 4/60 s and Percent 10/60 s, selectPolicy Max, 80 replicas asked to go to 10:
    8 go first; at 72 the next step removes 8 again (64.8 truncates to 64); below 40 the Pods policy wins."""
    docs = Behavior(
        DEFAULT_SCALE_UP, ScalingRules(0, "Max", (StepPolicy("Pods", 4, 60), StepPolicy("Percent", 10, 60)))
    )
    current, now, path = 80, NOW, []
    down: tuple[ScaleEvent, ...] = ()
    while current > 10:
        new, _ = limit_rate(10, current, min_replicas=1, max_replicas=100, up=(), down=down, behavior=docs, now=now)
        _, down = store_scale_event((), down, docs, current, new, now)
        path.append(new)
        current, now = new, now + 60
    assert path == [72, 64, 57, 51, 45, 40, 36, 32, 28, 24, 20, 16, 12, 10]


def test_docs_example_default_scale_up_is_max_of_4_pods_or_double() -> None:
    # within one 15 s period: from 1 at most 5 (Pods 4 beats 100%), from 10 at most 20
    assert limit_rate(100, 1, min_replicas=1, max_replicas=100, up=(), down=(), behavior=Behavior(
        DEFAULT_SCALE_UP, DEFAULT_SCALE_DOWN), now=NOW)[0] == 5  # fmt: skip
    assert scale_up_limit(10, (), (), DEFAULT_SCALE_UP, NOW) == 20
    # an addition 14 s ago still counts against the period, one 15 s ago no longer does (Go: After(cutoff))
    assert scale_up_limit(10, (ScaleEvent(5, NOW - 14),), (), DEFAULT_SCALE_UP, NOW) == 10
    assert scale_up_limit(10, (ScaleEvent(5, NOW - 15),), (), DEFAULT_SCALE_UP, NOW) == 20

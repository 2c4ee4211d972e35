"""The KEDA + HPA emulation: upstream replica-calculator cases, the KEDA docs' activation example, cooldown,
fallback, and the HPA loop over time (max-hold, scale-up cap, behavior path)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from autoscaler.behavior import DEFAULT_BEHAVIOR
from autoscaler.keda_hpa import (
    Fallback,
    FallbackBehavior,
    HpaConfig,
    HpaState,
    KedaConfig,
    KedaState,
    Trigger,
    engine_backlog,
    external_average_value_replicas,
    external_metric,
    hpa_reconcile,
    keda_poll,
    queue_length,
    trigger_metric,
)
from autoscaler.model import QueueMetrics


def reading(ready: int | None = None, unacked: int | None = None) -> QueueMetrics:
    return QueueMetrics(queue="q", at=0.0, source="http", ready=ready, unacked=unacked)


@pytest.mark.parametrize(
    ("status", "metric", "target", "up", "expected"),
    [
        pytest.param(3, 8600, 2150, 0.1, 4, id="scale up"),
        pytest.param(5, 8600, 2867, 0.1, 3, id="scale down"),
        pytest.param(3, 8600, 2900, 0.1, 3, id="within default tolerance"),
        pytest.param(3, 8600, 2800, 0.01, 4, id="outside configurable 1% tolerance"),
    ],
)
def test_external_per_pod_replicas(status: int, metric: float, target: float, up: float, expected: int) -> None:
    # upstream replica_calculator_test.go TestReplicaCalcExternalPerPodMetric (values in milli-units there)
    got = external_average_value_replicas(metric / 1000, target / 1000, status, up=up, down=0.1)
    assert got == expected


def test_hpa_docs_ratio_examples() -> None:
    # "if the current metric value is 200m, and the desired value is 100m, the number of replicas will be doubled"
    assert external_average_value_replicas(0.2 * 4, 0.1, 4, up=0.1, down=0.1) == 8
    assert external_average_value_replicas(0.05 * 4, 0.1, 4, up=0.1, down=0.1) == 2
    # within 10% of target: no change, even though ceil() would say otherwise
    assert external_average_value_replicas(109, 20, 5, up=0.1, down=0.1) == 5
    assert external_average_value_replicas(111, 20, 5, up=0.1, down=0.1) == 6


def test_queue_length_by_protocol() -> None:
    http, amqp = KedaConfig(), KedaConfig(protocol="amqp")
    assert queue_length(http, reading(90, 10)) == 100  # `messages` = ready + unacked
    assert queue_length(KedaConfig(exclude_unacknowledged=True), reading(90, 10)) == 90
    assert queue_length(amqp, reading(90, None)) == 90  # passive declare: ready only, in-flight invisible
    assert queue_length(http, reading()) == 0  # missing fields decode as 0 (kedacore/keda#7180)
    assert queue_length(http, None) is None  # the call failed


def test_docs_activation_example_scales_to_zero_although_the_hpa_wants_four() -> None:
    """KEDA docs (concepts/scaling-deployments): value 10, activationValue 50, 40 messages: scaled to 0."""
    keda = KedaConfig(value=10, activation_value=50, min_replica_count=0)
    state = KedaState(created_at=0.0, last_active=0.0)
    step, _ = keda_poll(keda, state, replicas=4, reading=reading(40, 0), now=301.0)
    assert step.replicas == 0
    hpa = keda.hpa()
    assert external_average_value_replicas(40, hpa.target_average_value, 1, up=0.1, down=0.1) == 4
    # ... and the HPA cannot bring it back: scaling is disabled at zero
    hpa_step, _ = hpa_reconcile(hpa, HpaState(), 0, 0, 40, 315.0)
    assert hpa_step.replicas is None
    assert "ScalingDisabled" in hpa_step.reason


@pytest.mark.parametrize(
    ("messages", "activation", "active"),
    [(50, 50, False), (51, 50, True), (0, 0, False), (1, 0, True)],
)
def test_activation_is_strictly_greater(messages: int, activation: float, active: bool) -> None:
    keda = KedaConfig(activation_value=activation)
    step, state = keda_poll(keda, KedaState(created_at=0.0), replicas=0, reading=reading(messages, 0), now=10.0)
    assert (step.replicas == 1) is active
    assert (state.last_active == 10.0) is active


def test_scale_from_zero_goes_to_max_of_min_and_one() -> None:
    step, _ = keda_poll(KedaConfig(min_replica_count=3), KedaState(0.0), replicas=0, reading=reading(5, 0), now=1.0)
    assert step.replicas == 3
    assert KedaConfig(min_replica_count=0).hpa().min_replicas == 1


@pytest.mark.parametrize(
    ("last_active", "now", "to_zero"),
    [(0.0, 300.0, False), (0.0, 300.5, True), (None, 0.0, False), (None, 0.5, True)],
)
def test_cooldown_is_strict(last_active: float | None, now: float, to_zero: bool) -> None:
    # LastActiveTime + cooldown < now; with no LastActiveTime, creation + initialCooldownPeriod (0) < now
    state = KedaState(created_at=0.0, last_active=last_active)
    step, _ = keda_poll(KedaConfig(), state, replicas=2, reading=reading(0, 0), now=now)
    assert (step.replicas == 0) is to_zero


def test_activation_is_ignored_with_a_minimum_of_one() -> None:
    keda = KedaConfig(min_replica_count=1, activation_value=50)
    step, _ = keda_poll(keda, KedaState(0.0, last_active=0.0), replicas=3, reading=reading(10, 0), now=10_000.0)
    assert step.replicas is None


def test_silent_zero_scales_a_busy_queue_to_zero() -> None:
    # the management API returned no count fields: KEDA reads 0 and, after the cooldown, scales to zero
    step, _ = keda_poll(KedaConfig(), KedaState(0.0, last_active=0.0), replicas=5, reading=reading(), now=301.0)
    assert step.replicas == 0


def test_amqp_mode_scales_to_zero_while_messages_are_in_flight() -> None:
    # kedacore/keda#356: all 8 messages unacked, ready 0 → inactive → 0 after the cooldown; they are requeued
    step, _ = keda_poll(KedaConfig(protocol="amqp"), KedaState(0.0, 0.0), 1, reading(0, 8), now=301.0)
    assert step.replicas == 0


def test_errors_without_fallback_never_scale() -> None:
    keda = KedaConfig()
    step, state = keda_poll(keda, KedaState(0.0, last_active=0.0), replicas=2, reading=None, now=1000.0)
    assert step.replicas is None
    assert state.failures == 1
    metric, _ = external_metric(keda, state, None, 2)
    assert metric is None
    hpa_step, _ = hpa_reconcile(keda.hpa(), HpaState(), 2, 2, metric, 1000.0)
    assert hpa_step.replicas is None
    assert "FailedGetExternalMetric" in hpa_step.reason


@pytest.mark.parametrize(
    ("behavior", "current", "expected"),
    [("static", 2, 6), ("currentReplicas", 2, 2), ("currentReplicasIfHigher", 9, 9), ("currentReplicasIfLower", 9, 6)],
)
def test_fallback_after_the_threshold(behavior: FallbackBehavior, current: int, expected: int) -> None:
    keda = KedaConfig(value=10, fallback=Fallback(failure_threshold=3, replicas=6, behavior=behavior))
    state = KedaState(0.0)
    for _ in range(3):  # up to the threshold, the error reaches the HPA, which holds
        metric, state = external_metric(keda, state, None, current)
        assert metric is None
    metric, state = external_metric(keda, state, None, current)
    assert metric is not None
    assert external_average_value_replicas(metric, keda.value, current, up=0.1, down=0.1) == expected
    # fallback counts as active: no scale to zero during the outage
    step, state = keda_poll(keda, state, replicas=current, reading=None, now=10_000.0)
    assert step.replicas is None
    assert state.last_active is None
    # one success resets the count
    _, state = external_metric(keda, state, reading(0, 0), current)
    assert state.failures == 0


def test_cached_metrics_are_the_last_poll() -> None:
    keda = KedaConfig(use_cached_metrics=True)
    _, state = keda_poll(keda, KedaState(0.0), replicas=1, reading=reading(77, 3), now=0.0)
    metric, state = external_metric(keda, state, reading(1, 0), 1)
    assert metric == 80
    assert state.failures == 0


def run_hpa(config: HpaConfig, metrics: Sequence[float], start: int) -> list[int]:
    """One reconcile every 15 s, applying each rescale; the replica count after each."""
    state, replicas, out = HpaState(), start, []
    for i, m in enumerate(metrics):
        step, state = hpa_reconcile(config, state, replicas, replicas, m, 15.0 * i)
        replicas = step.replicas if step.replicas is not None else replicas
        out.append(replicas)
    return out


def test_nil_behavior_holds_the_highest_recommendation_for_five_minutes_then_drops_at_once() -> None:
    config = HpaConfig(min_replicas=1, max_replicas=50, target_average_value=10)
    path = run_hpa(config, [80] + [0] * 24, start=8)
    # the 80-message recommendation (8) holds while it is in the window, the sample exactly 300 s old included
    assert path[:21] == [8] * 21
    assert path[21:] == [1] * 4  # then the whole way down in one step


def test_nil_behavior_caps_scale_up_at_double_or_four() -> None:
    config = HpaConfig(min_replicas=1, max_replicas=100, target_average_value=10)
    assert run_hpa(config, [1000] * 4, start=1) == [4, 8, 16, 32]


def test_behavior_path_uses_the_default_rates() -> None:
    config = HpaConfig(min_replicas=1, max_replicas=100, target_average_value=10, behavior=DEFAULT_BEHAVIOR)
    # +max(4 pods, 100%) per 15 s: events older than 15 s no longer count
    assert run_hpa(config, [1000] * 4, start=1) == [5, 10, 20, 40]


def test_initial_recommendation_is_the_current_size() -> None:
    config = HpaConfig(min_replicas=1, max_replicas=10, target_average_value=10)
    # first reconcile at 6 replicas with no load: the initial record (6) holds the size for five minutes
    path = run_hpa(config, [0] * 22, start=6)
    assert path[0] == 6
    assert path[-1] == 1


# --- the engine's backlog through a metrics-api / postgresql trigger ----------------------------------------------


def engine(upstream: int | None, ready: int | None = 0, unacked: int | None = 0) -> QueueMetrics:
    return QueueMetrics(queue="q", at=0.0, source="simulated", ready=ready, unacked=unacked, upstream=upstream)


def test_the_engine_trigger_counts_what_waits_upstream_and_in_the_queue() -> None:
    # the engine's external-task count without notLocked: still to fetch + fetched, not yet completed
    assert engine_backlog(engine(500, ready=3, unacked=8)) == 511
    assert engine_backlog(engine(0)) == 0
    # a failed call or query is an error, never a zero (unlike a missing field in RabbitMQ's JSON)
    assert engine_backlog(engine(None, ready=3, unacked=8)) is None
    assert engine_backlog(engine(5, ready=None)) is None
    assert engine_backlog(None) is None


@pytest.mark.parametrize("trigger", ["metrics-api", "postgresql"])
def test_each_trigger_reads_its_own_signal(trigger: Trigger) -> None:
    backlog = engine(500, ready=0, unacked=8)  # a full consumer, the rest upstream: what the bridge leaves behind
    assert trigger_metric(KedaConfig(), backlog) == 8  # QueueLength sees the prefetch only
    assert trigger_metric(KedaConfig(trigger=trigger), backlog) == 508


@pytest.mark.parametrize(
    ("backlog", "activation", "active"),
    [(50, 50, False), (51, 50, True), (0, 0, False), (1, 0, True), (3, 2.5, True)],
)
def test_engine_activation_is_strictly_greater(backlog: int, activation: float, active: bool) -> None:
    # GetMetricsAndActivity: `val > activationTargetValue` (metrics-api), `num > activationTargetQueryValue`
    keda = KedaConfig(trigger="postgresql", activation_value=activation)
    step, state = keda_poll(keda, KedaState(created_at=0.0), replicas=0, reading=engine(backlog), now=10.0)
    assert (step.replicas == 1) is active
    assert (state.last_active == 10.0) is active


@pytest.mark.parametrize(
    ("backlog", "target", "current", "expected"),
    [
        pytest.param(12, 7, 1, 2, id="docs example: targetValue 7, 12 tasks"),
        pytest.param(500, 120, 3, 5, id="ceil(500 / 120)"),
        pytest.param(480, 120, 4, 4, id="exactly on target"),
        pytest.param(50, 8.8, 3, 6, id="float target: ceil(5.68)"),
        pytest.param(341, 120, 3, 3, id="within 10% of 3 × 120: hold"),
    ],
)
def test_engine_average_value_goes_through_the_hpa_as_ceil(
    backlog: int, target: float, current: int, expected: int
) -> None:
    keda = KedaConfig(trigger="metrics-api", value=target, max_replica_count=20)
    metric, _ = external_metric(keda, KedaState(0.0), engine(backlog), current)
    assert metric == backlog
    step, _ = hpa_reconcile(keda.hpa(), HpaState(), current, current, metric, 0.0)
    assert (step.replicas or current) == expected


def test_an_engine_trigger_error_counts_as_a_failure_and_the_hpa_holds() -> None:
    keda = KedaConfig(trigger="postgresql", value=10)
    metric, state = external_metric(keda, KedaState(0.0), engine(None), 3)
    assert metric is None
    assert state.failures == 1
    step, _ = hpa_reconcile(keda.hpa(), HpaState(), 3, 3, metric, 0.0)
    assert step.replicas is None


def test_the_signal_is_named_as_an_operator_writes_it() -> None:
    assert KedaConfig(value=80).describe() == "QueueLength value 80 over http"
    assert KedaConfig(trigger="metrics-api", value=120).describe() == (
        "metrics-api on the engine's backlog + queue (AverageValue), targetValue 120"
    )
    assert KedaConfig(trigger="postgresql", value=2.5).describe().endswith("targetQueryValue 2.5")

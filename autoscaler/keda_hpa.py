"""KEDA's scalers (the RabbitMQ QueueLength trigger, or one that reads the engine's backlog) and the HPA KEDA creates,
emulated as pure functions.

Follows `shared/protocols/autoscaling.md` §1–2: the KEDA operator decides activation (0 ↔ 1, cooldown) every
pollingInterval; the HPA sizes 1..N every 15 s from the external metric, with tolerance, the 300 s max-hold (or the
`behavior` path) and the scale-up limits. Used to replay a trace the way a KEDA deployment would have scaled it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from autoscaler.behavior import (
    DEFAULT_SCALE_DOWN,
    Behavior,
    Recommendation,
    Recommendations,
    ScaleEvents,
    limit_rate,
    limit_without_behavior,
    stabilize,
    stabilize_max,
    store_scale_event,
)
from autoscaler.model import QueueMetrics

FallbackBehavior = Literal["static", "currentReplicas", "currentReplicasIfHigher", "currentReplicasIfLower"]
# rabbitmq: the queue's length (QueueLength); metrics-api / postgresql: the engine's backlog plus the queue
Trigger = Literal["rabbitmq", "metrics-api", "postgresql"]
TRIGGERS: tuple[Trigger, ...] = ("rabbitmq", "metrics-api", "postgresql")


@dataclass(frozen=True)
class Fallback:
    failure_threshold: int
    replicas: int
    behavior: FallbackBehavior = "static"


@dataclass(frozen=True)
class HpaConfig:
    min_replicas: int
    max_replicas: int
    target_average_value: float
    tolerance_up: float = 0.1
    tolerance_down: float = 0.1
    downscale_stabilization_s: int = DEFAULT_SCALE_DOWN.window_s
    behavior: Behavior | None = None
    sync_period_s: float = 15.0


@dataclass(frozen=True)
class KedaConfig:
    """A ScaledObject with one trigger (by default rabbitmq in QueueLength mode); defaults are KEDA's.

    `value` and `activation_value` are the trigger's target and activation threshold under each trigger's own
    names: rabbitmq `value` / `activationValue`, metrics-api `targetValue` / `activationTargetValue`, postgresql
    `targetQueryValue` / `activationTargetQueryValue`. All three send the HPA an External AverageValue metric.
    `protocol` and `exclude_unacknowledged` concern the rabbitmq trigger only.
    """

    value: float = 20.0
    activation_value: float = 0.0
    trigger: Trigger = "rabbitmq"
    min_replica_count: int = 0
    max_replica_count: int = 100
    polling_interval_s: float = 30.0
    cooldown_period_s: float = 300.0
    initial_cooldown_period_s: float = 0.0
    protocol: Literal["http", "amqp"] = "http"
    exclude_unacknowledged: bool = False
    use_cached_metrics: bool = False
    fallback: Fallback | None = None
    behavior: Behavior | None = None  # advanced.horizontalPodAutoscalerConfig.behavior

    def hpa(self) -> HpaConfig:
        """The `keda-hpa-<name>` KEDA creates: minReplicas = max(minReplicaCount, 1)."""
        return HpaConfig(
            min_replicas=max(self.min_replica_count, 1),
            max_replicas=self.max_replica_count,
            target_average_value=self.value,
            behavior=self.behavior,
        )

    @property
    def value_name(self) -> str:
        """What the trigger calls its target value."""
        return {"rabbitmq": "value", "metrics-api": "targetValue", "postgresql": "targetQueryValue"}[self.trigger]

    @property
    def signal(self) -> str:
        """The signal KEDA was given, as an operator would name it."""
        if self.trigger == "rabbitmq":
            return f"rabbitmq QueueLength over {self.protocol}"
        return f"{self.trigger} on the engine's backlog + queue (AverageValue)"

    def describe(self) -> str:
        if self.trigger == "rabbitmq":
            return f"QueueLength value {self.value:g} over {self.protocol}"
        return f"{self.signal}, {self.value_name} {self.value:g}"


# --- KEDA ---------------------------------------------------------------------------------------------------------


def queue_length(config: KedaConfig, reading: QueueMetrics | None) -> float | None:
    """The trigger's metric, or None when the scaler call failed. Over HTTP a missing JSON field decodes as 0
    (Go zero value, kedacore/keda#7180); over AMQP only the live ready count exists."""
    if reading is None:
        return None
    if config.protocol == "amqp":
        return None if reading.ready is None else float(reading.ready)
    if config.exclude_unacknowledged:
        return float(reading.ready or 0)
    return float((reading.ready or 0) + (reading.unacked or 0))


def engine_backlog(reading: QueueMetrics | None) -> float | None:
    """The metrics-api / postgresql trigger's metric: the topic's external tasks the engine holds, waiting to be
    fetched (`upstream`) or fetched and not yet completed (`ready` + `unacked`: in the queue or on a consumer).
    None (the scaler call failed) when any part is unknown: unlike RabbitMQ's management JSON, an answer without
    the number is an error, not a zero.

    What an operator would point the trigger at (the bridge's engine, `bpmn_bridge/engine.py`):
    - metrics-api: `url: <engine-rest>/external-task/count?topicName=<topic>&active=true&withRetriesLeft=true`
      (no `notLocked`, so locked tasks count too), `valueLocation: count`; one trigger per topic (the HPA takes
      the largest proposal), one here since a trace replays as one queue.
    - postgresql: `query: SELECT count(*) FROM act_ru_ext_task WHERE topic_name_ IN (...) AND suspension_state_ = 1`
      (the Camunda 7 / Operaton runtime table), one query for all of a target's topics.

    KEDA semantics (read from kedacore/keda `pkg/scalers/metrics_api_scaler.go` and `postgresql_scaler.go`,
    `GetMetricsAndActivity`, and keda-docs `content/docs/2.17/scalers/metrics-api.md`, `postgresql.md`):
    - the value (GJSON `valueLocation` into the JSON answer; the query's single number) goes to the HPA in
      milli-units (`GenerateMetricInMili`);
    - the target is `GetMetricTargetMili(metricType, targetValue | targetQueryValue)`, metricType AverageValue
      unless the trigger says `metricType: Value`, so the HPA proposes ceil(metric / target);
    - active is `value > activationTargetValue | activationTargetQueryValue`, strictly greater, default 0;
    - a failed HTTP call or query returns an error: no metric, not zero.
    """
    if reading is None or reading.upstream is None or reading.ready is None or reading.unacked is None:
        return None
    return float(reading.upstream + reading.ready + reading.unacked)


def trigger_metric(config: KedaConfig, reading: QueueMetrics | None) -> float | None:
    """The configured trigger's metric from one reading, None when the scaler call failed."""
    if config.trigger == "rabbitmq":
        return queue_length(config, reading)
    return engine_backlog(reading)


@dataclass(frozen=True)
class KedaState:
    created_at: float
    last_active: float | None = None
    failures: int = 0  # status.health[metric].numberOfFailures
    cached_metric: float | None = None


@dataclass(frozen=True)
class Step:
    """What one loop did: the new replica count to write (None: no write) and why."""

    replicas: int | None
    reason: str


def _count(state: KedaState, metric: float | None) -> KedaState:
    return replace(state, failures=0 if metric is not None else state.failures + 1)


def _fallback_active(config: KedaConfig, state: KedaState) -> bool:
    return config.fallback is not None and state.failures > config.fallback.failure_threshold


def keda_poll(
    config: KedaConfig, state: KedaState, replicas: int, reading: QueueMetrics | None, now: float
) -> tuple[Step, KedaState]:
    """One operator poll (`RequestScale`): activation and the cooldown to zero; sizing 1..N is the HPA's."""
    metric = trigger_metric(config, reading)
    state = _count(state, metric)
    if metric is not None:
        state = replace(state, cached_metric=metric)
    is_error = metric is None
    active = _fallback_active(config, state) if is_error else metric is not None and metric > config.activation_value
    if active:
        if not is_error:
            state = replace(state, last_active=now)
        if replicas == 0:
            to = max(config.min_replica_count, 1)
            return Step(to, f"keda: active (metric {metric}), scale from zero to {to}"), state
        return Step(None, "keda: active" + (" (fallback)" if is_error else "")), state
    if is_error:
        return Step(None, "keda: scaler error, " + ("fallback configured" if config.fallback else "not ready")), state
    if replicas > 0 and config.min_replica_count == 0:
        cooled = (
            state.created_at + config.initial_cooldown_period_s < now
            if state.last_active is None
            else state.last_active + config.cooldown_period_s < now
        )
        if cooled:
            return Step(
                0, f"keda: inactive (metric {metric} ≤ {config.activation_value}), cooldown over: scale to 0"
            ), state
        return Step(None, "keda: inactive, cooling down"), state
    if replicas < config.min_replica_count:
        return Step(config.min_replica_count, "keda: inactive, below minReplicaCount"), state
    return Step(None, "keda: inactive, nothing to do"), state


def external_metric(
    config: KedaConfig, state: KedaState, reading: QueueMetrics | None, replicas: int
) -> tuple[float | None, KedaState]:
    """What KEDA's metrics server answers the HPA: a live scaler call (or the last poll's value with
    useCachedMetrics), replaced by `value × R` once failures pass the fallback threshold."""
    if config.use_cached_metrics:
        metric = state.cached_metric
    else:
        metric = trigger_metric(config, reading)
        state = _count(state, metric)
    if metric is not None or not _fallback_active(config, state):
        return metric, state
    assert config.fallback is not None
    fb = config.fallback
    target = {
        "static": fb.replicas,
        "currentReplicas": replicas,
        "currentReplicasIfHigher": max(replicas, fb.replicas),
        "currentReplicasIfLower": min(replicas, fb.replicas),
    }[fb.behavior]
    return config.value * target, state


# --- HPA ----------------------------------------------------------------------------------------------------------


def within_tolerance(ratio: float, up: float, down: float) -> bool:
    return 1.0 - down <= ratio <= 1.0 + up


def external_average_value_replicas(
    metric: float, target: float, status_replicas: int, *, up: float, down: float
) -> int:
    """`GetExternalPerPodMetricReplicas`: within tolerance of target × status replicas → status replicas, else
    ceil(metric / target). Quantities are milli-units, as KEDA sends them."""
    usage, target_m = int(metric * 1000), int(target * 1000)
    denominator = target_m * status_replicas
    ratio = usage / denominator if denominator else (math.inf if usage else math.nan)
    if within_tolerance(ratio, up, down):
        return status_replicas
    return math.ceil(usage / target_m)


@dataclass(frozen=True)
class HpaState:
    recommendations: Recommendations = ()
    scale_up_events: ScaleEvents = ()
    scale_down_events: ScaleEvents = ()


def hpa_reconcile(
    config: HpaConfig, state: HpaState, spec_replicas: int, status_replicas: int, metric: float | None, now: float
) -> tuple[Step, HpaState]:
    """`reconcileAutoscaler` for one External AverageValue metric; `metric` None is a failed fetch."""
    if not state.recommendations:  # recordInitialRecommendation
        state = replace(state, recommendations=(Recommendation(spec_replicas, now),))
    if spec_replicas == 0 and config.min_replicas != 0:
        return Step(None, "hpa: ScalingDisabled (scaled to zero)"), state
    if spec_replicas > config.max_replicas:
        desired, reason = config.max_replicas, "hpa: above maxReplicas"
    elif spec_replicas < config.min_replicas:
        desired, reason = config.min_replicas, "hpa: below minReplicas"
    else:
        if metric is None:
            return Step(None, "hpa: FailedGetExternalMetric, holding"), state
        proposal = external_average_value_replicas(
            metric, config.target_average_value, status_replicas, up=config.tolerance_up, down=config.tolerance_down
        )
        if config.behavior is None:
            stabilized, recs = stabilize_max(state.recommendations, proposal, config.downscale_stabilization_s, now)
            desired, limit = limit_without_behavior(
                stabilized, spec_replicas, min_replicas=config.min_replicas, max_replicas=config.max_replicas
            )
        else:
            stabilized, recs = stabilize(state.recommendations, proposal, spec_replicas, config.behavior, now)
            desired, limit = limit_rate(
                stabilized,
                spec_replicas,
                min_replicas=config.min_replicas,
                max_replicas=config.max_replicas,
                up=state.scale_up_events,
                down=state.scale_down_events,
                behavior=config.behavior,
                now=now,
            )
        state = replace(state, recommendations=recs)
        reason = (
            f"hpa: metric {metric:g} / target {config.target_average_value:g} → {proposal}, "
            f"stabilized {stabilized}, {limit}"
        )
    if desired == spec_replicas:
        return Step(None, reason), state
    up, down = store_scale_event(
        state.scale_up_events, state.scale_down_events, config.behavior, spec_replicas, desired, now
    )
    return Step(desired, reason), replace(state, scale_up_events=up, scale_down_events=down)

"""The application's own metrics: one catalogue (`CATALOGUE`, what dashboards and alerts may name) and one function per
thing recorded.

Inside Ray they go through `ray.util.metrics`: each node's metrics agent serves every process's metrics to
Prometheus, prefixed `ray_` (the monitoring manifests strip the prefix, so dashboards name `kep_*` wherever a series
comes from). A process of its own that serves its metrics itself (`kep worker run`: a Ray Client driver in a pod has
no metrics agent) calls `serve_in_process()` first: from then on they go into a prometheus_client registry, the
same names, types and labels. Anywhere else (a CLI, a unit test) the functions are no-ops.

Labels stay few-valued: routes are templates, never paths; offices are ids (bounded by the offices there are, see
`cases_open`); reasons are classes, never free text.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import prometheus_client
import ray
from ray.util import metrics as ray_metrics

Kind = Literal["counter", "gauge", "histogram"]
RECOVERY_BOUNDS_S = (1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0)
HTTP_BOUNDS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CALL_BOUNDS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
RENDER_BOUNDS_S = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


@dataclass(frozen=True)
class Spec:
    kind: Kind
    help: str
    tags: tuple[str, ...] = ()
    bounds: tuple[float, ...] = ()


CATALOGUE: dict[str, Spec] = {
    "kep_loop_restarts": Spec("counter", "long-lived loops restarted by their watchdog", ("loop",)),
    "kep_retries": Spec("counter", "calls and loop passes tried again after a failure", ("what",)),
    "kep_recovery_seconds": Spec(
        "histogram", "from a loop's first failure to its next good pass", ("what",), RECOVERY_BOUNDS_S
    ),
    "kep_amqp_reconnects": Spec("counter", "RabbitMQ connections re-established", ("connection",)),
    "kep_task_failures": Spec(
        "counter", "process steps failed: retried (transient) or left as incidents", ("topic", "kind")
    ),
    "kep_queue_consumers": Spec("gauge", "consumers of a work queue, as last read from the broker", ("queue",)),
    "kep_queue_messages": Spec("gauge", "messages in a work queue (ready, unacked), as last read", ("queue", "state")),
    "kep_rate_limited": Spec("counter", "requests refused for their caller's rate (429)", ("window",)),
    "kep_rate_limit_unavailable": Spec("counter", "requests let through because Redis could not count them"),
    # its `_count` is the number of requests: one recording per request, no counter beside it (see http_request)
    "kep_http_request_seconds": Spec(
        "histogram",
        "HTTP requests answered and their time, by route template",
        ("method", "route", "status"),
        HTTP_BOUNDS_S,
    ),
    "kep_cases_open": Spec("gauge", "open cases by status and office (the statistics backlog)", ("status", "office")),
    "kep_external_tasks": Spec(
        "counter", "the engine's external tasks: fetched, and what their outcome did", ("topic", "event")
    ),
    "kep_incidents_open": Spec("gauge", "the engine's open incidents (up to 1,000), as the reconciler last read them"),
    "kep_autoscaler_current_replicas": Spec("gauge", "replicas a target has, at the last decision", ("target",)),
    "kep_autoscaler_desired_replicas": Spec("gauge", "replicas the last decision wanted", ("target",)),
    "kep_autoscaler_max_replicas": Spec("gauge", "the policy's max_replicas", ("target",)),
    "kep_autoscaler_target_error": Spec("gauge", "1 while a target cannot be read or scaled", ("target",)),
    "kep_autoscaler_decisions": Spec("counter", "autoscaler decisions by class", ("target", "reason")),
    "kep_renderer_jobs": Spec("counter", "render jobs taken from documents.render"),
    "kep_renderer_rendered": Spec("counter", "documents rendered and recorded", ("kind",)),
    "kep_renderer_relaunches": Spec("counter", "Chromium relaunched after it died or disconnected"),
    "kep_render_seconds": Spec("histogram", "time to print a document to PDF", (), RENDER_BOUNDS_S),
    "kep_adapter_calls": Spec(
        "counter", "calls to external systems, each try, by outcome", ("adapter", "operation", "outcome")
    ),
    "kep_adapter_call_seconds": Spec("histogram", "time of one try of a remote call", ("adapter",), CALL_BOUNDS_S),
    "kep_adapter_circuit_open": Spec(
        "gauge", "1 while an operation's circuit breaker refuses calls", ("adapter", "operation")
    ),
    "kep_worker_stats": Spec("gauge", "a worker process's own counts (handled, busy, ...)", ("pool", "stat")),
}

_registry: prometheus_client.CollectorRegistry | None = None


def serve_in_process(
    registry: prometheus_client.CollectorRegistry | None = None,
) -> prometheus_client.CollectorRegistry:
    """Record into a registry of this process from now on (the caller serves it); returns it."""
    global _registry
    _registry = registry or prometheus_client.CollectorRegistry()
    _prom.cache_clear()
    return _registry


@functools.cache
def _ray(name: str) -> ray_metrics.Metric:
    spec = CATALOGUE[name]
    if spec.kind == "counter":
        return ray_metrics.Counter(name, spec.help, tag_keys=spec.tags)
    if spec.kind == "gauge":
        return ray_metrics.Gauge(name, spec.help, tag_keys=spec.tags)
    return ray_metrics.Histogram(name, spec.help, boundaries=list(spec.bounds), tag_keys=spec.tags)


@functools.cache
def _prom(name: str) -> prometheus_client.metrics.MetricWrapperBase:
    spec, registry = CATALOGUE[name], _registry
    if spec.kind == "counter":
        return prometheus_client.Counter(name, spec.help, spec.tags, registry=registry)
    if spec.kind == "gauge":
        return prometheus_client.Gauge(name, spec.help, spec.tags, registry=registry)
    return prometheus_client.Histogram(name, spec.help, spec.tags, registry=registry, buckets=spec.bounds)


def _record(name: str, value: float, tags: dict[str, str] | None = None) -> None:
    if _registry is not None:
        metric = _prom(name)
        child = metric.labels(**tags) if tags else metric
        match CATALOGUE[name].kind:
            case "counter":
                child.inc(value)  # type: ignore[attr-defined]
            case "gauge":
                child.set(value)  # type: ignore[attr-defined]
            case "histogram":
                child.observe(value)  # type: ignore[attr-defined]
    elif ray.is_initialized():
        ray_metric = _ray(name)
        match ray_metric:  # Ray copies the tags before it records them
            case ray_metrics.Counter():
                ray_metric.inc(value, tags=tags or {})
            case ray_metrics.Gauge():
                ray_metric.set(value, tags=tags or {})
            case ray_metrics.Histogram():
                ray_metric.observe(value, tags=tags or {})


def loop_restarted(loop: str) -> None:
    _record("kep_loop_restarts", 1, {"loop": loop})


def retried(what: str) -> None:
    _record("kep_retries", 1, {"what": what})


def recovered(what: str, after_s: float) -> None:
    """A loop did a pass again, `after_s` seconds after its first failure in a row."""
    _record("kep_recovery_seconds", after_s, {"what": what})


def reconnected(connection: str) -> None:
    _record("kep_amqp_reconnects", 1, {"connection": connection})


def task_failed(topic: str, transient: bool) -> None:
    _record("kep_task_failures", 1, {"topic": topic, "kind": "transient" if transient else "incident"})


def consumers(queue: str, count: int) -> None:
    _record("kep_queue_consumers", count, {"queue": queue})


def queue_depth(queue: str, ready: int | None, unacked: int | None) -> None:
    for state, count in (("ready", ready), ("unacked", unacked)):
        if count is not None:
            _record("kep_queue_messages", count, {"queue": queue, "state": state})


def rate_limited(window: str) -> None:
    _record("kep_rate_limited", 1, {"window": window})


def rate_limit_unavailable() -> None:
    _record("kep_rate_limit_unavailable", 1)


def http_request(method: str, route: str, status: int, seconds: float) -> None:
    """One recording per request (Ray's costs ~3 µs of a replica's ~200 µs per request at full load; a counter
    beside the histogram would double it): rates come from the histogram's `_count`. The hot path of every request,
    so Ray's histogram is called directly."""
    tags = {"method": method, "route": route, "status": str(status)}
    if _registry is None and ray.is_initialized():
        _ray("kep_http_request_seconds").observe(seconds, tags=tags)  # type: ignore[attr-defined]
    else:
        _record("kep_http_request_seconds", seconds, tags)


def cases_open(counts: Mapping[tuple[str, str], int]) -> None:
    """Open cases by (status, office id). One series per office and open status: about 1,000 ΚΕΠ offices times the
    handful of open statuses, a few thousand series at most; a pair that empties is set to 0 by the caller."""
    for (status, office), count in counts.items():
        _record("kep_cases_open", count, {"status": status, "office": office})


ExternalTaskEvent = Literal["fetched", "completed", "bpmn_error", "retried", "failed", "abandoned"]


def external_task(topic: str, event: ExternalTaskEvent) -> None:
    _record("kep_external_tasks", 1, {"topic": topic, "event": event})


def incidents_open(count: int) -> None:
    _record("kep_incidents_open", count)


def autoscaler_decision(target: str, current: int, desired: int, max_replicas: int, reason: str) -> None:
    _record("kep_autoscaler_current_replicas", current, {"target": target})
    _record("kep_autoscaler_desired_replicas", desired, {"target": target})
    _record("kep_autoscaler_max_replicas", max_replicas, {"target": target})
    _record("kep_autoscaler_decisions", 1, {"target": target, "reason": reason})


def autoscaler_target_error(target: str, failing: bool) -> None:
    _record("kep_autoscaler_target_error", 1 if failing else 0, {"target": target})


def render_job() -> None:
    _record("kep_renderer_jobs", 1)


def rendered(kind: str, seconds: float) -> None:
    _record("kep_renderer_rendered", 1, {"kind": kind})
    _record("kep_render_seconds", seconds)


def renderer_relaunched() -> None:
    _record("kep_renderer_relaunches", 1)


AdapterOutcome = Literal["ok", "refused", "unavailable", "timeout", "circuit_open", "error"]


def adapter_call(adapter: str, operation: str, outcome: AdapterOutcome, seconds: float | None) -> None:
    _record("kep_adapter_calls", 1, {"adapter": adapter, "operation": operation, "outcome": outcome})
    if seconds is not None:
        _record("kep_adapter_call_seconds", seconds, {"adapter": adapter})
    _record(
        "kep_adapter_circuit_open", 1 if outcome == "circuit_open" else 0, {"adapter": adapter, "operation": operation}
    )


def worker_stats(pool: str, stats: Mapping[str, int]) -> None:
    for stat, value in stats.items():
        _record("kep_worker_stats", value, {"pool": pool, "stat": stat})

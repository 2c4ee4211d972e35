"""The application's own metrics, exported with Ray's (its metrics agent serves them to Prometheus, prefixed `ray_`).

Outside a Ray worker (a CLI, a unit test) they are not recorded: the functions are then no-ops.
"""

from __future__ import annotations

import functools

import ray
from ray.util import metrics as ray_metrics

RECOVERY_BOUNDS_S = (1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0)


@functools.cache
def _counter(name: str, description: str, tags: tuple[str, ...]) -> ray_metrics.Counter:
    return ray_metrics.Counter(name, description, tag_keys=tags)


@functools.cache
def _gauge(name: str, description: str, tags: tuple[str, ...]) -> ray_metrics.Gauge:
    return ray_metrics.Gauge(name, description, tag_keys=tags)


@functools.cache
def _histogram(name: str, description: str, bounds: tuple[float, ...], tags: tuple[str, ...]) -> ray_metrics.Histogram:
    return ray_metrics.Histogram(name, description, boundaries=list(bounds), tag_keys=tags)


def _on() -> bool:
    return ray.is_initialized()


def loop_restarted(loop: str) -> None:
    if _on():
        _counter("kep_loop_restarts", "long-lived loops restarted by their watchdog", ("loop",)).inc(
            1, tags={"loop": loop}
        )


def retried(what: str) -> None:
    if _on():
        _counter("kep_retries", "calls and loop passes tried again after a failure", ("what",)).inc(
            1, tags={"what": what}
        )


def recovered(what: str, after_s: float) -> None:
    """A loop did a pass again, `after_s` seconds after its first failure in a row."""
    if _on():
        about = "from a loop's first failure to its next good pass"
        _histogram("kep_recovery_seconds", about, RECOVERY_BOUNDS_S, ("what",)).observe(after_s, tags={"what": what})


def reconnected(connection: str) -> None:
    if _on():
        _counter("kep_amqp_reconnects", "RabbitMQ connections re-established", ("connection",)).inc(
            1, tags={"connection": connection}
        )


def task_failed(topic: str, transient: bool) -> None:
    if _on():
        about = "process steps failed: retried (transient) or left as incidents"
        kind = "transient" if transient else "incident"
        _counter("kep_task_failures", about, ("topic", "kind")).inc(1, tags={"topic": topic, "kind": kind})


def consumers(queue: str, count: int) -> None:
    if _on():
        _gauge("kep_queue_consumers", "consumers of a work queue, as the bridge last read them", ("queue",)).set(
            count, tags={"queue": queue}
        )


def rate_limited(window: str) -> None:
    if _on():
        _counter("kep_rate_limited", "requests refused for their caller's rate (429)", ("window",)).inc(
            1, tags={"window": window}
        )


def rate_limit_unavailable() -> None:
    if _on():
        _counter("kep_rate_limit_unavailable", "requests let through because Redis could not count them", ()).inc(1)

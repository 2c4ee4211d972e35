"""Replay a trace through the queue model under an autoscaler: ours (the policy's decision function) or the KEDA + HPA
emulation, each on its own clock with a phase drawn from the seed. The same seed gives the same messages to both.

A policy with `upstream_backlog` replays against a capacity-limited producer (the world both autoscalers would face);
`SimulationConfig.upstream` overrides that setting, for the world and the policy alike.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, replace
from typing import Literal, Protocol

import numpy as np

from autoscaler.decision import Memory, decide, record_scale
from autoscaler.keda_hpa import (
    HpaState,
    KedaConfig,
    KedaState,
    Trigger,
    external_metric,
    hpa_reconcile,
    keda_poll,
)
from autoscaler.model import Decision, QueueMetrics
from autoscaler.policy import TargetPolicy
from autoscaler.queue_model import World, WorldConfig
from autoscaler.traces import Trace


@dataclass(frozen=True)
class SimulationConfig:
    seed: int = 1
    ready_delay_s: float = 10.0
    concurrency: int = 1
    stats_interval_s: int = 5
    stats_gaps: tuple[tuple[int, int], ...] = ()
    tail_s: int = 900  # keep running after the trace so the backlog can drain and replicas come back down
    initial_replicas: int | None = None  # default: the policy's min_replicas
    upstream: bool | None = None  # the producer holds arrivals upstream; default: the policy's `upstream_backlog`
    engine_backlog: bool | None = None  # ours reads what waits upstream; default: the policy's `engine_backlog`


@dataclass(frozen=True)
class ScaleChange:
    at: int
    before: int
    after: int
    by: str


@dataclass(frozen=True)
class Run:
    label: str
    seconds: np.ndarray
    ready: np.ndarray
    unacked: np.ndarray
    upstream: np.ndarray  # arrived but not yet published (always 0 with a plain producer)
    replicas: np.ndarray
    waits: np.ndarray  # from each message's arrival (upstream, if it waited there) to its start
    changes: list[ScaleChange]
    arrived: int
    published: int  # into the queue: with an upstream producer, what the broker counts
    acked: int
    remaining: int  # in the queue at the end (ready + unacked)
    remaining_upstream: int
    requeued: int
    interrupted: int
    upstream_mode: bool

    @property
    def waiting(self) -> np.ndarray:
        """Messages no consumer holds yet, each second: ready in the queue plus waiting upstream."""
        waiting: np.ndarray = self.ready + self.upstream
        return waiting

    @property
    def unfinished(self) -> int:
        return self.remaining + self.remaining_upstream


class Autoscaler(Protocol):
    label: str

    def act(self, world: World) -> None: ...


class OurAutoscaler:
    def __init__(self, policy: TargetPolicy, phase: float) -> None:
        self.label = "ours"
        self.policy = policy
        self.next_at = phase
        self.memory = Memory()
        self.history: deque[QueueMetrics] = deque()
        self.decisions: list[Decision] = []
        self._keep_s = max(policy.stale_after_seconds, policy.rate_window_seconds) + policy.interval_seconds

    def act(self, world: World) -> None:
        while world.now >= self.next_at:
            self.next_at += self.policy.interval_seconds
            now = float(world.now)
            reading = world.http_reading()
            if self.policy.engine_backlog:  # the engine answers live: what waits upstream now
                reading = replace(reading, upstream=len(world.upstream))
            if not self.history or reading.at != self.history[-1].at:  # the broker refreshes every 5 s only
                self.history.append(reading)
            while self.history and self.history[0].at < now - self._keep_s:
                self.history.popleft()
            decision, self.memory = decide(self.policy, world.scale_state(), list(self.history), now, self.memory)
            self.decisions.append(decision)
            if decision.changes:
                world.set_replicas(decision.desired)
                self.memory = record_scale(self.memory, decision, self.policy)


class KedaHpaAutoscaler:
    def __init__(self, keda: KedaConfig, keda_phase: float, hpa_phase: float) -> None:
        self.label = "keda+hpa"
        self.keda = keda
        self.hpa = keda.hpa()
        self.keda_next, self.hpa_next = keda_phase, hpa_phase
        self.keda_state = KedaState(created_at=0.0)
        self.hpa_state = HpaState()
        self.reasons: list[tuple[int, str]] = []

    def _reading(self, world: World) -> QueueMetrics:
        if self.keda.trigger != "rabbitmq":
            return world.engine_reading()
        return world.amqp_reading() if self.keda.protocol == "amqp" else world.http_reading()

    def act(self, world: World) -> None:
        now = float(world.now)
        while world.now >= self.keda_next:
            self.keda_next += self.keda.polling_interval_s
            step, self.keda_state = keda_poll(
                self.keda, self.keda_state, len(world.replicas), self._reading(world), now
            )
            self._apply(world, step.replicas, step.reason)
        while world.now >= self.hpa_next:
            self.hpa_next += self.hpa.sync_period_s
            replicas = len(world.replicas)
            metric, self.keda_state = external_metric(self.keda, self.keda_state, self._reading(world), replicas)
            # status.replicas counts every pod the Deployment has, started or not: the same as spec here
            step, self.hpa_state = hpa_reconcile(self.hpa, self.hpa_state, replicas, replicas, metric, now)
            self._apply(world, step.replicas, step.reason)

    def _apply(self, world: World, replicas: int | None, reason: str) -> None:
        if replicas is not None and replicas != len(world.replicas):
            world.set_replicas(replicas)
            self.reasons.append((world.now, reason))


def _run(trace: Trace, autoscaler: Autoscaler, world: World, tail_s: int) -> Run:
    total = trace.duration_s + tail_s
    ready, unacked, upstream = np.zeros(total, int), np.zeros(total, int), np.zeros(total, int)
    replicas = np.zeros(total, int)
    changes: list[ScaleChange] = []
    for t in range(total):
        before = len(world.replicas)
        autoscaler.act(world)
        if len(world.replicas) != before:
            changes.append(ScaleChange(t, before, len(world.replicas), autoscaler.label))
        replicas[t] = len(world.replicas)
        world.step()
        ready[t], unacked[t], upstream[t] = len(world.queue), world.unacked, len(world.upstream)
    return Run(
        label=autoscaler.label,
        seconds=np.arange(1, total + 1),
        ready=ready,
        unacked=unacked,
        upstream=upstream,
        replicas=replicas,
        waits=np.asarray(world.waits),
        changes=changes,
        arrived=world.arrived,
        published=world.published,
        acked=world.acked,
        remaining=len(world.queue) + world.unacked,
        remaining_upstream=len(world.upstream),
        requeued=world.requeued,
        interrupted=world.interrupted,
        upstream_mode=world.config.upstream,
    )


def _world(trace: Trace, policy: TargetPolicy, config: SimulationConfig) -> World:
    world_config = WorldConfig(
        prefetch=policy.prefetch,
        concurrency=config.concurrency,
        ready_delay_s=config.ready_delay_s,
        stats_interval_s=config.stats_interval_s,
        stats_gaps=config.stats_gaps,
        upstream=policy.upstream_backlog,
    )
    initial = policy.min_replicas if config.initial_replicas is None else config.initial_replicas
    return World(trace, world_config, seed=config.seed, replicas=initial)


def as_single_queue(policy: TargetPolicy, queue: str = "trace") -> TargetPolicy:
    """A trace is the sum over the target's queues: replay it as one queue."""
    return policy.model_copy(update={"queues": [queue]})


def as_replayed(policy: TargetPolicy, config: SimulationConfig) -> TargetPolicy:
    """The policy the replay runs: one queue, and `config.upstream` / `config.engine_backlog` (where set) in place of
    the policy's fields. `upstream_backlog` says what the producer does, so the world and our full-pool rule follow
    it together; reading the upstream backlog needs an upstream producer."""
    upstream = policy.upstream_backlog if config.upstream is None else config.upstream
    engine = upstream and (policy.engine_backlog if config.engine_backlog is None else config.engine_backlog)
    policy = policy.model_copy(update={"upstream_backlog": upstream, "engine_backlog": engine})
    return as_single_queue(policy)


def run_ours(trace: Trace, policy: TargetPolicy, config: SimulationConfig) -> tuple[Run, list[Decision]]:
    phases = random.Random(config.seed)  # noqa: S311 - a simulation phase, not a secret
    policy = as_replayed(policy, config)
    ours = OurAutoscaler(policy, phase=phases.uniform(0, policy.interval_seconds))
    return _run(trace, ours, _world(trace, policy, config), config.tail_s), ours.decisions


def fair_trigger(policy: TargetPolicy) -> Trigger:
    """The trigger an operator would give KEDA for this target. With an upstream producer the queue never holds
    more than the consumers' prefetch, so QueueLength sees no backlog and KEDA never scales: the work that waits
    is in the engine, which a metrics-api trigger on the engine's task count reads (what ours reads with
    `engine_backlog`). Pass the replayed policy (`as_replayed`), so the producer is the one the replay runs."""
    return "metrics-api" if policy.upstream_backlog else "rabbitmq"


def keda_for(
    policy: TargetPolicy,
    *,
    value: float | None = None,
    protocol: Literal["http", "amqp"] = "http",
    trigger: Trigger = "rabbitmq",
) -> KedaConfig:
    """The ScaledObject an operator would write for the same target: the same bounds and activation, and a backlog
    per replica equal to what the policy aims at (unless `value` says otherwise)."""
    return KedaConfig(
        value=float(policy.equivalent_backlog_per_replica()) if value is None else value,
        activation_value=float(policy.activation_backlog),
        min_replica_count=policy.min_replicas,
        max_replica_count=policy.max_replicas,
        protocol=protocol,
        trigger=trigger,
    )


def run_keda(trace: Trace, policy: TargetPolicy, keda: KedaConfig, config: SimulationConfig) -> Run:
    phases = random.Random(config.seed + 1)  # noqa: S311 - a simulation phase, not a secret
    controller = KedaHpaAutoscaler(
        keda, keda_phase=phases.uniform(0, keda.polling_interval_s), hpa_phase=phases.uniform(0, 15.0)
    )
    return _run(trace, controller, _world(trace, as_replayed(policy, config), config), config.tail_s)

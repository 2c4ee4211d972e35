"""The simulated world: one RabbitMQ queue, consumers with a prefetch window, replicas that take time to become
ready, and management statistics that are only refreshed every `stats_interval_s` (what HTTP readers see).

Two producers: a plain one publishes each message as it arrives; an upstream one (`WorldConfig.upstream`, the BPMN
bridge) keeps arrivals upstream (in the engine) and publishes only into the ready consumers' free prefetch, so the
queue never holds more than consumers × prefetch and the real backlog is invisible to queue metrics.

Discrete 1 s ticks; inside a tick each consumer runs event by event, so waits are not rounded to the tick.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from autoscaler.model import QueueMetrics, ScaleState
from autoscaler.traces import Trace


@dataclass(frozen=True)
class WorldConfig:
    prefetch: int = 8
    concurrency: int = 1  # messages one replica works on at once (an async consumer may take its whole prefetch)
    ready_delay_s: float = 10.0  # from a replica being asked for to it consuming
    stats_interval_s: int = 5  # RabbitMQ collect_statistics_interval
    stats_gaps: tuple[tuple[int, int], ...] = ()  # [start, end) seconds in which the broker reports no statistics
    queue: str = "trace"
    # arrivals wait upstream and are published only into free prefetch (bpmn_bridge/bridge.py `_capacity`)
    upstream: bool = False


@dataclass(slots=True)
class Message:
    arrival: float  # when the work arrived (upstream, with an upstream producer): waits count from here
    service: float
    entered: float  # when it entered the queue: no consumer can take it earlier
    finish: float = 0.0


@dataclass(slots=True)
class Replica:
    ready_at: float
    waiting: deque[Message] = field(default_factory=deque)  # delivered, not yet started
    active: list[Message] = field(default_factory=list)

    @property
    def held(self) -> int:
        return len(self.waiting) + len(self.active)


class World:
    def __init__(self, trace: Trace, config: WorldConfig, seed: int, replicas: int) -> None:
        self.config = config
        self.now = 0
        self.queue: deque[Message] = deque()  # ready, oldest first
        self.replicas: list[Replica] = [Replica(ready_at=0.0) for _ in range(replicas)]
        self.upstream: deque[Message] = deque()  # arrived, not published yet (oldest first): waits in the engine
        self.arrived = self.published = self.delivered = self.acked = self.requeued = self.interrupted = 0
        self.waits: list[float] = []
        self._pending: deque[Message] = deque()
        self._rows = deque(trace.rows)
        self._rng = np.random.default_rng(seed)
        self._rotation = 0
        self._interval_counts = (0, 0, 0)  # published, delivered, acked at the last statistics refresh
        self._stats: QueueMetrics = QueueMetrics(queue=config.queue, at=0.0, source="simulated")

    # --- what autoscalers see -----------------------------------------------------------------------------------

    @property
    def ready_replicas(self) -> int:
        return sum(1 for r in self.replicas if r.ready_at <= self.now)

    @property
    def unacked(self) -> int:
        return sum(r.held for r in self.replicas)

    @property
    def free_capacity(self) -> int:
        """What an upstream producer may still publish: the ready consumers' prefetch less every message it has
        published and not seen finished (ready + unacked, the bridge's in-flight). Negative after a scale-down gave
        messages back to the queue; a replica not ready yet has no consumer, so it adds nothing."""
        return self.ready_replicas * self.config.prefetch - len(self.queue) - self.unacked

    def scale_state(self) -> ScaleState:
        return ScaleState(target=self.config.queue, desired=len(self.replicas), ready=self.ready_replicas)

    def http_reading(self) -> QueueMetrics:
        """The management API: counts and rates as of the last statistics refresh (none before the first)."""
        return self._stats

    def amqp_reading(self) -> QueueMetrics:
        """Passive declare: the live ready count and consumer count, nothing else."""
        return QueueMetrics(
            queue=self.config.queue,
            at=float(self.now),
            source="simulated",
            ready=len(self.queue),
            consumers=self.ready_replicas,
        )

    def engine_reading(self) -> QueueMetrics:
        """The engine's count of the topic's external tasks, live (a REST call or a query, no statistics interval):
        those still to fetch (`upstream`) and those fetched, not completed (in the queue, or on a consumer)."""
        return QueueMetrics(
            queue=self.config.queue,
            at=float(self.now),
            source="simulated",
            ready=len(self.queue),
            unacked=self.unacked,
            consumers=self.ready_replicas,
            upstream=len(self.upstream),
        )

    # --- what autoscalers do ------------------------------------------------------------------------------------

    def set_replicas(self, n: int) -> None:
        if n > len(self.replicas):
            self.replicas += [
                Replica(ready_at=self.now + self.config.ready_delay_s) for _ in range(n - len(self.replicas))
            ]
        elif n < len(self.replicas):
            # like a ReplicaSet: replicas not ready yet go first, then the youngest
            order = sorted(range(len(self.replicas)), key=lambda i: (self.replicas[i].ready_at <= self.now, -i))
            victims = set(order[: len(self.replicas) - n])
            for i in victims:
                self._requeue(self.replicas[i])
            self.replicas = [r for i, r in enumerate(self.replicas) if i not in victims]

    def _requeue(self, replica: Replica) -> None:
        held = sorted([*replica.active, *replica.waiting], key=lambda m: m.arrival, reverse=True)
        self.requeued += len(held)
        self.interrupted += len(replica.active)
        for m in held:
            m.finish = 0.0
        self.queue.extendleft(held)  # back at the head, oldest first

    # --- time ---------------------------------------------------------------------------------------------------

    def _arrive_until(self, end: float) -> None:
        while self._rows and self._rows[0].second < end:
            row = self._rows.popleft()
            times = np.sort(row.second + row.duration_s * self._rng.random(row.arrivals))
            services = self._rng.exponential(row.service_time_s, row.arrivals)
            self._pending.extend(Message(float(t), float(s), float(t)) for t, s in zip(times, services, strict=True))
        while self._pending and self._pending[0].arrival < end:
            message = self._pending.popleft()
            self.arrived += 1
            if self.config.upstream:
                self.upstream.append(message)
            else:
                self.queue.append(message)
                self.published += 1

    def _produce(self, cursor: float) -> None:
        """The upstream producer fills what is free, oldest first, as of `cursor`. A message that arrives later
        in the tick enters the queue when it arrives: the bridge long-polls, so it fetches work as soon as there is
        both work and room."""
        free = self.free_capacity if self.upstream else 0
        while free > 0 and self.upstream:
            message = self.upstream.popleft()
            message.entered = max(message.arrival, cursor)
            self.queue.append(message)
            self.published += 1
            free -= 1

    def _deliver(self, replica: Replica, cursor: float) -> None:
        if self.config.upstream:
            self._produce(cursor)  # room freed by an ack is filled from upstream at once
        while replica.held < self.config.prefetch and self.queue and self.queue[0].entered <= cursor:
            replica.waiting.append(self.queue.popleft())
            self.delivered += 1

    def _consume(self, replica: Replica, start: float, end: float) -> None:
        cursor = start
        while True:
            self._deliver(replica, cursor)
            while len(replica.active) < self.config.concurrency and replica.waiting:
                m = replica.waiting.popleft()
                m.finish = cursor + m.service
                replica.active.append(m)
            next_finish = min((m.finish for m in replica.active), default=math.inf)
            can_take = self.queue and replica.held < self.config.prefetch
            next_arrival = self.queue[0].entered if can_take else math.inf
            cursor = max(cursor, min(next_finish, next_arrival))
            if cursor > end:
                return
            for m in [m for m in replica.active if m.finish <= cursor]:
                replica.active.remove(m)
                self.acked += 1
                self.waits.append(m.finish - m.service - m.arrival)

    def step(self) -> None:
        """Advance from `now` to `now + 1`."""
        start, end = float(self.now), float(self.now + 1)
        self._arrive_until(end)
        if self.config.upstream:
            self._produce(start)
        consumers = [r for r in self.replicas if r.ready_at <= start]
        if consumers:
            self._rotation = (self._rotation + 1) % len(consumers)
            for replica in consumers[self._rotation :] + consumers[: self._rotation]:
                self._consume(replica, start, end)
            for replica in consumers:  # the broker fills free prefetch slots as messages arrive
                self._deliver(replica, end)
        self.now += 1
        if self.now % self.config.stats_interval_s == 0:
            self._refresh_stats()

    def _refresh_stats(self) -> None:
        interval = self.config.stats_interval_s
        published, delivered, acked = self._interval_counts
        self._interval_counts = (self.published, self.delivered, self.acked)
        if any(start <= self.now < end for start, end in self.config.stats_gaps):
            self._stats = QueueMetrics(queue=self.config.queue, at=float(self.now), source="simulated")
            return
        self._stats = QueueMetrics(
            queue=self.config.queue,
            at=float(self.now),
            source="simulated",
            ready=len(self.queue),
            unacked=self.unacked,
            consumers=self.ready_replicas,
            publish_rate=(self.published - published) / interval,
            deliver_rate=(self.delivered - delivered) / interval,
            ack_rate=(self.acked - acked) / interval,
        )

    @property
    def finished_publishing(self) -> bool:
        return not self._rows and not self._pending and not self.upstream

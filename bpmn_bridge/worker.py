"""TaskWorker: consumes `tasks.<topic>`, runs the topic's handler, publishes the outcome on `tasks.results`.

The command is acknowledged only after the outcome is confirmed by the broker: a crash in between redelivers the
command, the handler runs again, and its effects (case commands keyed by the task's activity) are not repeated.
The prefetch bounds how many tasks one worker holds; the bridge reads the queues' consumers to know how many it
may fetch.
"""

from __future__ import annotations

from typing import Any

import structlog
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage, AbstractRobustConnection

from actors.delivery.steps import CrashPoint
from actors.ray_options import ActorHandle, actor_class
from bpmn_bridge import topics
from bpmn_bridge.handlers import outcome
from infra import amqp, faults
from infra.consumer import CONSUMER_STALE_S, ConsumerGroup
from infra.db import create_pool
from infra.logging import configure_logging
from infra.settings import Settings
from messages.documents import RENDER_QUEUE, RENDER_TOPIC
from messages.tasks import OutcomeKind, TaskCommand, Topic

log = structlog.get_logger("worker")
TASK_WORKER = "kep-task-worker"
DELIVERY_WORKER = "kep-delivery"
RESULTS_QUEUE = "tasks.results"
RESULTS_KEY = "results"


def task_queue(topic: str) -> str:
    """The queue a topic's tasks wait in: `tasks.<topic>`, but documents.render for the renderers (which also take
    employees' render requests there, so the autoscaler sizes the pool by one queue)."""
    return RENDER_QUEUE if topic == RENDER_TOPIC else f"tasks.{topic}"


class TaskWorker:
    async def __init__(  # type: ignore[misc]  # Ray awaits async __init__
        self,
        settings: Settings,
        only: list[str] | None = None,
        prefetch: int = 8,
        extra: dict[str, Topic] | None = None,
        group: topics.Group = "cases",
    ) -> None:
        """Serves every topic of the `group` of `bpmn_bridge.topics` (or `only` these), plus `extra` ones
        (benchmarks)."""
        configure_logging(settings.log_format, settings.log_level)
        self.settings = settings
        self.handled: dict[str, int] = {}
        # a delivery step holds a connection through its remote call (the effect's lock): one per task in hand
        connections = 4 if group == "cases" else prefetch + 2
        self.pool = await create_pool(settings.database_url.get_secret_value(), 1, connections)
        self._bound = topics.bind(self.pool, settings, group)
        self.topics = self._bound.topics | (extra or {})
        self._amqp: AbstractRobustConnection = await amqp.connect(settings.amqp_url.get_secret_value(), "kep-worker")
        publishing = await self._amqp.channel(publisher_confirms=True)
        self._exchange: AbstractExchange = await amqp.tasks_exchange(publishing)
        await amqp.declare_queue(publishing, RESULTS_QUEUE, [amqp.Binding(amqp.TASKS_EXCHANGE, RESULTS_KEY)])
        consuming = await self._amqp.channel()
        self._consumers = ConsumerGroup(stale_after_s=CONSUMER_STALE_S)
        for name in only or list(self.topics):
            queue = await amqp.declare_queue(consuming, task_queue(name), [amqp.Binding(amqp.TASKS_EXCHANGE, name)])
            await self._consumers.consume(queue, self._handle, prefetch=prefetch)

    async def _handle(self, message: AbstractIncomingMessage) -> None:
        task = TaskCommand.model_validate_json(message.body)
        topic = self.topics[task.topic]
        result: dict[str, Any] | BaseException
        try:
            result = await topic.handler(task)
        except Exception as exc:  # every failure becomes an outcome the engine hears about
            result = exc
        out = outcome(task, topic.options, result)
        body = out.model_dump_json().encode()
        # raises (and so requeues the command) if the broker does not confirm
        await amqp.publish(self._exchange, amqp.raw_message(body, f"{task.task_id}:{out.kind}", "kep.task.outcome"),
                           routing_key=RESULTS_KEY)  # fmt: skip
        self.handled[out.kind] = self.handled.get(out.kind, 0) + 1
        if out.kind is OutcomeKind.FAILURE:  # what an operator (or a failed test) needs to see before any incident
            log.warning("task_failed", topic=task.topic, task_id=task.task_id, retries=out.retries,
                        error=out.error_message)  # fmt: skip
        else:
            log.debug("task_handled", topic=task.topic, task_id=task.task_id, outcome=out.kind.value)

    async def stats(self) -> dict[str, int]:
        return dict(self.handled) | {"busy": self._consumers.busy}

    async def drain(self, timeout_s: float = 60.0) -> int:
        """Before this worker is removed: take no more tasks, finish those in hand; returns how many were left."""
        left = await self._consumers.drain(timeout_s)
        await self.close()
        return left

    async def arm_crash(self, point: CrashPoint) -> None:
        """Fault injection (tests, the chaos run): a delivery worker dies the next time a remote call answered and
        before the answer was recorded (the engine never hears of it)."""
        faults.injection_allowed(self.settings)
        if self._bound.delivery is None:
            raise ValueError("only a delivery worker makes remote calls")
        self._bound.delivery.crash = point

    async def close(self) -> None:
        await self._amqp.close()
        for close in self._bound.closers:
            await close()
        await self.pool.close()


# SPREAD: a pool's members over the Ray nodes there are
TaskWorkerActor = actor_class(TaskWorker, max_restarts=-1, max_task_retries=0, scheduling_strategy="SPREAD")


def pool_member(name: str, settings: Settings, prefetch: int | None = None) -> ActorHandle:
    """One worker of the pool `TASK_WORKER-<i>`, which the autoscaler sizes. Detached: a worker outlives the
    actor that started it (the autoscaler), and is removed only by being drained and killed."""
    handle: ActorHandle = TaskWorkerActor.options(name=name, lifetime="detached", get_if_exists=True).remote(
        settings, None, prefetch or settings.worker_prefetch
    )
    return handle


def delivery_member(name: str, settings: Settings, prefetch: int | None = None) -> ActorHandle:
    """One delivery worker of the pool `DELIVERY_WORKER-<i>` (the delivery steps: adapters to ΚΕΔ, the mailbox,
    ΚΣΗΔΕ), sized by the autoscaler like the task workers. I/O only: no CPU reserved."""
    handle: ActorHandle = TaskWorkerActor.options(name=name, lifetime="detached", get_if_exists=True).remote(
        settings, None, prefetch or settings.worker_prefetch, None, "delivery"
    )
    return handle

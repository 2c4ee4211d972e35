"""QueueSink: a pool member that consumes one queue and spends a fixed time on each message.

For trying a policy on the local system before deploying it, and for the autoscaler's end-to-end test: flood the
queue, watch the pool grow, the queue drain and the pool shrink back.
"""

from __future__ import annotations

import asyncio

from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from actors.ray_options import ActorHandle, actor_class
from infra import amqp
from infra.consumer import ConsumerGroup
from infra.logging import configure_logging
from infra.settings import Settings


class QueueSink:
    async def __init__(  # type: ignore[misc]  # Ray awaits async __init__
        self, settings: Settings, queue: str, service_time_s: float, prefetch: int
    ) -> None:
        configure_logging(settings.log_format, settings.log_level)
        self.service_time_s = service_time_s
        self.handled = 0
        self._amqp: AbstractRobustConnection = await amqp.connect(settings.amqp_url.get_secret_value(), "kep-sink")
        channel = await self._amqp.channel()
        self._consumers = ConsumerGroup()
        await self._consumers.consume(await amqp.declare_queue(channel, queue, []), self._handle, prefetch=prefetch)

    async def _handle(self, message: AbstractIncomingMessage) -> None:
        await asyncio.sleep(self.service_time_s)
        self.handled += 1

    async def stats(self) -> dict[str, int]:
        return {"handled": self.handled, "busy": self._consumers.busy}

    async def drain(self, timeout_s: float = 60.0) -> int:
        left = await self._consumers.drain(timeout_s)
        await self._amqp.close()
        return left


QueueSinkActor = actor_class(QueueSink, max_restarts=0)


def pool_member(
    name: str, settings: Settings, queue: str, service_time_s: float = 0.1, prefetch: int = 1
) -> ActorHandle:
    handle: ActorHandle = QueueSinkActor.options(name=name, lifetime="detached", get_if_exists=True).remote(
        settings, queue, service_time_s, prefetch
    )
    return handle

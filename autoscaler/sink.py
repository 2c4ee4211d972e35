"""QueueSink: a pool member that consumes one queue and spends a fixed time on each message.

For trying a policy on the local system before deploying it, and for the autoscaler's end-to-end tests and the
closed-loop bench: flood the queue, watch the pool grow, the queue drain and the pool shrink back. A message may carry
its own service time (header `x-service-s`, a trace's row) and its arrival time (`x-arrived-at`, Unix seconds); with a
`report_queue`, each message's wait (arrival to start) is published there for the bench to read.
"""

from __future__ import annotations

import asyncio
import json
import time

from aio_pika import Message
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection

from actors.ray_options import ActorHandle, actor_class
from infra import amqp
from infra.consumer import ConsumerGroup
from infra.logging import configure_logging
from infra.settings import Settings

SERVICE_HEADER = "x-service-s"
ARRIVED_HEADER = "x-arrived-at"


class QueueSink:
    async def __init__(  # type: ignore[misc]  # Ray awaits async __init__
        self, settings: Settings, queue: str, service_time_s: float, prefetch: int, report_queue: str | None = None
    ) -> None:
        configure_logging(settings.log_format, settings.log_level)
        self.service_time_s = service_time_s
        self.handled = 0
        self._amqp: AbstractRobustConnection = await amqp.connect(settings.amqp_url.get_secret_value(), "kep-sink")
        channel = await self._amqp.channel()
        self._report: tuple[AbstractChannel, str] | None = None
        if report_queue is not None:
            self._report = (await self._amqp.channel(), report_queue)
        self._consumers = ConsumerGroup()
        await self._consumers.consume(await amqp.declare_queue(channel, queue, []), self._handle, prefetch=prefetch)

    async def _handle(self, message: AbstractIncomingMessage) -> None:
        headers = message.headers or {}
        started = time.time()
        await asyncio.sleep(float(str(headers.get(SERVICE_HEADER, self.service_time_s))))
        self.handled += 1
        if self._report is not None and ARRIVED_HEADER in headers:
            channel, queue = self._report
            wait = started - float(str(headers[ARRIVED_HEADER]))
            body = json.dumps({"wait_s": wait, "message_id": message.message_id}).encode()
            await channel.default_exchange.publish(Message(body), routing_key=queue)

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

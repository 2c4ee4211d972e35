"""LiveRelay: case events from RabbitMQ into each office's Redis stream, where the SSE endpoint reads them.

Its own durable queue (`live.cases`, bound to `case.#`) means a relay restart loses nothing: unacknowledged
events are redelivered, and `infra.live.append` writes each event id once.
"""

from __future__ import annotations

import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from actors.ray_options import actor_class
from infra import amqp, live
from infra.consumer import consume
from infra.logging import configure_logging
from infra.redis import redis_for
from infra.settings import Settings
from messages.events import CASE_EVENTS, case_event

log = structlog.get_logger("live")
LIVE_QUEUE = "live.cases"
LIVE_RELAY = "kep-live-relay"


class LiveRelay:
    async def __init__(self, settings: Settings) -> None:  # type: ignore[misc]  # Ray awaits async __init__
        configure_logging(settings.log_format, settings.log_level)
        self.settings = settings
        self.redis = redis_for(settings)
        self.relayed = 0
        self._amqp: AbstractRobustConnection = await amqp.connect(settings.amqp_url.get_secret_value(), LIVE_RELAY)
        channel = await self._amqp.channel()
        await amqp.declare_exchanges(channel, settings.events_exchange)
        queue = await amqp.declare_queue(
            channel, LIVE_QUEUE, [amqp.Binding(settings.events_exchange, CASE_EVENTS)], delivery_limit=20
        )
        await consume(queue, self._relay, prefetch=50)

    async def _relay(self, message: AbstractIncomingMessage) -> None:
        event = case_event(message.type or "", message.body)
        body = message.body.decode()
        if await live.append(self.redis, event.data.office_id, str(event.id), body):
            self.relayed += 1
        origin = getattr(event.data, "from_office_id", None)
        # a hand-over is news to the office it left too (the one copy of it that office gets: it sees the case no
        # more); its own once-key, so the new office's copy does not stop it
        if origin is not None and await live.append(self.redis, origin, f"{event.id}:{origin}", body):
            self.relayed += 1

    async def stats(self) -> dict[str, int]:
        return {"relayed": self.relayed}


LiveRelayActor = actor_class(LiveRelay, max_restarts=-1, max_task_retries=0)

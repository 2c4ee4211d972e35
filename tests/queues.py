"""A queue of a test's own on the session's RabbitMQ vhost: fill it, read its counters from the management API,
empty it."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import aio_pika
import httpx

from autoscaler.metrics import vhost_of
from infra.settings import Settings


async def flood(settings: Settings, queue: str, n: int, headers: dict[str, Any] | None = None) -> None:
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        for i in range(n):
            message = aio_pika.Message(
                b"{}", message_id=str(i), headers=headers, delivery_mode=aio_pika.DeliveryMode.PERSISTENT
            )
            await channel.default_exchange.publish(message, routing_key=queue)


async def declare(settings: Settings, queue: str) -> None:
    """A plain queue, not durable: it goes with the session's vhost."""
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    async with connection:
        await (await connection.channel()).declare_queue(queue, auto_delete=False, durable=False)


async def queue_stats(settings: Settings, queue: str) -> dict[str, Any]:
    assert settings.rabbit_mgmt_url is not None
    url = httpx.URL(settings.rabbit_mgmt_url.get_secret_value())
    auth = (url.username, url.password)
    async with httpx.AsyncClient(base_url=str(url.copy_with(username=None, password=None)), auth=auth) as http:
        vhost = quote(vhost_of(settings.amqp_url.get_secret_value()), safe="")
        stats: dict[str, Any] = (await http.get(f"/api/queues/{vhost}/{quote(queue, safe='')}")).json()
    return stats


async def purge(settings: Settings, queue: str) -> None:
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    async with connection:
        await (await (await connection.channel()).get_queue(queue, ensure=False)).purge()


async def queued(settings: Settings, queue: str) -> int:
    """Messages in the queue now, from the broker itself (the management API's figures are samples)."""
    return (await _declared(settings, queue)).message_count or 0


async def consumers(settings: Settings, queue: str) -> int:
    """Consumers of the queue now, from the broker itself."""
    return (await _declared(settings, queue)).consumer_count or 0


async def _declared(settings: Settings, queue: str) -> Any:
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    async with connection:
        return (await (await connection.channel()).declare_queue(queue, passive=True)).declaration_result

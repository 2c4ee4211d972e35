"""RabbitMQ plumbing (aio-pika): robust connections, the exchanges, queues with dead-letter queues, publishing.

Every queue is a durable quorum queue with a delivery limit: a message that keeps failing is dead-lettered to
`<queue>.dlq` instead of looping forever. Publishing waits for the broker's confirm.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractQueue,
    AbstractRobustConnection,
    DeliveryMode,
    ExchangeType,
)

from infra import metrics

EVENTS_EXCHANGE = "kep.events"
TASKS_EXCHANGE = "kep.tasks"
DEAD_LETTER_EXCHANGE = "kep.dlx"


@dataclass(frozen=True)
class Binding:
    exchange: str
    routing_key: str


async def connect(url: str, name: str = "kep") -> AbstractRobustConnection:
    connection = await aio_pika.connect_robust(url, client_properties={"connection_name": name}, timeout=10)
    connection.reconnect_callbacks.add(lambda *_: metrics.reconnected(name))
    return connection


@dataclass(frozen=True)
class Exchanges:
    events: AbstractExchange  # topic: every domain event, by routing key
    tasks: AbstractExchange  # direct: external-task commands and outcomes
    dead_letter: AbstractExchange  # direct: each queue's rejects to `<queue>.dlq`


async def declare_exchanges(channel: AbstractChannel, events: str = EVENTS_EXCHANGE) -> Exchanges:
    """The exchanges, the events one under its configured name (`KEP_EVENTS_EXCHANGE`); idempotent."""
    return Exchanges(
        events=await channel.declare_exchange(events, ExchangeType.TOPIC, durable=True),
        tasks=await tasks_exchange(channel),
        dead_letter=await channel.declare_exchange(DEAD_LETTER_EXCHANGE, ExchangeType.DIRECT, durable=True),
    )


async def tasks_exchange(channel: AbstractChannel) -> AbstractExchange:
    return await channel.declare_exchange(TASKS_EXCHANGE, ExchangeType.DIRECT, durable=True)


async def declare_queue(
    channel: AbstractChannel,
    name: str,
    bindings: Iterable[Binding] = (),
    delivery_limit: int = 5,
) -> AbstractQueue:
    """A durable quorum queue, its dead-letter queue, and its bindings (their exchanges must exist); idempotent."""
    await channel.declare_exchange(DEAD_LETTER_EXCHANGE, ExchangeType.DIRECT, durable=True)
    dlq = await channel.declare_queue(f"{name}.dlq", durable=True, arguments={"x-queue-type": "quorum"})
    await dlq.bind(DEAD_LETTER_EXCHANGE, routing_key=name)
    queue = await channel.declare_queue(
        name,
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-delivery-limit": delivery_limit,
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
            "x-dead-letter-routing-key": name,
        },
    )
    for b in bindings:
        await queue.bind(b.exchange, routing_key=b.routing_key)
    return queue


@dataclass(frozen=True)
class QueueCounts:
    ready: int  # messages waiting for a consumer
    consumers: int


async def queue_counts(channel: AbstractChannel, queue: str, timeout_s: float) -> QueueCounts:
    """The queue's ready messages and consumers now, asked of the broker. Not `declare_queue(passive=True)`: on a
    robust channel that answers from the queue object of an earlier declaration, whose counts are those of its
    (re)declaration (after a broker restart, the moment before the workers came back: no consumers, for good)."""
    underlay = await channel.get_underlay_channel()
    declared = await underlay.queue_declare(queue, passive=True, timeout=timeout_s)
    return QueueCounts(declared.message_count or 0, declared.consumer_count or 0)


async def consumer_count(channel: AbstractChannel, queue: str, timeout_s: float) -> int:
    return (await queue_counts(channel, queue, timeout_s)).consumers


def raw_message(body: bytes, message_id: str, type_: str, correlation_id: str | None = None) -> aio_pika.Message:
    """A persistent message whose `message_id` is the envelope id, so consumers can deduplicate."""
    return aio_pika.Message(
        body,
        message_id=message_id,
        type=type_,
        correlation_id=correlation_id,
        content_type="application/cloudevents+json",
        delivery_mode=DeliveryMode.PERSISTENT,
    )


async def publish(exchange: AbstractExchange, message: aio_pika.Message, routing_key: str) -> None:
    """Returns once the broker has confirmed the message (the channel is opened with publisher confirms)."""
    await exchange.publish(message, routing_key=routing_key, timeout=10)

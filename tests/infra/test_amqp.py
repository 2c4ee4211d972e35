"""Queues on the real broker: durable, dead-lettered after the delivery limit, confirmed publishing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from aio_pika.abc import AbstractChannel

from infra import amqp
from infra.settings import Settings
from tests.helpers import eventually


@pytest.fixture
async def channel(settings: Settings) -> AsyncIterator[AbstractChannel]:
    conn = await amqp.connect(settings.amqp_url.get_secret_value(), "test-amqp")
    ch = await conn.channel(publisher_confirms=True)
    yield ch
    await conn.close()


async def test_a_message_rejected_past_the_delivery_limit_goes_to_the_dead_letter_queue(
    channel: AbstractChannel,
) -> None:
    name = f"test.tasks.{uuid.uuid4().hex}"
    queue = await amqp.declare_queue(channel, name, [amqp.Binding(amqp.TASKS_EXCHANGE, name)], delivery_limit=2)
    exchanges = await amqp.declare_exchanges(channel)
    await amqp.publish(exchanges[amqp.TASKS_EXCHANGE], amqp.raw_message(b"{}", "m-1", "gr.kep.test.v1"), name)

    # the consumer keeps failing and asks for redelivery
    for _ in range(3):
        msg = await queue.get(timeout=10, fail=False)
        if msg is None:
            break
        assert msg.message_id == "m-1"
        await msg.nack(requeue=True)

    dlq = await channel.get_queue(f"{name}.dlq")

    async def dead_lettered() -> bool:
        msg = await dlq.get(fail=False)
        if msg is None:
            return False
        await msg.ack()
        return msg.message_id == "m-1"

    await eventually(dead_lettered)
    assert await queue.get(fail=False) is None
    await queue.delete(if_unused=False, if_empty=False)
    await dlq.delete(if_unused=False, if_empty=False)


async def test_declaring_twice_is_harmless(channel: AbstractChannel) -> None:
    name = f"test.idem.{uuid.uuid4().hex}"
    q1 = await amqp.declare_queue(channel, name)
    q2 = await amqp.declare_queue(channel, name)
    assert q1.name == q2.name == name
    await q1.delete(if_unused=False, if_empty=False)
    await (await channel.get_queue(f"{name}.dlq")).delete(if_unused=False, if_empty=False)

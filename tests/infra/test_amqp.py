"""Queues on the real broker: durable, dead-lettered after the delivery limit, confirmed publishing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from infra import amqp
from infra.consumer import ConsumerGroup, consume
from infra.settings import Settings
from messages.errors import InvalidInput, RetryableError
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
    exchanges = await amqp.declare_exchanges(channel)
    queue = await amqp.declare_queue(channel, name, [amqp.Binding(amqp.TASKS_EXCHANGE, name)], delivery_limit=2)
    await amqp.publish(exchanges.tasks, amqp.raw_message(b"{}", "m-1", "gr.kep.test.v1"), name)

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


async def test_the_error_type_decides_ack_retry_or_dead_letter(channel: AbstractChannel) -> None:
    # given a queue and a handler that fails differently per message
    name = f"test.consume.{uuid.uuid4().hex}"
    exchange = (await amqp.declare_exchanges(channel)).tasks
    queue = await amqp.declare_queue(channel, name, [amqp.Binding(amqp.TASKS_EXCHANGE, name)], delivery_limit=3)
    attempts: dict[str, int] = {}

    async def handler(msg: AbstractIncomingMessage) -> None:
        mid = str(msg.message_id)
        attempts[mid] = attempts.get(mid, 0) + 1
        if mid == "flaky" and attempts[mid] < 2:
            raise RetryableError("engine busy")
        if mid == "broken":
            raise InvalidInput("payload makes no sense")

    for mid in ("ok", "flaky", "broken"):
        await amqp.publish(exchange, amqp.raw_message(b"{}", mid, "gr.kep.test.v1"), name)
    # when
    tag = await consume(queue, handler, prefetch=2)
    dlq = await channel.get_queue(f"{name}.dlq")

    async def settled() -> bool:
        return attempts.get("ok") == 1 and attempts.get("flaky") == 2 and attempts.get("broken") == 1

    await eventually(settled)
    dead = None

    async def dead_lettered() -> bool:
        nonlocal dead
        dead = await dlq.get(fail=False)
        return dead is not None

    await eventually(dead_lettered)
    # then: acked once, retried once then acked, dead-lettered without a retry
    assert dead is not None
    assert dead.message_id == "broken"
    await dead.ack()
    await queue.cancel(tag)
    assert await queue.get(fail=False) is None
    assert await dlq.get(fail=False) is None
    await queue.delete(if_unused=False, if_empty=False)
    await dlq.delete(if_unused=False, if_empty=False)


async def test_the_events_exchange_is_the_configured_one(channel: AbstractChannel) -> None:
    name = f"kep.events.{uuid.uuid4().hex[:8]}"  # KEP_EVENTS_EXCHANGE of another installation on the same broker
    exchanges = await amqp.declare_exchanges(channel, name)
    assert exchanges.events.name == name
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(name, routing_key="case.#")
    await amqp.publish(exchanges.events, amqp.raw_message(b"{}", "e-1", "gr.kep.case.opened.v1"), "case.opened.X.1")
    message = await queue.get(timeout=5)
    assert message.message_id == "e-1"
    await channel.exchange_delete(name)


async def test_the_consumer_count_is_the_brokers_now_not_that_of_the_first_declaration(
    channel: AbstractChannel, settings: Settings
) -> None:
    # the bridge declares the work queues before their workers consume, then reads the consumers again and again
    name = f"test.count.{uuid.uuid4().hex}"
    queue = await amqp.declare_queue(channel, name)
    assert await amqp.consumer_count(channel, name, timeout_s=5) == 0
    worker = await amqp.connect(settings.amqp_url.get_secret_value(), "test-amqp-worker")
    try:
        their_channel = await worker.channel()
        await (await their_channel.get_queue(name)).consume(lambda _: None)  # type: ignore[arg-type,return-value]
        assert await amqp.consumer_count(channel, name, timeout_s=5) == 1
    finally:
        await worker.close()

    async def gone() -> bool:  # the broker lets go of a closed connection's consumers on its own time
        return await amqp.consumer_count(channel, name, timeout_s=5) == 0

    await eventually(gone)
    await queue.delete(if_unused=False, if_empty=False)
    await (await channel.get_queue(f"{name}.dlq")).delete(if_unused=False, if_empty=False)


async def test_a_consumer_whose_subscription_was_dropped_consumes_again(
    channel: AbstractChannel, settings: Settings
) -> None:
    name = f"test.watch.{uuid.uuid4().hex}"
    connection = await amqp.connect(settings.amqp_url.get_secret_value(), "test-watched")
    got: list[str] = []

    async def handler(message: AbstractIncomingMessage) -> None:
        got.append(message.message_id or "")

    try:
        consuming = await connection.channel()
        queue = await amqp.declare_queue(consuming, name)
        group = ConsumerGroup(stale_after_s=0.5)
        tag = await group.consume(queue, handler, prefetch=4)
        # the subscription goes away behind the group's back (as when the broker cancels it)
        await queue.cancel(tag)
        exchange = (await amqp.declare_exchanges(channel)).tasks
        await (await channel.get_queue(name)).bind(amqp.TASKS_EXCHANGE, routing_key=name)
        for i in range(3):
            await amqp.publish(exchange, amqp.raw_message(b"{}", f"m-{i}", "gr.kep.test.v1"), name)

        async def all_handled() -> bool:
            return sorted(got) == ["m-0", "m-1", "m-2"]

        await eventually(all_handled, within=20)
        assert group.restarts == 1
        await group.drain(timeout_s=5)
        await queue.delete(if_unused=False, if_empty=False)
        await (await channel.get_queue(f"{name}.dlq")).delete(if_unused=False, if_empty=False)
    finally:
        await connection.close()

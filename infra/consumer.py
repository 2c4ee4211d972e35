"""Consuming with manual acks: the error's type decides between ack, redelivery and the dead-letter queue.

- the handler returns → ack;
- it raises a retryable KepError (or loses a dependency: OSError, timeout) → nack with requeue after a pause that
  grows with the message's delivery count, so that a dependency down for a minute does not burn through the quorum
  queue's delivery limit in a second; the limit dead-letters a message that never succeeds;
- it raises anything else → reject without requeue: straight to `<queue>.dlq`, where an operator can look.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue

from infra import faults
from infra.retry import Backoff

log = structlog.get_logger("consumer")

Handler = Callable[[AbstractIncomingMessage], Awaitable[None]]


REQUEUE = Backoff(initial_s=0.25, max_s=30.0, jitter_s=0.25, attempts=None)


def requeue_pause(message: AbstractIncomingMessage) -> float:
    """Seconds to hold a failed message before requeueing it: by the backoff, for the deliveries it had."""
    deliveries = int(str((message.headers or {}).get("x-delivery-count", 0) or 0))  # quorum queues count them
    return REQUEUE.pause_s(deliveries + 1)


async def deliver(message: AbstractIncomingMessage, handler: Handler) -> None:
    """Run the handler for one message and settle the message according to the outcome."""
    try:
        await handler(message)
    except Exception as exc:  # every failure must settle the message, whatever it is
        retry = faults.is_transient(exc)
        log.warning(
            "message_failed",
            message_id=message.message_id,
            type=message.type,
            retry=retry,
            error=f"{type(exc).__name__}: {exc}",
        )
        if retry:
            await asyncio.sleep(requeue_pause(message))
            await message.nack(requeue=True)
        else:
            await message.reject(requeue=False)
        return
    await message.ack()


async def consume(queue: AbstractQueue, handler: Handler, prefetch: int = 10) -> str:
    """Start consuming; returns the consumer tag. `prefetch` bounds the unacknowledged messages in flight."""
    return await _start(queue, lambda m: deliver(m, handler), prefetch)


async def _start(queue: AbstractQueue, on_message: Handler, prefetch: int) -> str:
    await queue.channel.set_qos(prefetch_count=prefetch)
    tag: str = await queue.consume(on_message, no_ack=False)
    return tag


class ConsumerGroup:
    """The consumers of one actor, so that it can stop taking work and finish what it holds before it goes.

    An autoscaler that removes a busy consumer makes the broker redeliver its unacknowledged messages to another
    one, which repeats the work (KEDA's users know it: kedacore/keda#356, #6719); a drained consumer has none left.
    """

    def __init__(self) -> None:
        self._consumers: list[tuple[AbstractQueue, str]] = []
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def busy(self) -> int:
        """Messages being handled now (received and not yet settled)."""
        return self._busy

    async def consume(self, queue: AbstractQueue, handler: Handler, prefetch: int = 10) -> str:
        tag = await _start(queue, lambda m: self._deliver(m, handler), prefetch)
        self._consumers.append((queue, tag))
        return tag

    async def _deliver(self, message: AbstractIncomingMessage, handler: Handler) -> None:
        self._busy += 1
        self._idle.clear()
        try:
            await deliver(message, handler)
        finally:
            self._busy -= 1
            if not self._busy:
                self._idle.set()

    async def drain(self, timeout_s: float) -> int:
        """Stop receiving, then wait up to `timeout_s` for the messages in hand to settle; returns how many did
        not (the broker redelivers those when the connection closes)."""
        for queue, tag in self._consumers:
            with contextlib.suppress(Exception):  # a channel already closed has no consumer to cancel
                await queue.cancel(tag)
        self._consumers.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        return self._busy

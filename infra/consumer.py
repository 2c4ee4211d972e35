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
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue

from infra import amqp, faults, metrics
from infra.retry import Backoff

log = structlog.get_logger("consumer")

Handler = Callable[[AbstractIncomingMessage], Awaitable[None]]


# a consumer that received nothing for this long while messages wait for it, or whose queue the broker shows with no
# consumer, is re-subscribed (ConsumerGroup)
CONSUMER_STALE_S = 60.0
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


@dataclass
class _Consuming:
    queue: AbstractQueue
    handler: Handler
    prefetch: int
    tag: str = ""
    busy: int = 0
    last: float = field(default_factory=time.monotonic)  # when a message last arrived (or consuming began)


class ConsumerGroup:
    """The consumers of one actor, so that it can stop taking work and finish what it holds before it goes, and a
    watchdog for each: a consumer that received nothing for `stale_after_s` while messages wait in its queue and it
    has room for them, or whose queue the broker shows with no consumer at all, has lost its subscription (the broker
    cancelled it, a recovery half happened); it consumes anew, with a `loop_restarted` line and metric.

    An autoscaler that removes a busy consumer makes the broker redeliver its unacknowledged messages to another
    one, which repeats the work (KEDA's users know it: kedacore/keda#356, #6719); a drained consumer has none left.
    """

    def __init__(self, stale_after_s: float | None = None) -> None:
        self._consumers: list[_Consuming] = []
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._stale_after_s = stale_after_s
        self._watchdog: asyncio.Task[None] | None = None
        self.restarts = 0

    @property
    def busy(self) -> int:
        """Messages being handled now (received and not yet settled)."""
        return self._busy

    async def consume(self, queue: AbstractQueue, handler: Handler, prefetch: int = 10) -> str:
        consuming = _Consuming(queue, handler, prefetch)
        consuming.tag = await _start(queue, self._receiver(consuming), prefetch)
        self._consumers.append(consuming)
        if self._stale_after_s is not None and self._watchdog is None:
            self._watchdog = asyncio.get_running_loop().create_task(self._watch(self._stale_after_s))
        return consuming.tag

    def _receiver(self, consuming: _Consuming) -> Handler:
        return lambda message: self._deliver(consuming, message)

    async def _deliver(self, consuming: _Consuming, message: AbstractIncomingMessage) -> None:
        consuming.last = time.monotonic()
        consuming.busy += 1
        self._busy += 1
        self._idle.clear()
        try:
            await deliver(message, consuming.handler)
        finally:
            consuming.busy -= 1
            self._busy -= 1
            if not self._busy:
                self._idle.set()

    async def _watch(self, stale_after_s: float) -> None:
        while True:
            await asyncio.sleep(stale_after_s / 3)
            for consuming in list(self._consumers):
                with contextlib.suppress(Exception):  # the broker away: its reconnection is aio-pika's to do
                    await self._check(consuming, stale_after_s)

    async def _check(self, consuming: _Consuming, stale_after_s: float) -> None:
        if time.monotonic() - consuming.last < stale_after_s or consuming.busy >= consuming.prefetch:
            return
        queue = consuming.queue
        counts = await amqp.queue_counts(queue.channel, queue.name, timeout_s=stale_after_s / 3)
        consuming.last = time.monotonic()
        if not counts.ready and counts.consumers:
            return  # quiet: nothing waits for it
        with contextlib.suppress(Exception):  # a subscription the broker dropped has nothing to cancel
            await queue.cancel(consuming.tag)
        consuming.tag = await _start(queue, self._receiver(consuming), consuming.prefetch)
        self.restarts += 1
        metrics.loop_restarted(f"consumer:{queue.name}")
        why = f"{counts.ready} messages wait, none came" if counts.consumers else "the broker knows no consumer of it"
        log.error("loop_restarted", loop=f"consumer:{queue.name}", why=why)

    async def drain(self, timeout_s: float) -> int:
        """Stop receiving, then wait up to `timeout_s` for the messages in hand to settle; returns how many did
        not (the broker redelivers those when the connection closes)."""
        if self._watchdog is not None:
            self._watchdog.cancel()
        for consuming in self._consumers:
            with contextlib.suppress(Exception):  # a channel already closed has no consumer to cancel
                await consuming.queue.cancel(consuming.tag)
        self._consumers.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        return self._busy

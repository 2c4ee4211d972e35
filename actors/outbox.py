"""OutboxRelay: publishes committed outbox rows to RabbitMQ, then stamps them.

Delivery is at least once: a crash after the broker confirmed but before the stamp republishes the same event
(same message id), which consumers deduplicate; a crash before publishing loses nothing, because the row waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

import asyncpg
import structlog
from aio_pika.abc import AbstractExchange, AbstractRobustConnection

from actors.ray_options import actor_class
from infra import amqp, faults, outbox
from infra.db import create_pool
from infra.logging import configure_logging
from infra.loops import LoopStatus, SupervisedLoop
from infra.retry import Backoff, forever
from infra.settings import Settings

log = structlog.get_logger("outbox")
OUTBOX_RELAY = "kep-outbox-relay"
GATHER_S = 0.005
RELAY_BACKOFF = Backoff(initial_s=0.2, max_s=10.0)
STALE_MIN_S = 30.0  # a relay with no pass for this long while events wait is stuck: its watchdog restarts it


class OutboxRelay:
    async def __init__(self, settings: Settings) -> None:  # type: ignore[misc]  # Ray awaits async __init__
        configure_logging(settings.log_format, settings.log_level)
        self.settings = settings
        self.published = 0
        self._paused = False
        self._crash_after_publish = False
        self._wake = asyncio.Event()
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None
        self._listener: asyncpg.Connection[asyncpg.Record] | None = None
        self._amqp: AbstractRobustConnection | None = None
        self._exchange: AbstractExchange | None = None
        self._relay = SupervisedLoop(
            "outbox_relay",
            self._run,
            stale_after_s=max(STALE_MIN_S, 3 * settings.outbox_poll_seconds),
            work_waits=self._unsent,
        )
        self._relay.start()

    async def _connect(self) -> None:
        if self._pool is None:
            self._pool = await create_pool(self.settings.database_url.get_secret_value(), 1, 2)
        if self._listener is None or self._listener.is_closed():
            self._listener = await asyncpg.connect(self.settings.database_url.get_secret_value())
            await self._listener.add_listener("kep_outbox", lambda *_: self._wake.set())
        if self._amqp is None:
            self._amqp = await amqp.connect(self.settings.amqp_url.get_secret_value(), "kep-outbox-relay")
            channel = await self._amqp.channel(publisher_confirms=True)
            self._exchange = (await amqp.declare_exchanges(channel, self.settings.events_exchange)).events

    async def _close(self) -> None:
        for closer in (self._listener, self._amqp, self._pool):
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer.close()
        self._listener = self._amqp = self._pool = self._exchange = None

    async def _run(self) -> None:
        # Whatever fails, the relay must come back: a loop that died quietly would hold every event back.
        await forever("outbox_relay", self._connected_loop, RELAY_BACKOFF, on_failure=self._relay.trying)

    async def _connected_loop(self) -> None:
        try:
            await self._connect()
            await self._loop()
        except BaseException:
            await self._close()
            raise

    async def _loop(self) -> None:
        while True:
            sent = 0 if self._paused else await self.relay_once()
            self._relay.beat()
            if sent >= self.settings.outbox_batch:
                continue
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.outbox_poll_seconds)
                # the commits of one moment (an employee's click, the process's step, a colleague's) in one batch:
                # one transaction and one round of confirms instead of one each, for a few milliseconds of delay
                await asyncio.sleep(GATHER_S)

    async def relay_once(self) -> int:
        """Publish one batch; returns how many events left."""
        assert self._pool is not None
        assert self._exchange is not None
        exchange = self._exchange
        async with self._pool.acquire() as conn, conn.transaction():
            events = await outbox.claim(conn, self.settings.outbox_batch)
            if not events:
                return 0
            await asyncio.gather(
                *(
                    amqp.publish(
                        exchange,
                        amqp.raw_message(
                            outbox.json_bytes(ev.envelope), str(ev.id), ev.type, correlation_id=ev.correlation_id
                        ),
                        ev.routing_key,
                    )
                    for ev in events
                )
            )
            if self._crash_after_publish:
                log.warning("outbox_relay_crash_injected", events=len(events))
                os._exit(1)
            await outbox.mark_published(conn, [ev.id for ev in events])
        self.published += len(events)
        log.debug("outbox_published", count=len(events))
        return len(events)

    async def _unsent(self) -> bool:
        """Whether events wait that should have gone out by now."""
        assert self._pool is not None, "no database pool: the loop never connected"
        return bool(await self._pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM outbox WHERE published_at IS NULL AND created_at < now() - interval '5 s')"
        ))  # fmt: skip

    async def loops(self) -> list[LoopStatus]:
        return [self._relay.status()]

    async def pause(self) -> None:
        """Stop publishing (operations, and tests that need a commit without a publish)."""
        self._paused = True

    async def resume(self) -> None:
        self._paused = False
        self._wake.set()

    async def arm_crash_after_publish(self) -> None:
        """Fault injection: die after the broker confirms the next batch and before it is stamped."""
        faults.injection_allowed(self.settings)
        self._crash_after_publish = True

    async def stats(self) -> dict[str, Any]:
        return {"published": self.published, "paused": self._paused, "pid": os.getpid()}


OutboxRelayActor = actor_class(OutboxRelay, max_restarts=-1, max_task_retries=0, max_concurrency=8)

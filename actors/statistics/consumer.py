"""The `kep-statistics` actor: case events from `kep.events` into the statistics tables.

Its own quorum queue (`statistics.cases`, bound to `case.#`, with `statistics.cases.dlq`): each event is applied in
one transaction with its id (a redelivery applies once), then acknowledged. Events are applied one at a time, in
the order they arrive, so a case's opening comes before its changes. Hourly it forgets the ids applied more than
`store.APPLIED_KEPT` ago (stat_applied would otherwise grow by every event ever; why that is safe: store.py). Every
`CASES_GAUGE_EVERY_S` it publishes the open cases by status and office (`kep_cases_open`) from its backlog table.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from actors.ray_options import actor_class
from actors.statistics import store
from infra import amqp, metrics
from infra.consumer import CONSUMER_STALE_S, ConsumerGroup
from infra.db import create_pool
from infra.logging import configure_logging
from infra.settings import Settings
from messages.events import CASE_EVENTS, case_event

log = structlog.get_logger("statistics")
STATISTICS_QUEUE = "statistics.cases"
STATISTICS_ACTOR = "kep-statistics"
PRUNE_EVERY_S = 3600.0
CASES_GAUGE_EVERY_S = 15.0  # one grouped read of a small table; the agent exports every ~10 s anyway


class Statistics:
    async def __init__(self, settings: Settings) -> None:  # type: ignore[misc]  # Ray awaits async __init__
        configure_logging(settings.log_format, settings.log_level)
        self.applied = 0
        self.repeated = 0
        self.pruned = 0
        self._one_at_a_time = asyncio.Lock()
        self.pool: asyncpg.Pool[asyncpg.Record] = await create_pool(settings.database_url.get_secret_value(), 1, 2)
        self._amqp: AbstractRobustConnection = await amqp.connect(
            settings.amqp_url.get_secret_value(), STATISTICS_ACTOR
        )
        channel = await self._amqp.channel()
        await amqp.declare_exchanges(channel, settings.events_exchange)
        queue = await amqp.declare_queue(
            channel, STATISTICS_QUEUE, [amqp.Binding(settings.events_exchange, CASE_EVENTS)], delivery_limit=20
        )
        # re-subscribed by its watchdog when a broker restart took the subscription away (as every consumer here)
        self._consumers = ConsumerGroup(stale_after_s=CONSUMER_STALE_S)
        await self._consumers.consume(queue, self._apply, prefetch=50)
        self._pruner = asyncio.create_task(self._prune_forever())  # held: a task nobody holds may be collected
        self._gauged: set[tuple[str, str]] = set()
        self._gauge = asyncio.create_task(self._gauge_forever())

    async def _prune_forever(self) -> None:
        while True:
            await asyncio.sleep(PRUNE_EVERY_S)
            try:
                await self.prune()
            except Exception as exc:  # the database restarting: tried again next hour, nothing waits on it
                log.warning("statistics_prune_failed", error=repr(exc))

    async def _gauge_forever(self) -> None:
        while True:
            try:
                await self.publish_open_cases()
            except Exception as exc:  # the database restarting: the gauge keeps its last values until the next read
                log.warning("statistics_gauge_failed", error=repr(exc))
            await asyncio.sleep(CASES_GAUGE_EVERY_S)

    async def publish_open_cases(self) -> int:
        """Open cases by status and office into `kep_cases_open`; a pair that emptied since is set to 0 (a gauge
        not set again would keep its last value). Returns the pairs published."""
        async with self.pool.acquire() as conn:
            rows = await store.backlog(conn=conn, office_id=None)
        counts = {(row.status, str(row.office_id)): row.cases for row in rows}
        metrics.cases_open({pair: 0 for pair in self._gauged - counts.keys()} | counts)
        self._gauged = set(counts)
        return len(counts)

    async def prune(self) -> int:
        """Forget the applied ids older than store.APPLIED_KEPT now (also what the hourly task does)."""
        async with self.pool.acquire() as conn:
            pruned = await store.prune_applied(conn=conn, before=datetime.now(UTC) - store.APPLIED_KEPT)
        self.pruned += pruned
        if pruned:
            log.info("statistics_applied_pruned", pruned=pruned)
        return pruned

    async def _apply(self, message: AbstractIncomingMessage) -> None:
        event = case_event(message.type or "", message.body)
        async with self._one_at_a_time, self.pool.acquire() as conn:
            first = await store.apply(conn=conn, event_id=event.id, ev=store.seen(event.data, event.time))
        if first:
            self.applied += 1
        else:
            self.repeated += 1

    async def stats(self) -> dict[str, int]:
        return {"applied": self.applied, "repeated": self.repeated, "pruned": self.pruned}

    async def rebuild(self) -> int:
        async with self._one_at_a_time, self.pool.acquire() as conn:
            return await store.rebuild(conn=conn)


StatisticsActor = actor_class(Statistics, max_restarts=-1, max_task_retries=0)

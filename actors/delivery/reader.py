"""DeliveryReader (`kep-delivery-reader`): what comes back after a delivery, brought onto the cases.

Four readers, each a pass that is safe to run any number of times (what it records is keyed by what it read):
the mailbox postings' statuses (`tracking.track_statuses`), the citizens' mailbox replies (`tracking.read_replies`),
our ΚΣΗΔΕ inbox (`incoming.read_inbox`) and ΚΣΗΔΕ's org chart (`orgchart.sync`). Each runs at its own interval
(`KEP_MAILBOX_STATUS_INTERVAL_S`, `KEP_MAILBOX_REPLIES_INTERVAL_S`, `KEP_KSHDE_INBOX_INTERVAL_S`,
`KEP_KSHDE_ORG_CHART_INTERVAL_S`; 0: only on request) in a supervised loop that comes back after any failure by
the one retry policy, and all of them run when an administrator asks
(POST /api/admin/delivery/read). Passes of one reader take turns; a reader whose system is not configured is
skipped.

The actor also sweeps the object store of objects no row names (`actors/cases/orphans.py`), every
`KEP_DOCUMENTS_SWEEP_INTERVAL_S` in a supervised loop of its own: it is the one long-lived actor that holds both a
pool and the store, and starts once per cluster.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg
import structlog
from pydantic import BaseModel

from actors.cases import orphans
from actors.cases.shards import CaseShards
from actors.delivery import incoming, orgchart, tracking
from actors.delivery.configured import Live
from actors.ray_options import actor_class
from infra.db import create_pool
from infra.logging import configure_logging
from infra.loops import LoopStatus, SupervisedLoop
from infra.retry import Backoff, forever
from infra.settings import Settings
from infra.storage import create_store
from messages.delivery import ReadReport

log = structlog.get_logger("delivery.reader")
READER_ACTOR = "kep-delivery-reader"
STATUSES, REPLIES, INBOX, CHART = "mailbox_statuses", "mailbox_replies", "kshde_inbox", "kshde_org_chart"
# a remote system that is away is asked again soon, then less and less often
READ_BACKOFF = Backoff(initial_s=2.0, max_s=300.0)
STALE_MIN_S = 900.0  # a pass of a large inbox may take minutes: only a loop quiet for longer than this is stuck
SWEEP = "documents_sweep"


class DeliveryReader:
    async def __init__(self, settings: Settings) -> None:  # type: ignore[misc]  # Ray awaits async __init__
        configure_logging(settings.log_format, settings.log_level)
        self.settings = settings
        self.pool: asyncpg.Pool[asyncpg.Record] = await create_pool(settings.database_url.get_secret_value(), 1, 4)
        # as configured now: the settings, overlaid by what administrators saved (rebuilt when that changes)
        self.adapters = Live(settings, self.pool)
        cases = CaseShards(settings.case_shards, settings.ray_namespace)
        self.inbox = incoming.InboxDeps(self.pool, cases, create_store(settings))
        self._turns = {name: asyncio.Lock() for name in (STATUSES, REPLIES, INBOX, CHART)}
        self._loops: dict[str, SupervisedLoop] = {}
        intervals = {STATUSES: settings.mailbox_status_interval_s, REPLIES: settings.mailbox_replies_interval_s,
                     INBOX: settings.kshde_inbox_interval_s, CHART: settings.kshde_org_chart_interval_s}  # fmt: skip
        for name, interval in intervals.items():
            if interval > 0:
                self._loops[name] = SupervisedLoop(
                    f"delivery_{name}", self._every(name, interval), stale_after_s=max(STALE_MIN_S, 3 * interval)
                )
                self._loops[name].start()
        if settings.documents_sweep_interval_s > 0:
            every = settings.documents_sweep_interval_s
            self._loops[SWEEP] = SupervisedLoop(
                SWEEP, self._sweep_every(every), stale_after_s=max(STALE_MIN_S, 3 * every)
            )
            self._loops[SWEEP].start()

    def _sweep_every(self, interval: float) -> Callable[[], Coroutine[Any, Any, None]]:
        async def run() -> None:
            loop = self._loops[SWEEP]

            async def one_pass() -> None:
                await self.sweep_documents()
                loop.beat()
                await asyncio.sleep(interval)

            await forever(SWEEP, one_pass, READ_BACKOFF, on_failure=loop.trying)

        return run

    async def sweep_documents(self, dry_run: bool = False) -> orphans.SweepReport:
        """Objects past the grace that no row names, deleted (a dry run: only counted and logged)."""
        before = orphans.cut_off(self.settings.documents_sweep_grace_s)
        return await orphans.sweep(pool=self.pool, store=self.inbox.store, before=before, dry_run=dry_run)

    def _every(self, name: str, interval: float) -> Callable[[], Coroutine[Any, Any, None]]:
        async def run() -> None:
            loop = self._loops[name]

            async def one_pass() -> None:
                await self._pass(name)
                loop.beat()
                await asyncio.sleep(interval)

            await forever(f"delivery_{name}", one_pass, READ_BACKOFF, on_failure=loop.trying)

        return run

    async def _pass(self, name: str) -> BaseModel | None:
        """One pass of a reader; None when its system is not configured here."""
        async with self._turns[name]:
            adapters = await self.adapters.get()
            mailbox, kshde = adapters.mailbox, adapters.kshde
            if name == STATUSES and mailbox is not None:
                return await tracking.track_statuses(self.pool, self.inbox.cases, mailbox)
            if name == REPLIES and mailbox is not None:
                return await tracking.read_replies(self.pool, self.inbox.cases, mailbox)
            if name == INBOX and kshde is not None:
                return await incoming.read_inbox(self.inbox, kshde)
            if name == CHART and kshde is not None:
                return await orgchart.sync(self.pool.acquire, kshde)
            return None

    async def read(self) -> ReadReport:
        """A pass of each reader now (one running already is waited for, then a fresh one runs)."""
        names = (STATUSES, REPLIES, INBOX, CHART)
        outcomes = await asyncio.gather(*(self._pass(name) for name in names), return_exceptions=True)
        found: dict[str, Any] = {"skipped": [], "failed": {}}
        for name, outcome in zip(names, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                if isinstance(outcome, asyncio.CancelledError):
                    raise outcome
                log.error("delivery_read_failed", reader=name, error=f"{type(outcome).__name__}: {outcome}")
                found["failed"][name] = f"{type(outcome).__name__}: {outcome}"
            elif outcome is None:
                found["skipped"].append(name)
            else:
                found[{STATUSES: "statuses", REPLIES: "replies", INBOX: "inbox", CHART: "org_chart"}[name]] = outcome
        report = ReadReport(**found)
        log.info("delivery_read", **report.model_dump(mode="json"))
        return report

    async def loops(self) -> list[LoopStatus]:
        return [loop.status() for loop in self._loops.values()]


DeliveryReaderActor = actor_class(DeliveryReader, max_restarts=-1, max_task_retries=0, max_concurrency=8)

"""Reconciler: proves that every case agrees with its process instance, repairs what is safe, reports the rest.

A pass reads the engine's side (running instances of the processes procedures use, who waits for which message,
the deadline timers, incidents) and the cases, compares them (`actors.cases.reconcile`), carries out the safe
repairs the way the bridge would have (`process_sync`), and keeps a report: for the API, as log lines and as
metrics. It runs every `KEP_RECONCILE_INTERVAL_S` and when an administrator asks.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import asyncpg
import structlog

from actors.cases import idempotency
from actors.cases import reconcile as rc
from actors.cases.lockstep import Message, MoveOffice, StartProcess
from actors.ray_options import actor_class
from bpmn_bridge.engine import EngineClient
from bpmn_bridge.errors import TaskGone
from bpmn_bridge.models import Job, MessageSubscription, RunningInstance
from bpmn_bridge.process_sync import carry_out
from infra import metrics
from infra.db import create_pool
from infra.logging import configure_logging
from infra.settings import Settings
from messages.errors import KepError

log = structlog.get_logger("reconciler")
RECONCILER_ACTOR = "kep-reconciler"
PAGE = 500
KEEP_DRIFTS = 200  # in the report the API shows; the counts cover them all
T = TypeVar("T")


class _Metrics:
    """Ray's Prometheus metrics (exported by each node's metrics agent)."""

    def __init__(self) -> None:
        from ray.util.metrics import Counter as RayCounter
        from ray.util.metrics import Gauge

        self.drift = Gauge("kep_reconciler_drift", "Cases and instances that disagree, by kind", tag_keys=("kind",))
        self.repaired = RayCounter("kep_reconciler_repairs", "Drift repaired by the reconciler", tag_keys=("kind",))
        self.passes = RayCounter("kep_reconciler_passes", "Reconciliation passes done")

    def record(self, counts: dict[str, int], repaired: dict[str, int]) -> None:
        for drift_kind in rc.DriftKind:
            self.drift.set(counts.get(drift_kind.value, 0), tags={"kind": drift_kind.value})
        for kind, n in repaired.items():
            self.repaired.inc(n, tags={"kind": kind})
        self.passes.inc()


async def _pages(fetch: Callable[[int], Awaitable[list[T]]]) -> AsyncIterator[T]:
    first = 0
    while True:
        page = await fetch(first)
        for item in page:
            yield item
        if len(page) < PAGE:
            return
        first += len(page)


class Reconciler:
    async def __init__(self, settings: Settings) -> None:  # type: ignore[misc]  # Ray awaits async __init__
        configure_logging(settings.log_format, settings.log_level)
        self.settings = settings
        self.engine = EngineClient(settings.engine_url, tenant_id=settings.engine_tenant)
        self.pool: asyncpg.Pool[asyncpg.Record] = await create_pool(settings.database_url.get_secret_value(), 1, 2)
        self.last: dict[str, Any] | None = None
        self._running = asyncio.Lock()
        self._metrics = _Metrics()
        self._task = asyncio.get_running_loop().create_task(self._every()) if settings.reconcile_interval_s else None

    async def _every(self) -> None:
        while True:
            await asyncio.sleep(self.settings.reconcile_interval_s)
            try:
                await self.run()
            except Exception:  # the next pass tries again; a loop that died would prove nothing any more
                log.exception("reconcile_failed")

    async def report(self) -> dict[str, Any] | None:
        return self.last

    async def run(self, repair: bool = True) -> dict[str, Any]:
        """One pass; a second request while one runs waits for it and gets a fresh pass."""
        async with self._running:
            return await self._pass(repair)

    async def _pass(self, repair: bool) -> dict[str, Any]:
        started = time.monotonic()
        now = datetime.now(UTC)
        settled = now - timedelta(seconds=self.settings.reconcile_grace_s)
        drifts: list[rc.Drift] = []
        async with self.pool.acquire() as conn:
            keys = await rc.process_keys(conn=conn)
        running: set[str] = set()
        instances = 0
        waits = await self._waits()
        for key in keys:
            views = await self._instances(key, *waits)
            instances += len(views)
            running.update(v.business_key for v in views if v.business_key)
            drifts += await self._compare_running(views, settled)
            drifts += await self._duplicates(views)
        cases = 0
        async for case in self._open_cases(settled):
            cases += 1
            if str(case.id) in running:
                continue
            history = await self.engine.historic_process_instances(business_key=str(case.id), finished=True)
            ended = [rc.EndedInstance(h.id, h.end_activity_id, h.end_time) for h in history]
            if (drift := rc.compare_missing(case, ended)) is not None:
                drifts.append(drift)
        done = await self._repair(drifts) if repair else [False] * len(drifts)
        repaired = Counter(d.kind.value for d, ok in zip(drifts, done, strict=True) if ok)
        async with self.pool.acquire() as conn:  # housekeeping of the case package's own, once a pass
            purged = await idempotency.purge(conn=conn)
        counts = Counter(d.kind.value for d in drifts)
        self._metrics.record(dict(counts), dict(repaired))
        self.last = {
            "at": now.isoformat(),
            "seconds": round(time.monotonic() - started, 3),
            "open_cases": cases,
            "running_instances": instances,
            "drift": dict(counts),
            "repaired": dict(repaired),
            "unrepaired": sum(counts.values()) - sum(repaired.values()),
            "drifts": [_public(d, ok) for d, ok in list(zip(drifts, done, strict=True))[:KEEP_DRIFTS]],
            "idempotency_keys_purged": purged,
        }
        log.info("reconcile_done", **{k: v for k, v in self.last.items() if k != "drifts"})
        return self.last

    async def _waits(self) -> tuple[set[str], set[str], dict[str, list[str]]]:
        """Instances waiting for documents, watchers held for a resumption, incidents by instance."""
        awaiting = {s.process_instance_id or "" for s in await self._subscriptions(Message.DOCUMENTS_SUPPLIED)}
        resumption = await self._subscriptions(Message.CASE_RESUMED)
        held = {s.process_instance_id or "" for s in resumption if s.activity_id == rc.DEADLINE_HELD}
        incidents: dict[str, list[str]] = {}
        open_incidents = await self.engine.incidents()
        metrics.incidents_open(len(open_incidents))
        for incident in open_incidents:
            if incident.process_instance_id:
                incidents.setdefault(incident.process_instance_id, []).append(incident.incident_message or "")
        return awaiting, held, incidents

    async def _subscriptions(self, message: Message) -> list[MessageSubscription]:
        async def page(first: int) -> list[MessageSubscription]:
            return await self.engine.message_subscriptions(message.value, first_result=first, max_results=PAGE)

        return [s async for s in _pages(page)]

    async def _instances(
        self, key: str, awaiting: set[str], held: set[str], incidents: dict[str, list[str]]
    ) -> list[rc.InstanceView]:
        async def timer_page(first: int) -> list[Job]:
            return await self.engine.jobs(
                process_definition_key=key, activity_id=rc.DEADLINE_TIMER, first_result=first, max_results=PAGE
            )

        async def instance_page(first: int) -> list[RunningInstance]:
            return await self.engine.process_instances(process_definition_key=key, first_result=first, max_results=PAGE)

        timers = {j.process_instance_id: j.due_date async for j in _pages(timer_page)}
        running = [i async for i in _pages(instance_page)]
        offices = await self.engine.variable_of("office", [i.id for i in running])
        return [
            rc.InstanceView(
                i.id,
                i.business_key,
                awaits_documents=i.id in awaiting,
                deadline_held=i.id in held,
                timer_due=timers.get(i.id),
                incidents=tuple(incidents.get(i.id, ())),
                office=str(offices[i.id]) if i.id in offices else None,
            )
            for i in running
        ]

    async def _task_groups(self, view: rc.InstanceView) -> rc.InstanceView:
        """The view with the groups its open user tasks are offered to."""
        groups: set[str] = set()
        for task in await self.engine.user_tasks(process_instance_id=view.id, include_assigned=True):
            with contextlib.suppress(TaskGone):  # done meanwhile
                groups |= await self.engine.candidate_groups(task.id)
        return dataclasses.replace(view, task_groups=frozenset(groups))

    async def _compare_running(self, views: list[rc.InstanceView], settled: datetime) -> list[rc.Drift]:
        drifts: list[rc.Drift] = []
        for start in range(0, len(views), PAGE):
            page = views[start : start + PAGE]
            ids = [case_id for v in page if (case_id := _uuid(v.business_key)) is not None]
            async with self.pool.acquire() as conn:
                cases = await rc.cases_by_id(conn=conn, ids=ids)
                moved = await rc.transferred(conn=conn, ids=ids)
            for view in page:
                case = cases.get(_uuid(view.business_key) or uuid.UUID(int=0))
                if case is not None and case.updated_at >= settled:
                    continue  # its latest change may still be on its way to the engine
                if case is not None and case.id in moved:
                    view = await self._task_groups(view)
                drifts += rc.compare_running(case, view)
        return drifts

    async def _duplicates(self, views: list[rc.InstanceView]) -> list[rc.Drift]:
        per_case = Counter(view.business_key for view in views if view.business_key)
        drifts: list[rc.Drift] = []
        for business_key in (k for k, n in per_case.items() if n > 1):
            history = await self.engine.historic_process_instances(business_key=business_key, finished=False)
            drifts += rc.compare_duplicates(business_key, [(h.start_time, h.id) for h in history])
        return drifts

    async def _open_cases(self, settled: datetime) -> AsyncIterator[rc.CaseRow]:
        after: uuid.UUID | None = None
        while True:
            async with self.pool.acquire() as conn:
                page = await rc.open_cases(conn=conn, settled_before=settled, after=after, limit=PAGE)
            for case in page:
                yield case
            if len(page) < PAGE:
                return
            after = page[-1].id

    async def _repair(self, drifts: list[rc.Drift]) -> list[bool]:
        done = []
        for drift in drifts:
            log.warning(
                "reconcile_drift",
                kind=drift.kind.value,
                case_id=drift.case_id,
                instance_id=drift.instance_id,
                detail=drift.detail,
                repairable=drift.repair is not None,
            )
            ok = False
            if drift.repair is not None:
                try:
                    await carry_out(self.engine, drift.repair)
                    ok = True
                except KepError as exc:
                    log.warning("reconcile_repair_failed", kind=drift.kind.value, case_id=drift.case_id, error=str(exc))
            done.append(ok)
        return done

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.engine.aclose()
        await self.pool.close()


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value or "")
    except ValueError:
        return None


def _public(drift: rc.Drift, repaired: bool) -> dict[str, Any]:
    return {
        "kind": drift.kind.value,
        "case_id": drift.case_id,
        "instance_id": drift.instance_id,
        "detail": drift.detail,
        "repair": _describe(drift.repair),
        "repaired": repaired,
    }


def _describe(intent: rc.Repair | None) -> str | None:
    if intent is None:
        return None
    if isinstance(intent, rc.DeleteInstance):
        return f"delete {intent.process_instance_id}"
    if isinstance(intent, StartProcess):
        return f"start {intent.process_key}"
    if isinstance(intent, MoveOffice):
        return f"move to office {intent.office}"
    return f"message {intent.message.value}"


ReconcilerActor = actor_class(Reconciler, max_restarts=-1, max_task_retries=0, max_concurrency=4)

"""CamundaBridge: the engine's external tasks out to the workers over RabbitMQ, and their outcomes back.

- One long poll for every topic that has workers, asking for no more tasks than the workers can hold
  (consumers × prefetch, read from RabbitMQ, minus what is in flight): the queue never fills with locked tasks
  nobody can run. The HTTP read timeout is the long poll plus a margin (a silent server never hangs us).
- Locks of tasks in flight are extended at a third of their duration; a task whose lock we lost is dropped.
- Outcomes come back on `tasks.results` and are reported as complete, failure (retries counted down by the worker
  and backoff in `retryTimeout`) or BPMN error. A task already gone (404) or taken by another worker (400) is
  settled; engine trouble requeues the outcome for later.
- At start, tasks still locked under our worker id (a previous life of this bridge) are unlocked, so they are
  fetched again at once rather than after their locks expire. Effects are keyed, so running one again is harmless.
- Case events reach the case's process as `actors.cases.lockstep` says (start, messages); the bridge reads no
  case: the event carries what the engine needs. Events of one case are applied one at a time, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import structlog
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractIncomingMessage, AbstractRobustConnection

from actors.cases import lockstep
from actors.ray_options import actor_class
from bpmn_bridge import topics
from bpmn_bridge.engine import EngineClient, ExternalTask, TopicRequest
from bpmn_bridge.errors import LockExpired, TaskGone, TaskLockedByOther
from bpmn_bridge.process_sync import carry_out
from bpmn_bridge.worker import RESULTS_KEY, RESULTS_QUEUE, task_queue
from infra import amqp, faults, metrics
from infra.consumer import CONSUMER_STALE_S, ConsumerGroup
from infra.logging import configure_logging
from infra.loops import LoopStatus, SupervisedLoop
from infra.retry import Backoff, forever, really_cancelled, retrying
from infra.settings import Settings
from messages.errors import KepError
from messages.events import case_event
from messages.tasks import OutcomeKind, TaskCommand, TaskOutcome, TopicOptions

log = structlog.get_logger("bridge")
BRIDGE_ACTOR = "kep-camunda-bridge"
CASE_EVENTS_QUEUE = "bpmn.case-events"
# the routing keys of the case changes that do something to a process (lockstep.CASE_TO_PROCESS)
CASE_EVENT_BINDINGS = tuple(
    f"case.{change}.#"
    for change, effects in lockstep.CASE_TO_PROCESS.items()
    if set(effects) - {lockstep.Effect.HOLD_DEADLINE}
)
# queues of earlier versions that nobody consumes any more (case events and topics before the lock-step table)
RETIRED_QUEUES = (
    "bpmn.case-opened",
    "bpmn.case-documents",
    *(f"tasks.{t}" for t in ("case-assign", "case-documents", "case-escalate", "case-suspend", "case-resume")),
)
PROCESSES_DIR = Path(__file__).with_name("processes")
# how long a reading of the workers' capacity (consumers per queue) is trusted before it is read again
CAPACITY_TTL_S = 5.0
# how long a message waiting on the engine is held (retrying) before it goes back to its queue: an engine restart
# must not use up the queue's delivery limit and dead-letter the event
ENGINE_PATIENCE = Backoff(initial_s=0.5, max_s=15.0, attempts=None, within_s=300.0)
# engine or broker away: the poll loop backs off with jitter, never for minutes
POLL_BACKOFF = Backoff(initial_s=0.5, max_s=30.0, jitter_s=1.0)
# aio-pika's robust channels can wait for a reconnection without a timeout; the poll loop must not stall for good
BROKER_TIMEOUT_S = 15.0
# a poll pass takes at most the long poll, the capacity read and the dispatch: past that with tasks waiting, the
# loop is stuck (or sees no workers) and its watchdog restarts it
POLL_STALE_MARGIN_S = 2 * BROKER_TIMEOUT_S + 30.0


CrashPoint = Literal["after_fetch", "after_start"]


@dataclass
class InFlight:
    topic: str
    lock_ms: int
    locked_until: float


def command_for(task: ExternalTask) -> TaskCommand:
    """A locked task as its topic's workers receive it."""
    return TaskCommand(
        task_id=task.id,
        topic=task.topic_name,
        process_instance_id=task.process_instance_id,
        activity_id=task.activity_id,
        activity_instance_id=task.activity_instance_id,
        business_key=task.business_key,
        variables=task.variables,
        retries=task.retries,
    )


class CamundaBridge:
    async def __init__(self, settings: Settings, extra: dict[str, TopicOptions] | None = None) -> None:  # type: ignore[misc]  # Ray awaits async __init__
        """Fetches for the topics of `bpmn_bridge.topics`, plus `extra` ones (benchmarks)."""
        configure_logging(settings.log_format, settings.log_level)
        self.settings = settings
        self.topics = topics.OPTIONS | (extra or {})
        self.worker_id = settings.bridge_worker_id
        self.engine = EngineClient(settings.engine_url, tenant_id=settings.engine_tenant)
        self.in_flight: dict[str, InFlight] = {}
        self.counts: dict[str, int] = {
            "fetched": 0, "reported": 0, "abandoned": 0, "case_events": 0, "started": 0, "correlated": 0,
            "moved": 0,
        }  # fmt: skip
        self._room = asyncio.Event()
        self._crash: CrashPoint | None = None
        self._capacity_read: tuple[float, list[str], int] | None = None  # (when, topics with workers, their slots)
        self._case_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._amqp: AbstractRobustConnection = await amqp.connect(settings.amqp_url.get_secret_value(), BRIDGE_ACTOR)
        self._publishing: AbstractChannel = await self._amqp.channel(publisher_confirms=True)
        exchanges = await amqp.declare_exchanges(self._publishing, settings.events_exchange)
        self._exchange: AbstractExchange = exchanges.tasks
        for name in self.topics:  # declared here too, so capacity can be read before any worker ran
            await amqp.declare_queue(self._publishing, task_queue(name), [amqp.Binding(amqp.TASKS_EXCHANGE, name)])
        consuming = await self._amqp.channel()
        results = await amqp.declare_queue(
            consuming,
            RESULTS_QUEUE,
            [amqp.Binding(amqp.TASKS_EXCHANGE, RESULTS_KEY)],
        )
        self._consumers = ConsumerGroup(stale_after_s=CONSUMER_STALE_S)
        await self._consumers.consume(results, self._on_outcome, prefetch=64)
        events = await amqp.declare_queue(
            consuming, CASE_EVENTS_QUEUE, [amqp.Binding(settings.events_exchange, key) for key in CASE_EVENT_BINDINGS]
        )
        await self._consumers.consume(events, self._on_case_event, prefetch=16)
        await self._retire_old_queues()
        await self._deploy()
        await self._release_own_locks()
        # a pass of work is a fetch, or a look that found the workers full; no beat while no workers are seen
        self._poller = SupervisedLoop(
            "bridge_poll",
            self._poll,
            stale_after_s=settings.bridge_long_poll_ms / 1000 + POLL_STALE_MARGIN_S,
            work_waits=self._tasks_wait,
        )
        self._poller.start()
        self._tasks = [asyncio.get_running_loop().create_task(self._heartbeat())]

    async def _retire_old_queues(self) -> None:
        channel = await self._amqp.channel()
        for name in RETIRED_QUEUES:
            for queue in (name, f"{name}.dlq"):
                await channel.queue_delete(queue)
        await channel.close()

    async def _deploy(self) -> None:
        """Our processes, deployed when they changed (the engine filters duplicates by content)."""
        files = {p.name: p.read_bytes() for p in sorted(PROCESSES_DIR.glob("*.bpmn"))}
        with contextlib.suppress(KepError):  # the engine also deploys them at its own start
            deployment = await self.engine.deploy("kep", files)
            log.info("bridge_deployed", deployment=deployment.id, new_definitions=deployment.new_definitions)

    async def _release_own_locks(self) -> None:
        with contextlib.suppress(KepError):  # an engine that is down now is retried by the poll loop
            for task in await self.engine.locked_by(self.worker_id):
                with contextlib.suppress(TaskGone):
                    await self.engine.unlock(task.id)
                log.info("bridge_unlocked_leftover", task_id=task.id, topic=task.topic_name)

    async def _capacity(self) -> tuple[list[str], int]:
        """Topics that have workers, and how many more tasks those workers can hold. The consumers are read from
        the broker at most every few seconds: a poll pass that finds nothing changed costs no broker round trip."""
        now = time.monotonic()
        if self._capacity_read is None or now - self._capacity_read[0] > CAPACITY_TTL_S:
            with_workers, slots = [], 0
            for name in self.topics:
                # aiormq's own timeout as well as the loop's wait_for: with the outer bound alone the bridge stopped
                # fetching after a broker restart in a full test run (the cancellation did not get through)
                consumers = await amqp.consumer_count(self._publishing, task_queue(name), BROKER_TIMEOUT_S)
                metrics.consumers(task_queue(name), consumers)
                if consumers:
                    with_workers.append(name)
                    slots += consumers * self.settings.worker_prefetch
            self._capacity_read = (now, with_workers, slots)
        _, with_workers, slots = self._capacity_read
        free = min(slots, self.settings.bridge_max_in_flight) - len(self.in_flight)
        return with_workers, max(free, 0)

    async def _poll(self) -> None:
        await forever("bridge_poll", self._poll_once, POLL_BACKOFF, on_failure=self._poller.trying)

    async def _poll_once(self) -> None:
        try:
            # asyncio's own bound on the whole read, for what aiormq's per-call timeout does not cover
            with_workers, free = await asyncio.wait_for(self._capacity(), BROKER_TIMEOUT_S)
            if with_workers and free == 0:
                self._poller.beat()  # the workers hold all they can: nothing to do but wait for room
            if not with_workers or free == 0:
                self._room.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._room.wait(), timeout=1.0)
                return
            requests = [
                TopicRequest(name, self.topics[name].lock_ms, variables=self.topics[name].variables)
                for name in with_workers
            ]
            tasks = await self.engine.fetch_and_lock(
                self.worker_id,
                requests,
                max_tasks=free,
                async_response_timeout_ms=self.settings.bridge_long_poll_ms,
            )
            if tasks:
                self._crash_at("after_fetch")
            for task in tasks:
                await asyncio.wait_for(self._dispatch(task), BROKER_TIMEOUT_S)
            self._poller.beat()
        except BaseException:
            self._capacity_read = None  # the workers may have gone with the broker: read them again
            raise

    async def _tasks_wait(self) -> bool:
        """Whether the engine holds tasks of our topics that nobody has fetched."""
        counts = await asyncio.gather(*(self.engine.fetchable(name) for name in self.topics))
        return any(counts)

    async def _dispatch(self, task: ExternalTask) -> None:
        options = self.topics[task.topic_name]
        command = command_for(task)
        self.in_flight[task.id] = InFlight(task.topic_name, options.lock_ms, time.monotonic() + options.lock_ms / 1000)
        try:
            message = amqp.raw_message(command.model_dump_json().encode(), task.id, "kep.task.command")
            await amqp.publish(self._exchange, message, routing_key=task.topic_name)
        except Exception:
            # not handed over: give the task back at once rather than after its lock runs out
            self.in_flight.pop(task.id, None)
            with contextlib.suppress(Exception):
                await self.engine.unlock(task.id)
            raise
        self.counts["fetched"] += 1
        metrics.external_task(task.topic_name, "fetched")

    async def _heartbeat(self) -> None:
        while True:
            period = min((f.lock_ms for f in self.in_flight.values()), default=30_000) / 3000
            await asyncio.sleep(period)
            for task_id, flight in list(self.in_flight.items()):
                try:
                    await self.engine.extend_lock(task_id, self.worker_id, flight.lock_ms)
                    flight.locked_until = time.monotonic() + flight.lock_ms / 1000
                except (LockExpired, TaskGone, TaskLockedByOther) as exc:
                    # the engine took it back: whatever the worker reports for it will be refused, not repeated
                    self.in_flight.pop(task_id, None)
                    self.counts["abandoned"] += 1
                    metrics.external_task(flight.topic, "abandoned")
                    log.warning("bridge_lock_lost", task_id=task_id, error=type(exc).__name__)
                    self._room.set()
                except (KepError, OSError, asyncio.CancelledError) as exc:  # try again next beat
                    if isinstance(exc, asyncio.CancelledError) and really_cancelled():
                        raise
                    log.warning("bridge_heartbeat_failed", task_id=task_id, error=repr(exc))

    async def _patiently(self, call: Callable[[], Awaitable[object]]) -> None:
        async for attempt in retrying(ENGINE_PATIENCE, name="bridge_engine_call"):
            with attempt:
                await call()

    async def _on_outcome(self, message: AbstractIncomingMessage) -> None:
        await self._patiently(lambda: self._report(message))

    async def _report(self, message: AbstractIncomingMessage) -> None:
        out = TaskOutcome.model_validate_json(message.body)
        event: metrics.ExternalTaskEvent = "completed"
        try:
            if out.kind is OutcomeKind.COMPLETE:
                await self.engine.complete(out.task_id, self.worker_id, variables=out.variables)
            elif out.kind is OutcomeKind.BPMN_ERROR:
                event = "bpmn_error"
                await self.engine.bpmn_error(
                    out.task_id, self.worker_id, out.error_code or "error", out.error_message, out.variables
                )
            else:
                # a failure with no retries left becomes an incident in the engine
                event = "retried" if out.retries else "failed"
                await self.engine.failure(
                    out.task_id,
                    self.worker_id,
                    out.error_message or "failed",
                    out.error_details,
                    out.retries or 0,
                    out.retry_timeout_ms or 0,
                )
            self.counts["reported"] += 1
        except (TaskGone, TaskLockedByOther) as exc:  # done already, or another worker has it now
            self.counts["abandoned"] += 1
            event = "abandoned"
            log.info("bridge_outcome_settled", task_id=out.task_id, error=type(exc).__name__)
        # anything else propagates: retryable engine errors requeue the outcome (infra.consumer)
        metrics.external_task(out.topic, event)
        self.in_flight.pop(out.task_id, None)
        self._room.set()

    async def _on_case_event(self, message: AbstractIncomingMessage) -> None:
        """The engine calls that keep the case's process in step with this change (lockstep.intents)."""
        event = case_event(message.type or "", message.body)
        business_key = str(event.data.case_id)
        lock = self._case_locks.get(business_key)
        if lock is None:
            lock = self._case_locks[business_key] = asyncio.Lock()
        async with lock:  # one case's events one at a time: a second copy of an opening finds the instance started
            for intent in lockstep.intents(event):
                await self._patiently(lambda i=intent: self._carry_out(i))  # type: ignore[misc]
        self.counts["case_events"] += 1

    async def _carry_out(self, intent: lockstep.Intent) -> None:
        changed = await carry_out(self.engine, intent)
        if isinstance(intent, lockstep.StartProcess):
            if changed:
                self._crash_at("after_start")
            self.counts["started"] += changed
        elif isinstance(intent, lockstep.MoveOffice):
            self.counts["moved"] += changed
        else:
            self.counts["correlated"] += changed

    async def stats(self) -> dict[str, int]:
        return self.counts | {"in_flight": len(self.in_flight)}

    async def loops(self) -> list[LoopStatus]:
        return [self._poller.status()]

    async def arm_crash(self, point: CrashPoint) -> None:
        """Fault injection (tests, the chaos run): the process dies the next time it passes `point`: after a fetch
        locked tasks and before they are handed to the workers, or after the engine started an instance and before
        the case's event is acknowledged."""
        faults.injection_allowed(self.settings)
        self._crash = point

    def _crash_at(self, point: CrashPoint) -> None:
        if self._crash == point:
            log.warning("bridge_crash_injected", point=point)
            os._exit(1)


CamundaBridgeActor = actor_class(CamundaBridge, max_restarts=-1, max_task_retries=0)

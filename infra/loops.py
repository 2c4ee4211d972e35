"""Long-lived loops with a heartbeat and a watchdog: a loop that keeps answering yet stops doing its work is the worst
fault a service can have, so each loop says when it last did a pass of its work, and a watchdog restarts a loop
whose heartbeat is stale while work waits for it (tasks in the engine, unsent events), and says so in a log line
and a metric. What a loop's pass is, and what "work waits" means, is the loop owner's to say.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import structlog

from infra import metrics

log = structlog.get_logger("loops")


@dataclass(frozen=True)
class LoopStatus:
    name: str
    running: bool
    last_pass_age_s: float
    stale: bool
    restarts: int


class SupervisedLoop:
    """`run` as a task (it loops by itself, `infra.retry.forever`) that calls `beat()` after each pass of work and
    `trying()` after a pass that failed (it is retrying by its backoff: alive, not stuck). Every `check_every_s` the
    watchdog looks: neither for `stale_after_s` and `work_waits()` (or no way to ask it: it failed) → the task is
    cancelled and started again. `status().stale` says only that no work was done: readiness reports it."""

    def __init__(
        self,
        name: str,
        run: Callable[[], Coroutine[Any, Any, object]],
        *,
        stale_after_s: float,
        work_waits: Callable[[], Awaitable[bool]] | None = None,
        check_every_s: float | None = None,
    ) -> None:
        self.name = name
        self._run = run
        self.stale_after_s = stale_after_s
        self._work_waits = work_waits
        self._check_every_s = check_every_s or stale_after_s / 3
        self._last = self._tried = time.monotonic()
        self.restarts = 0
        self._task: asyncio.Task[object] | None = None
        self._watchdog: asyncio.Task[None] | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._last = time.monotonic()
        self._task = loop.create_task(self._run(), name=self.name)
        if self._watchdog is None:
            self._watchdog = loop.create_task(self._watch(), name=f"{self.name}-watchdog")

    def beat(self) -> None:
        self._last = time.monotonic()

    def trying(self) -> None:
        self._tried = time.monotonic()

    def status(self) -> LoopStatus:
        age = time.monotonic() - self._last
        running = self._task is not None and not self._task.done()
        return LoopStatus(self.name, running, round(age, 1), age > self.stale_after_s, self.restarts)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._check_every_s)
            status = self.status()
            quiet_s = time.monotonic() - max(self._last, self._tried)
            if status.running and quiet_s <= self.stale_after_s:
                continue
            if status.running and not await self._waits():
                continue
            await self.restart(f"no pass for {status.last_pass_age_s} s" if status.running else "the loop ended")

    async def _waits(self) -> bool:
        if self._work_waits is None:
            return True
        try:
            return await asyncio.wait_for(self._work_waits(), self._check_every_s)
        except Exception:  # cannot tell (the dependency that would say is away): a restart costs nothing
            return True

    async def restart(self, why: str) -> None:
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.restarts += 1
        metrics.loop_restarted(self.name)
        log.error("loop_restarted", loop=self.name, why=why, restarts=self.restarts)
        self.start()

    async def stop(self) -> None:
        for task in (self._watchdog, self._task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._watchdog = self._task = None

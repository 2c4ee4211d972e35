"""CaseWorkflow: one shard of the case actors. Serialises commands per case; holds nothing PostgreSQL does not.

A restart (Ray reruns `__init__`) therefore loses nothing, and Ray's task retry re-sends the interrupted command,
which the store applies at most once because commands are idempotent on the case id.
"""

from __future__ import annotations

import asyncio
import os
import uuid
import weakref
from typing import Literal

import asyncpg
import structlog

from actors.cases import store
from actors.ray_options import actor_class
from infra import faults
from infra.db import INTERACTIVE, create_pool
from infra.logging import configure_logging
from infra.settings import Settings
from messages.cases import CaseCommand, CaseView, CommandResult, OpenCase, OpenCaseResult

log = structlog.get_logger("cases")


class CaseWorkflow:
    def __init__(self, settings: Settings, shard: int) -> None:
        configure_logging(settings.log_format, settings.log_level)
        self.settings = settings
        self.shard = shard
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None
        self._pool_lock = asyncio.Lock()
        self._case_locks: weakref.WeakValueDictionary[uuid.UUID, asyncio.Lock] = weakref.WeakValueDictionary()
        self._crash: Literal["before_commit", "after_commit"] | None = None

    async def _db(self) -> asyncpg.Pool[asyncpg.Record]:
        async with self._pool_lock:
            if self._pool is None:
                self._pool = await create_pool(self.settings.database_url.get_secret_value(), 1, 5, limits=INTERACTIVE)
        return self._pool

    def _lock(self, case_id: uuid.UUID) -> asyncio.Lock:
        lock = self._case_locks.get(case_id)
        if lock is None:
            lock = asyncio.Lock()
            self._case_locks[case_id] = lock
        return lock

    async def open_case(self, cmd: OpenCase) -> OpenCaseResult:
        structlog.contextvars.bind_contextvars(case_id=str(cmd.case_id), request_id=cmd.request_id)
        async with self._lock(cmd.case_id):
            pool = await self._db()
            async with pool.acquire() as conn:
                result = await store.open_case(conn=conn, cmd=cmd)
        log.debug(
            "case_opened" if result.created else "case_open_replayed", number=result.case.number, shard=self.shard
        )
        return result

    async def apply(self, cmd: CaseCommand) -> CommandResult:
        structlog.contextvars.bind_contextvars(case_id=str(cmd.case_id), request_id=cmd.request_id)
        async with self._lock(cmd.case_id):
            pool = await self._db()
            async with pool.acquire() as conn:
                result = await store.apply_command(
                    conn=conn, cmd=cmd, before_commit=self._crash_now if self._crash == "before_commit" else None
                )
            if self._crash == "after_commit":
                self._crash_now()
        log.debug("case_action", action=cmd.action.value, version=result.case.version, replayed=result.replayed,
                 shard=self.shard)  # fmt: skip
        return result

    async def get_case(self, case_id: uuid.UUID, office_id: uuid.UUID) -> CaseView:
        pool = await self._db()
        async with pool.acquire() as conn:
            return await store.get_case(conn=conn, case_id=case_id, office_id=office_id)

    async def arm_crash(self, when: Literal["before_commit", "after_commit"]) -> None:
        """Tests: the process dies in the next command, with its transaction still open or already committed."""
        faults.injection_allowed(self.settings)
        self._crash = when

    def _crash_now(self) -> None:
        log.warning("case_shard_crash_injected", shard=self.shard, when=self._crash)
        os._exit(1)


# placed round robin over the Ray nodes by the bootstrap (actors.ray_options.on_node_of)
CaseWorkflowActor = actor_class(CaseWorkflow, max_restarts=-1, max_task_retries=3, max_concurrency=64)

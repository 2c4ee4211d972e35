"""ProcedureCatalog: owns the Mitos sync and the in-memory search indexes, rebuilt from PostgreSQL.

One actor: syncs are serialised (a scheduled run and an administrator's trigger never overlap), and the indexes
are swapped whole after a sync, so a search never sees half an index. A restart rebuilds them in `__init__`.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog

from actors.catalog.lexical import LexicalIndex, SearchDoc
from actors.catalog.mitos_client import MitosClient
from actors.catalog.sync import sync
from actors.ray_options import actor_class
from infra.db import create_pool
from infra.logging import configure_logging
from infra.settings import Settings
from messages.catalog import ProcedureHit, SyncKind, SyncRun

log = structlog.get_logger("catalog")
CATALOG_ACTOR = "kep-procedure-catalog"


@dataclass(frozen=True)
class _Indexes:
    el: LexicalIndex
    en: LexicalIndex
    titles: dict[str, tuple[str, str | None]]


class ProcedureCatalog:
    async def __init__(self, settings: Settings) -> None:  # type: ignore[misc]  # Ray awaits async __init__
        configure_logging(settings.log_format, settings.log_level)
        self.settings = settings
        self.pool: asyncpg.Pool[asyncpg.Record] = await create_pool(settings.database_url.get_secret_value(), 0, 4)
        self._sync_lock = asyncio.Lock()
        self._indexes = await self._build()
        self._schedule = (
            asyncio.get_running_loop().create_task(self._scheduled()) if settings.mitos_sync_interval_s > 0 else None
        )

    def _client(self) -> MitosClient:
        key = self.settings.mitos_api_key
        return MitosClient(
            self.settings.mitos_url,
            api_key=key.get_secret_value() if key else None,
            timeout_s=self.settings.mitos_timeout_s,
        )

    async def _build(self) -> _Indexes:
        rows = await self.pool.fetch(
            """SELECT id::text, title_el, title_en, alternative_titles, description_el, description_en
               FROM procedures WHERE removed_at IS NULL"""
        )
        el = [
            SearchDoc(r["id"], r["title_el"], tuple(r["alternative_titles"]), r["description_el"] or "") for r in rows
        ]
        en = [SearchDoc(r["id"], r["title_en"], (), r["description_en"] or "") for r in rows if r["title_en"]]
        # building is CPU work; off the event loop so searches keep being answered from the old indexes
        el_index, en_index = await asyncio.gather(
            asyncio.to_thread(LexicalIndex, el), asyncio.to_thread(LexicalIndex, en)
        )
        log.info("catalog_indexed", procedures=len(rows), english=len(en))
        return _Indexes(el_index, en_index, {r["id"]: (r["title_el"], r["title_en"]) for r in rows})

    async def sync(self, kind: SyncKind = SyncKind.INCREMENTAL, trigger: str = "manual") -> SyncRun:
        async with self._sync_lock:
            async with self._client() as client:
                run = await sync(self.pool, client, kind, trigger)
            if run.added or run.changed or run.removed:
                self._indexes = await self._build()
        log.info(
            "catalog_synced",
            run_id=str(run.id),
            status=run.status.value,
            added=run.added,
            changed=run.changed,
            removed=run.removed,
            failed=run.failed,
        )
        return run

    async def _scheduled(self) -> None:
        while True:
            await asyncio.sleep(self.settings.mitos_sync_interval_s)
            with contextlib.suppress(Exception):  # a failed run is recorded by sync(); the schedule goes on
                await self.sync(SyncKind.INCREMENTAL, trigger="schedule")

    async def search(self, query: str, lang: str = "el", limit: int = 10) -> list[ProcedureHit]:
        ix = self._indexes
        index = ix.en if lang == "en" else ix.el
        hits = await asyncio.to_thread(index.search, query, limit)
        return [
            ProcedureHit(
                procedure_id=h.procedure_id,
                title=(ix.titles[h.procedure_id][1] if lang == "en" else None) or ix.titles[h.procedure_id][0],
                score=round(h.score, 4),
            )
            for h in hits
        ]

    async def reindex(self) -> int:
        """After a change made outside a sync (none yet); also for operators."""
        self._indexes = await self._build()
        return len(self._indexes.titles)

    async def stats(self) -> dict[str, Any]:
        return {"procedures": len(self._indexes.titles), "english": self._indexes.en.size}


ProcedureCatalogActor = actor_class(ProcedureCatalog, max_restarts=-1, max_task_retries=0, max_concurrency=32)

"""ProcedureCatalog: owns the Mitos sync and the in-memory search indexes, rebuilt from PostgreSQL.

One actor: syncs are serialised (a scheduled run and an administrator's trigger never overlap), and the indexes
are swapped whole after a sync, so a search never sees half an index. A restart rebuilds them in `__init__`.

The lexical indexes are ready when the actor is; the semantic ones follow in the background (encoding a new
catalogue takes a while on a CPU), and until they are, semantic and hybrid searches answer 503 with Retry-After.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog
from cachetools import LRUCache

from actors.catalog.embedding import Matrix
from actors.catalog.encoders import Encoder, load_encoder
from actors.catalog.lexical import LexicalIndex, SearchDoc
from actors.catalog.mitos_client import MitosClient
from actors.catalog.search import Indexes, build_lexical, search_indexes
from actors.catalog.semantic import EmbeddingDoc, SemanticIndex, embed, embedding_text
from actors.catalog.sync import sync
from actors.ray_options import actor_class
from infra.db import create_pool
from infra.logging import configure_logging
from infra.settings import Settings
from messages.catalog import ProcedureHit, SearchMode, SyncKind, SyncRun
from messages.errors import NotAvailable, RetryableError

log = structlog.get_logger("catalog")
CATALOG_ACTOR = "kep-procedure-catalog"
QUERY_VECTORS_KEPT = 4096  # staff type the same few hundred searches all day; a vector is 1.5 KiB


@dataclass(frozen=True)
class _Indexes:
    el: LexicalIndex
    en: LexicalIndex
    sound: LexicalIndex
    titles: dict[str, tuple[str, str | None]]
    # what the semantic indexes are built from, kept until they are
    embedding_docs: dict[str, list[EmbeddingDoc]]


@dataclass(frozen=True)
class _Semantic:
    el: SemanticIndex
    en: SemanticIndex


class ProcedureCatalog:
    async def __init__(self, settings: Settings) -> None:  # type: ignore[misc]  # Ray awaits async __init__
        configure_logging(settings.log_format, settings.log_level)
        self.settings = settings
        self.pool: asyncpg.Pool[asyncpg.Record] = await create_pool(settings.database_url.get_secret_value(), 0, 4)
        self._sync_lock = asyncio.Lock()
        self._embed_lock = asyncio.Lock()
        self._model: Encoder | None = None
        self._query_vectors: LRUCache[str, Matrix] = LRUCache(QUERY_VECTORS_KEPT)
        self._semantic: _Semantic | None = None
        self._semantic_task: asyncio.Task[None] | None = None
        await self._rebuild()
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
        el_index, en_index, sound_index = await asyncio.to_thread(build_lexical, el, en)
        log.info("catalog_indexed", procedures=len(rows), english=len(en))
        indexes = _Indexes(
            el_index,
            en_index,
            sound_index,
            {r["id"]: (r["title_el"], r["title_en"]) for r in rows},
            {
                "el": [EmbeddingDoc(d.procedure_id, embedding_text(d.title, d.alternative_titles)) for d in el],
                "en": [EmbeddingDoc(d.procedure_id, embedding_text(d.title)) for d in en],
            },
        )
        return indexes

    async def _rebuild(self) -> None:
        self._indexes = indexes = await self._build()
        if self.settings.embedding_model:
            self._semantic_task = asyncio.get_running_loop().create_task(self._build_semantic(indexes))

    async def _load_model(self) -> Encoder:
        if self._model is None:
            spec = self.settings.embedding_model
            self._model = await asyncio.to_thread(load_encoder, spec, self.settings.embedding_max_tokens)
            log.info("embedding_model_loaded", model=spec, name=self._model.name)
        return self._model

    async def _build_semantic(self, indexes: _Indexes) -> None:
        # one build at a time; a build for indexes already replaced by a newer sync is skipped
        async with self._embed_lock:
            if indexes is not self._indexes:
                return
            try:
                model = await self._load_model()
                el = await embed(self.pool, model, "el", indexes.embedding_docs["el"])
                en = await embed(self.pool, model, "en", indexes.embedding_docs["en"])
            except Exception:
                log.exception("semantic_index_failed")  # lexical search goes on; the next sync tries again
                return
            if indexes is self._indexes:
                self._semantic = _Semantic(el, en)
                log.info("semantic_indexed", greek=el.size, english=en.size)

    async def sync(self, kind: SyncKind = SyncKind.INCREMENTAL, trigger: str = "manual") -> SyncRun:
        async with self._sync_lock:
            async with self._client() as client:
                run = await sync(self.pool, client, kind, trigger)
            if run.added or run.changed or run.removed:
                await self._rebuild()
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

    async def _query_vector(self, model: Encoder, query: str) -> Matrix:
        vector = self._query_vectors.get(query)
        if vector is None:
            [vector] = await asyncio.to_thread(model.queries, [query])
            self._query_vectors[query] = vector
        return vector

    async def search(
        self, query: str, lang: str | None = None, limit: int = 10, mode: SearchMode | None = None
    ) -> list[ProcedureHit]:
        """`lang` None: the query's script decides. `mode` None: hybrid once the semantic index is ready, lexical
        until then (a named semantic mode answers 503 instead)."""
        ix, semantic, model = self._indexes, self._semantic, self._model
        if mode is None:
            mode = SearchMode.HYBRID if semantic is not None and model is not None else SearchMode.LEXICAL
        if mode is not SearchMode.LEXICAL:
            if not self.settings.embedding_model:
                raise NotAvailable("semantic search is switched off on this system (KEP_EMBEDDING_MODEL is empty)")
            if semantic is None or model is None:
                raise RetryableError("the semantic index is still being built; lexical search is available")
        vector = await self._query_vector(model, query) if mode is not SearchMode.LEXICAL and model else None
        found = await asyncio.to_thread(
            search_indexes,
            query,
            limit,
            mode,
            Indexes(ix.el, ix.en, ix.sound, *((semantic.el, semantic.en) if semantic else (None, None))),
            vector,
            lang,
        )
        english = found.lang == "en"
        return [
            ProcedureHit(
                procedure_id=h.procedure_id,
                title=(ix.titles[h.procedure_id][1] if english else None) or ix.titles[h.procedure_id][0],
                score=round(h.score, 4),
            )
            for h in found.hits
            if h.procedure_id in ix.titles  # semantic indexes may trail a sync by a few seconds
        ]

    async def reindex(self) -> int:
        """After a change made outside a sync (none yet); also for operators."""
        await self._rebuild()
        return len(self._indexes.titles)

    async def stats(self) -> dict[str, Any]:
        semantic = self._semantic
        return {
            "procedures": len(self._indexes.titles),
            "english": self._indexes.en.size,
            "semantic": None if semantic is None else {"el": semantic.el.size, "en": semantic.en.size},
            "embedding_model": self._model.name if self._model else None,
        }

    async def semantic_ready(self) -> bool:
        return self._semantic is not None


ProcedureCatalogActor = actor_class(
    ProcedureCatalog,
    max_restarts=-1,
    max_task_retries=0,
    max_concurrency=32,
    # One BLAS thread per encoder pass; concurrent queries run their passes side by side in threads instead.
    # Measured with 16 concurrent queries on 2 cores: 128-142 queries/s this way, 40-46 with OpenBLAS's default
    # (a thread per core for every pass, all fighting), 88-120 with queries batched into one pass at a time.
    runtime_env={"env_vars": {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}},
)

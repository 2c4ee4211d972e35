"""The EUGO catalogue as one replica holds it: the active EUGO procedures, their search indexes and the answers made
from them, all for one version of the catalogue.

The version is a fingerprint of the rows that make the catalogue (id, content hash, sync time), so it changes
with a Mitos sync that changed one of them, an administrator's (de)activation, or a removal. It is read at most
once every `revalidate_s` per replica; between reads, and while it is unchanged, an answer given once is given
again from memory without touching PostgreSQL. While PostgreSQL cannot be reached, the copy a replica has is
answered from (the catalogue is public information that changes a few times a day); one with no copy yet answers
503.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog
from cachetools import LRUCache

from actors.catalog.lexical import LexicalIndex, SearchDoc, fold
from actors.eugo.cpsv import Place, Service, service
from infra import faults
from infra.db import Conn

log = structlog.get_logger("eugo")
REVALIDATE_S = 2.0
ANSWER_BYTES_KEPT = 32 * 1024 * 1024  # by size, not count: a caller varying `q` cannot make a replica grow past it

_WHERE = "eugo AND active AND removed_at IS NULL"
# service points count too: those that offer a procedure are its in-person channels
_VERSION = f"""SELECT count(*) AS n, md5(coalesce(string_agg(id::text || ':' || coalesce(content_hash, '') || ':'
                  || synced_at::text, ',' ORDER BY id), '')) AS digest,
                  (SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') FROM service_points) AS points
               FROM procedures WHERE {_WHERE}"""  # noqa: S608 (fixed parts)
_ROWS = f"""SELECT id, mitos_id, title_el, title_en, description_el, description_en, payload, mykeplive, categories,
                   mitos_updated_at
            FROM procedures WHERE {_WHERE}"""  # noqa: S608
_POINTS = """SELECT id, name_el, name_en, address, postal_code, municipality, ST_Y(location::geometry) AS lat,
                    ST_X(location::geometry) AS lon, procedure_ids, categories
             FROM service_points WHERE active ORDER BY name_el, id"""


async def version(conn: Conn) -> str:
    row = await conn.fetchrow(_VERSION)
    assert row is not None  # an aggregate always answers one row
    return f"{row['n']}-{row['digest']}-{row['points']}"


@dataclass(frozen=True)
class Snapshot:
    version: str
    services: dict[uuid.UUID, Service]
    by_title: dict[str, tuple[uuid.UUID, ...]]  # per language, in title order
    indexes: dict[str, LexicalIndex]

    def search(self, q: str, lang: str) -> list[uuid.UUID]:
        """Services matching every word of `q`, best first: the asked language's index, then the other's."""
        found: dict[uuid.UUID, None] = {}
        for index_lang in (lang, "el" if lang == "en" else "en"):
            for hit in self.indexes[index_lang].search(q, len(self.services) or 1):
                found.setdefault(uuid.UUID(hit.procedure_id))
        return list(found)


def build(version_: str, rows: list[dict[str, Any]], points: list[dict[str, Any]]) -> Snapshot:
    """Blocking (index building): run in a thread."""
    places = [Place.of(p) for p in points]
    services = {s.id: s for s in (service(r, places) for r in rows)}
    by_title = {
        lang: tuple(sorted(services, key=lambda i: (fold(services[i].title.pick(lang)), services[i].mitos_id)))
        for lang in ("el", "en")
    }
    docs = {
        "el": [
            SearchDoc(
                str(s.id), s.title.el or "", s.alternative_titles, (s.description.el or "") if s.description else ""
            )
            for s in services.values()
        ],
        "en": [
            SearchDoc(str(s.id), s.title.en or "", (), (s.description.en or "") if s.description else "")
            for s in services.values()
        ],
    }
    return Snapshot(version_, services, by_title, {lang: LexicalIndex(d, lang) for lang, d in docs.items()})


@dataclass(frozen=True)
class Answer:
    """A body ready to send, with its strong entity tag (a hash of the bytes)."""

    body: bytes
    etag: str

    @classmethod
    def of(cls, body: bytes) -> Answer:
        return cls(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


@dataclass
class Catalogue:
    revalidate_s: float = REVALIDATE_S
    clock: Callable[[], float] = time.monotonic
    _snapshot: Snapshot | None = None
    _checked_at: float = float("-inf")
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _answers: LRUCache[tuple[Any, ...], Answer] = field(
        default_factory=lambda: LRUCache(ANSWER_BYTES_KEPT, getsizeof=lambda a: len(a.body))
    )

    async def snapshot(self, pool: asyncpg.Pool[asyncpg.Record]) -> Snapshot:
        if self._snapshot is not None and self.clock() - self._checked_at < self.revalidate_s:
            return self._snapshot
        async with self._lock:  # one reader per replica; the others wait for what it finds
            if self._snapshot is not None and self.clock() - self._checked_at < self.revalidate_s:
                return self._snapshot
            try:
                async with pool.acquire() as conn:
                    current = await version(conn)
                    if self._snapshot is None or self._snapshot.version != current:
                        rows = [dict(r) for r in await conn.fetch(_ROWS)]
                        points = [dict(r) for r in await conn.fetch(_POINTS)]
                        self._snapshot = await asyncio.to_thread(build, current, rows, points)
                        self._answers.clear()
            except Exception as exc:
                if self._snapshot is None or not faults.is_transient(exc):
                    raise
                log.warning("eugo_catalogue_stale", version=self._snapshot.version, error=repr(exc))
            self._checked_at = self.clock()
            return self._snapshot

    async def answer(
        self, pool: asyncpg.Pool[asyncpg.Record], key: tuple[Any, ...], make: Callable[[Snapshot], bytes]
    ) -> tuple[Answer, bool]:
        """The answer for `key` in the current version, and whether it was kept from before. `make` may raise
        (a procedure that is not in the catalogue): nothing is kept then."""
        snap = await self.snapshot(pool)
        kept = self._answers.get((snap.version, *key))
        if kept is not None:
            return kept, True
        made = Answer.of(make(snap))
        self._answers[(snap.version, *key)] = made
        return made, False

"""Objects nobody references: the sweep of what a crash between storing an object and committing its row leaves.

Every writer stores the bytes first and then commits the row that names them (a staff upload before its ATTACH
command, an EU citizen's evidence before the application and its `eugo_application_files` rows, a generated PDF
before its ATTACH, a ΚΣΗΔΕ file before its `kshde_incoming_files` row), and deletes the bytes when the row is refused.
A process killed in between leaves an object no row names: storage that leaks, and personal data without a record.

The sweep lists the objects under `cases/` (the case documents' keys, `store.document_key`) and `kshde/inbox/` (ΚΣΗΔΕ
files that wait for a case) last written before `before` — the grace, longer than any upload or routing takes, so an
upload in flight is never touched — asks PostgreSQL a page at a time which of them a row names, and deletes the
others, each only if it was not written again since (`ObjectStore.delete_older`: a retry storing the same key keeps
it). A `cases/` object is kept when any of `documents` (its id or storage key), `eugo_application_files` (evidence of
an application, routed or not) or `kshde_incoming_files` (its document id) names it; a `kshde/inbox/` object
when a `kshde_incoming_files` row's storage key is it (the copy left behind after its files became the case's goes).
A key of any other shape is kept and counted.

Several replicas: one sweep at a time holds a PostgreSQL advisory lock, for its transaction (another finds it taken
and skips); and the deletes are idempotent besides (an object gone already counts as nothing), so two sweeps could
do no harm either.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import structlog

from infra.db import Conn
from infra.storage.base import ListedObject, ObjectStore

log = structlog.get_logger("documents.sweep")

CASES_PREFIX = "cases/"
INBOX_PREFIX = "kshde/inbox/"  # actors/delivery/incoming.INBOX_KEYS
PAGE = 500
LOCK = "kep-documents-sweep"
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_CASE_KEY = re.compile(rf"cases/(?P<case>{_UUID})/documents/(?P<doc>{_UUID})")
_INBOX_KEY = re.compile(rf"kshde/inbox/(?P<doc>{_UUID})")


@dataclass(frozen=True)
class Orphan:
    key: str
    last_modified: datetime

    def age_s(self, now: datetime) -> int:
        return int((now - self.last_modified).total_seconds())


@dataclass
class SweepReport:
    scanned: int = 0  # objects older than the cut-off
    referenced: int = 0  # of them, named by a row: kept
    unrecognised: int = 0  # of a key no writer makes: kept
    removed: int = 0  # orphans deleted (a dry run: that would be)
    rewritten: int = 0  # orphans written again since they were listed, or gone already: kept by this sweep
    skipped: bool = False  # another sweep held the lock


def cut_off(grace_s: float) -> datetime:
    """Objects written before this are past the grace: no upload or routing still holds them."""
    return datetime.now(UTC) - timedelta(seconds=grace_s)


async def sweep(
    *,
    pool: asyncpg.Pool[asyncpg.Record],
    store: ObjectStore,
    before: datetime,
    dry_run: bool = False,
    page: int = PAGE,
    on_orphan: Callable[[Orphan], None] | None = None,
) -> SweepReport:
    """Delete the objects under `cases/` and `kshde/inbox/` written before `before` that no row names (a dry run
    only says which); `on_orphan` hears of each. A sweep already running elsewhere: `skipped`, nothing done."""
    started, now = time.monotonic(), datetime.now(UTC)
    report = SweepReport()
    async with pool.acquire() as conn, conn.transaction():
        # a lock of this transaction: held for the whole sweep, released however it ends (a crash included). The
        # transaction writes nothing; its reads are read committed, each page sees the rows committed by then
        if not dry_run and not await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))", LOCK):
            log.info("documents_sweep_skipped", why="another sweep is running")
            return SweepReport(skipped=True)
        for prefix in (CASES_PREFIX, INBOX_PREFIX):
            async for batch in _pages(store.list_older(prefix, before), page):
                report.scanned += len(batch)
                for orphan in await _unreferenced(conn, batch, report):
                    if not dry_run and not await store.delete_older(orphan.key, before):
                        report.rewritten += 1
                        continue
                    report.removed += 1
                    log.info("documents_orphan_removed", key=orphan.key, age_s=orphan.age_s(now), dry_run=dry_run)
                    if on_orphan is not None:
                        on_orphan(orphan)
    log.info(
        "documents_sweep",
        before=before.isoformat(),
        dry_run=dry_run,
        seconds=round(time.monotonic() - started, 1),
        **{k: v for k, v in vars(report).items() if k != "skipped"},
    )
    return report


async def _pages(objects: AsyncIterator[ListedObject], size: int) -> AsyncIterator[list[ListedObject]]:
    batch: list[ListedObject] = []
    async for listed in objects:
        batch.append(listed)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


async def _unreferenced(conn: Conn, batch: list[ListedObject], report: SweepReport) -> list[Orphan]:
    """The objects of `batch` that no row names, in one query."""
    keys: list[str] = []
    docs: list[uuid.UUID] = []
    for listed in batch:
        shape = _CASE_KEY.fullmatch(listed.key) or _INBOX_KEY.fullmatch(listed.key)
        if shape is None:
            report.unrecognised += 1
            log.warning("documents_sweep_unrecognised_key", key=listed.key)
            continue
        keys.append(listed.key)
        docs.append(uuid.UUID(shape["doc"]))
    if not keys:
        return []
    named = {
        r["key"]
        for r in await conn.fetch(
            """SELECT k.key FROM unnest($1::text[], $2::uuid[]) AS k (key, doc)
               WHERE CASE WHEN k.key LIKE 'cases/%'
                          THEN EXISTS (SELECT 1 FROM documents WHERE id = k.doc)
                               OR EXISTS (SELECT 1 FROM documents WHERE storage_key = k.key)
                               OR EXISTS (SELECT 1 FROM eugo_application_files WHERE document_id = k.doc)
                               OR EXISTS (SELECT 1 FROM kshde_incoming_files WHERE document_id = k.doc)
                          -- an inbox key is its file's document id: by that unique index, then the key itself
                          ELSE EXISTS (SELECT 1 FROM kshde_incoming_files WHERE document_id = k.doc
                                                                           AND storage_key = k.key)
                     END""",
            keys,
            docs,
        )
    }
    report.referenced += len(named)
    by_key = {listed.key: listed for listed in batch}
    return [Orphan(key, by_key[key].last_modified) for key in keys if key not in named]

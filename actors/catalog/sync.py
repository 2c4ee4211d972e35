"""Mitos → PostgreSQL sync: fetch, then apply everything in one transaction with a diff and a run record.

A failure while fetching leaves the catalogue as it was; a record that cannot be read is skipped and reported,
never taken for a removal; running the same sync twice changes nothing (rows carry a content hash). Local fields
(active, form, BPMN process, office availability) are never written here.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from actors.catalog.errors import MitosError
from actors.catalog.mitos_client import MitosClient
from infra import outbox
from infra.db import Conn
from messages.catalog import (
    ProcedureChanged,
    SyncKind,
    SyncRun,
    SyncStatus,
)
from messages.envelope import new_id
from messages.events import PROCEDURE_ADDED, PROCEDURE_CHANGED, PROCEDURE_REMOVED, EventKind
from messages.mitos import CatalogProcedure, MitosListItem

SOURCE = "urn:kep:backoffice:catalog"
MAX_REMOVED_SHARE = 0.2
PROCEDURE_NS = uuid.UUID("0b6f3f5e-8e4a-4d0c-9a43-5d1f0e7c2a11")


def procedure_uuid(mitos_id: str) -> uuid.UUID:
    """Stable: a procedure removed from Mitos and published again keeps its id and its cases."""
    return uuid.uuid5(PROCEDURE_NS, mitos_id)


def content_hash(proc: CatalogProcedure) -> str:
    return hashlib.sha256(orjson.dumps(proc.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass
class Fetched:
    listed: list[MitosListItem]
    procedures: list[CatalogProcedure] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


async def fetch(client: MitosClient, *, since: datetime | None) -> Fetched:
    """The whole listing (needed to see removals), and the records updated after `since` (all when None)."""
    items = await client.list_all()
    wanted = [i for i in items if since is None or i.last_updated is None or i.last_updated > since]
    result = Fetched(listed=items)
    for r in await client.fetch_many(wanted):
        if r.procedure is not None:
            result.procedures.append(r.procedure)
        else:
            result.errors.append({"mitos_id": str(r.item.id), "error": f"{type(r.error).__name__}: {r.error}"})
    return result


async def last_update(conn: Conn) -> datetime | None:
    value: datetime | None = await conn.fetchval(
        "SELECT max(mitos_updated_at) FROM procedures WHERE removed_at IS NULL"
    )
    return value


_UPSERT = """
INSERT INTO procedures AS p (
    id, mitos_id, mitos_uuid, title_el, title_en, official_title, alternative_titles, description_el,
    description_en, mitos_status, owner_org, categories, provided_to, eugo, mykeplive, duration_days, cost_min,
    cost_max, deadline_days, validity_days, payload, mitos_updated_at, content_hash, synced_at, removed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23,
        now(), NULL)
ON CONFLICT (mitos_id) DO UPDATE SET
    mitos_uuid = EXCLUDED.mitos_uuid, title_el = EXCLUDED.title_el, title_en = EXCLUDED.title_en,
    official_title = EXCLUDED.official_title, alternative_titles = EXCLUDED.alternative_titles,
    description_el = EXCLUDED.description_el, description_en = EXCLUDED.description_en,
    mitos_status = EXCLUDED.mitos_status, owner_org = EXCLUDED.owner_org, categories = EXCLUDED.categories,
    provided_to = EXCLUDED.provided_to, eugo = EXCLUDED.eugo, mykeplive = EXCLUDED.mykeplive,
    duration_days = EXCLUDED.duration_days, cost_min = EXCLUDED.cost_min, cost_max = EXCLUDED.cost_max,
    deadline_days = EXCLUDED.deadline_days, validity_days = EXCLUDED.validity_days, payload = EXCLUDED.payload,
    mitos_updated_at = EXCLUDED.mitos_updated_at, content_hash = EXCLUDED.content_hash, synced_at = now(),
    removed_at = NULL
WHERE p.content_hash IS DISTINCT FROM EXCLUDED.content_hash OR p.removed_at IS NOT NULL
RETURNING p.id, p.mitos_id, p.title_el, (xmax = 0) AS inserted
"""


def _row(proc: CatalogProcedure) -> tuple[Any, ...]:
    mitos_id = str(proc.mitos_id)
    days = math.ceil(proc.implementation_days) if proc.implementation_days is not None else None
    owner = proc.owner_org_title.el if proc.owner_org_title else proc.owner_org_id
    return (
        procedure_uuid(mitos_id),
        mitos_id,
        proc.uuid,
        proc.title_el,
        proc.title_en,
        proc.official_title,
        proc.alternative_titles,
        proc.description_el,
        proc.description_en,
        proc.status,
        owner,
        proc.categories,
        proc.provided_to,
        proc.is_eugo,
        proc.is_served_via_mykeplive,
        days,
        proc.cost_min,
        proc.cost_max,
        proc.deadline_days,
        proc.validity_days,
        proc.payload,
        proc.last_updated,
        content_hash(proc),
    )


async def _announce(conn: Conn, kind: EventKind[ProcedureChanged], run_id: uuid.UUID, row: asyncpg.Record) -> None:
    data = ProcedureChanged(
        procedure_id=row["id"], mitos_id=row["mitos_id"], title_el=row["title_el"], sync_run_id=run_id
    )
    envelope = kind.envelope(data, source=SOURCE, subject=str(row["id"]), correlationid=str(run_id))
    await outbox.enqueue(conn, envelope, routing_key=kind.routing_key(row["mitos_id"]))


async def apply(conn: Conn, run: SyncRun, fetched: Fetched) -> SyncRun:
    """Write the fetched records, mark what left the listing, record the run: one transaction."""
    added = changed = 0
    async with conn.transaction():
        for proc in fetched.procedures:
            row = await conn.fetchrow(_UPSERT, *_row(proc))
            if row is None:
                continue  # same content as stored
            if row["inserted"]:
                added += 1
            else:
                changed += 1
            await _announce(conn, PROCEDURE_ADDED if row["inserted"] else PROCEDURE_CHANGED, run.id, row)
        listed = [str(i.id) for i in fetched.listed]
        errors = list(fetched.errors)
        gone: list[asyncpg.Record] = []
        present = await conn.fetchval("SELECT count(*) FROM procedures WHERE removed_at IS NULL")
        missing = await conn.fetchval(
            "SELECT count(*) FROM procedures WHERE removed_at IS NULL AND NOT (mitos_id = ANY($1::text[]))", listed
        )
        if missing and missing > MAX_REMOVED_SHARE * present:
            # A listing that lost most of the catalogue is Mitos misbehaving, not a mass repeal.
            errors.append({"error": f"{missing} of {present} procedures missing from the listing; none removed"})
        elif missing:
            gone = await conn.fetch(
                """UPDATE procedures SET removed_at = now(), active = false
                   WHERE removed_at IS NULL AND NOT (mitos_id = ANY($1::text[]))
                   RETURNING id, mitos_id, title_el""",
                listed,
            )
        for row in gone:
            await _announce(conn, PROCEDURE_REMOVED, run.id, row)
        done = run.model_copy(
            update={
                "status": SyncStatus.PARTIAL if errors else SyncStatus.SUCCEEDED,
                "listed": len(listed),
                "fetched": len(fetched.procedures),
                "added": added,
                "changed": changed,
                "removed": len(gone),
                "failed": len(fetched.errors),
                "errors": errors[:200],
            }
        )
        await _save_run(conn, done, finished=True)
    return done


async def _save_run(conn: Conn, run: SyncRun, *, finished: bool) -> None:
    await conn.execute(
        """INSERT INTO procedure_sync_runs (id, kind, trigger, status, started_at, finished_at, listed, fetched,
                                            added, changed, removed, failed, errors)
           VALUES ($1, $2, $3, $4, $5, CASE WHEN $6 THEN now() END, $7, $8, $9, $10, $11, $12, $13)
           ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, finished_at = EXCLUDED.finished_at,
               listed = EXCLUDED.listed, fetched = EXCLUDED.fetched, added = EXCLUDED.added,
               changed = EXCLUDED.changed, removed = EXCLUDED.removed, failed = EXCLUDED.failed,
               errors = EXCLUDED.errors""",
        run.id,
        run.kind.value,
        run.trigger,
        run.status.value,
        run.started_at,
        finished,
        run.listed,
        run.fetched,
        run.added,
        run.changed,
        run.removed,
        run.failed,
        run.errors,
    )


async def sync(pool: asyncpg.Pool[asyncpg.Record], client: MitosClient, kind: SyncKind, trigger: str) -> SyncRun:
    """One sync run, recorded from its start; a failure to reach Mitos ends it as failed with nothing applied."""
    async with pool.acquire() as conn:
        started = await conn.fetchval("SELECT now()")
        run = SyncRun(id=new_id(), kind=kind, trigger=trigger, status=SyncStatus.RUNNING, started_at=started)
        await _save_run(conn, run, finished=False)
        since = await last_update(conn) if kind is SyncKind.INCREMENTAL else None
    try:
        fetched = await fetch(client, since=since)
    except MitosError as exc:
        failed = run.model_copy(
            update={"status": SyncStatus.FAILED, "errors": [{"error": f"{type(exc).__name__}: {exc}"}]}
        )
        async with pool.acquire() as conn:
            await _save_run(conn, failed, finished=True)
        return failed
    async with pool.acquire() as conn:
        return await apply(conn, run, fetched)

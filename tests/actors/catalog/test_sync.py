"""Catalogue sync against the local Mitos double and a database of its own: diff, idempotence, partial failures."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from actors.catalog.mitos_client import MitosClient
from actors.catalog.sync import procedure_uuid, sync
from doubles.mitos.server import MitosApp
from infra.db import create_pool
from infra.migrate import migrate
from infra.retry import Backoff
from kepctl import services
from kepctl.stack import StackSettings
from messages.catalog import SyncKind, SyncStatus

MITOS_SEED = 7
MITOS_COUNT = 300
FAST = Backoff(attempts=2, initial_s=0.01, max_s=0.02, jitter_s=0.01)


@pytest.fixture(scope="module")
async def db(stack: StackSettings) -> AsyncIterator[asyncpg.Pool[asyncpg.Record]]:
    """The sync owns the whole catalogue (it marks what Mitos no longer lists), so it gets a database alone."""
    pg = services.Postgres("postgres", stack)
    name = f"kep_catalog_{uuid.uuid4().hex[:10]}"
    pg.psql(f'CREATE DATABASE "{name}"')
    migrate(stack.database_url(name))
    pool = await create_pool(stack.database_url(name), 1, 4)
    yield pool
    await pool.close()
    pg.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def client(mitos_app: MitosApp, mitos_url: str) -> AsyncIterator[MitosClient]:
    mitos_app.faults.clear()
    async with MitosClient(mitos_url, retry=FAST, timeout_s=5.0) as c:
        yield c
    mitos_app.faults.clear()


async def counts(db: asyncpg.Pool[asyncpg.Record]) -> tuple[int, int]:
    row = await db.fetchrow(
        "SELECT count(*) FILTER (WHERE removed_at IS NULL) AS live, count(*) AS total FROM procedures"
    )
    assert row is not None
    return row["live"], row["total"]


async def test_full_sync_fills_the_catalogue_and_a_second_run_changes_nothing(
    db: asyncpg.Pool[asyncpg.Record], client: MitosClient
) -> None:
    first = await sync(db, client, SyncKind.FULL, trigger="test")
    assert first.status is SyncStatus.SUCCEEDED, first.errors
    assert first.added == first.listed == 300
    assert await counts(db) == (300, 300)
    events = await db.fetchval("SELECT count(*) FROM outbox WHERE type = 'gr.kep.procedure.added.v1'")
    assert events == 300

    again = await sync(db, client, SyncKind.FULL, trigger="test")
    assert (again.status, again.added, again.changed, again.removed) == (SyncStatus.SUCCEEDED, 0, 0, 0)
    runs = await db.fetch("SELECT status, finished_at FROM procedure_sync_runs ORDER BY started_at")
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
    assert all(r["finished_at"] is not None for r in runs)


async def test_incremental_sync_applies_changes_and_keeps_local_fields(
    db: asyncpg.Pool[asyncpg.Record], client: MitosClient, mitos_app: MitosApp
) -> None:
    await sync(db, client, SyncKind.FULL, trigger="test")
    mitos_id = sorted(mitos_app.dataset.procedures)[0]
    pid = procedure_uuid(str(mitos_id))
    await db.execute("UPDATE procedures SET active = true, form_key = 'f-1' WHERE id = $1", pid)
    office = uuid.uuid4()
    await db.execute("INSERT INTO offices (id, code, kind, name_el) VALUES ($1, 'T-SYNC', 'kep', 'Δοκιμή')", office)
    await db.execute("INSERT INTO procedure_offices (procedure_id, office_id) VALUES ($1, $2)", pid, office)
    before = await db.fetchval("SELECT content_hash FROM procedures WHERE id = $1", pid)
    with mitos_app.data_lock:
        mitos_app.dataset.change([mitos_id])
        added = mitos_app.dataset.add(2)

    run = await sync(db, client, SyncKind.INCREMENTAL, trigger="test")

    assert (run.status, run.added, run.changed, run.removed) == (SyncStatus.SUCCEEDED, 2, 1, 0)
    assert run.fetched == 3  # only what changed after the newest record we hold
    row = await db.fetchrow("SELECT active, form_key, content_hash FROM procedures WHERE id = $1", pid)
    assert row is not None
    assert (row["active"], row["form_key"]) == (True, "f-1")
    assert await db.fetchval("SELECT array_agg(office_id) FROM procedure_offices WHERE procedure_id = $1", pid) == [
        office
    ]
    assert row["content_hash"] != before
    assert await db.fetchval(
        "SELECT count(*) FROM procedures WHERE mitos_id = ANY($1::text[])", [str(a) for a in added]
    )


async def test_a_procedure_gone_from_mitos_is_marked_removed_not_deleted(
    db: asyncpg.Pool[asyncpg.Record], client: MitosClient, mitos_app: MitosApp
) -> None:
    await sync(db, client, SyncKind.FULL, trigger="test")
    mitos_id = sorted(mitos_app.dataset.procedures)[1]
    with mitos_app.data_lock:
        mitos_app.dataset.remove([mitos_id])
    run = await sync(db, client, SyncKind.INCREMENTAL, trigger="test")
    assert (run.status, run.removed) == (SyncStatus.SUCCEEDED, 1)
    row = await db.fetchrow("SELECT removed_at, active FROM procedures WHERE id = $1", procedure_uuid(str(mitos_id)))
    assert row is not None
    assert row["removed_at"] is not None
    assert row["active"] is False
    event = await db.fetchval(
        "SELECT routing_key FROM outbox WHERE type = 'gr.kep.procedure.removed.v1' ORDER BY created_at DESC LIMIT 1"
    )
    assert event == f"procedure.removed.{mitos_id}"


async def test_a_malformed_record_is_skipped_and_reported_never_removed(
    db: asyncpg.Pool[asyncpg.Record], client: MitosClient, mitos_app: MitosApp
) -> None:
    await sync(db, client, SyncKind.FULL, trigger="test")
    bad, good = sorted(mitos_app.dataset.procedures)[2:4]
    stored = await db.fetchval("SELECT content_hash FROM procedures WHERE id = $1", procedure_uuid(str(bad)))
    with mitos_app.data_lock:
        mitos_app.dataset.change([bad, good])
    mitos_app.faults.malformed(bad)

    run = await sync(db, client, SyncKind.INCREMENTAL, trigger="test")

    assert run.status is SyncStatus.PARTIAL
    assert (run.changed, run.failed, run.removed) == (1, 1, 0)
    assert run.errors[0]["mitos_id"] == str(bad)
    row = await db.fetchrow("SELECT content_hash, removed_at FROM procedures WHERE id = $1", procedure_uuid(str(bad)))
    assert row is not None
    assert (row["content_hash"], row["removed_at"]) == (stored, None)


async def test_mitos_failing_during_the_listing_applies_nothing(
    db: asyncpg.Pool[asyncpg.Record], client: MitosClient, mitos_app: MitosApp
) -> None:
    await sync(db, client, SyncKind.FULL, trigger="test")
    before = await counts(db)
    with mitos_app.data_lock:
        mitos_app.dataset.add(1)
    mitos_app.faults.fail("/v1/services", status=503, times=10)

    run = await sync(db, client, SyncKind.FULL, trigger="test")

    assert run.status is SyncStatus.FAILED
    assert "MitosUnavailable" in run.errors[0]["error"]
    assert await counts(db) == before
    assert await db.fetchval("SELECT status FROM procedure_sync_runs WHERE id = $1", run.id) == "failed"


async def test_a_listing_that_lost_most_of_the_catalogue_removes_nothing(
    db: asyncpg.Pool[asyncpg.Record], client: MitosClient, mitos_app: MitosApp
) -> None:
    await sync(db, client, SyncKind.FULL, trigger="test")
    live, _ = await counts(db)
    with mitos_app.data_lock:
        mitos_app.dataset.remove(sorted(mitos_app.dataset.procedures)[10:110])

    run = await sync(db, client, SyncKind.FULL, trigger="test")

    assert run.status is SyncStatus.PARTIAL
    assert run.removed == 0
    assert "none removed" in run.errors[-1]["error"]
    assert (await counts(db))[0] == live

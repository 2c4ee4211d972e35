"""Listing the objects last written before a time, and deleting one only if it was not written since: the same on
every backend (MinIO and Azurite are the real servers; each test its own bucket, container or folder). "Old" is a
cut-off passed in, never a wait."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from infra.storage import LocalDirStore, ObjectStore, azure, local, minio
from infra.storage.base import ListedObject
from messages.errors import InvalidInput

LATER = timedelta(minutes=1)  # a cut-off after everything a test stored: all of it is "old"


async def listed(store: ObjectStore, prefix: str, before: datetime) -> list[ListedObject]:
    return [o async for o in store.list_older(prefix, before)]


async def test_lists_what_was_written_before_the_cut_off_under_the_prefix(store: ObjectStore) -> None:
    # given objects under two prefixes, and one written before the other prefix's
    case = uuid.uuid4()
    started = datetime.now(UTC) - timedelta(seconds=2)  # the stores' clocks keep whole seconds, at worst
    keys = [f"cases/{case}/documents/{uuid.uuid4()}" for _ in range(3)]
    for key in keys:
        await store.put(key, b"%PDF-1.7", "application/pdf")
    await store.put(f"kshde/inbox/{uuid.uuid4()}", b"x", "text/plain")
    # when listed with a cut-off after they were written: the prefix's, each with the time it was written
    found = await listed(store, "cases/", datetime.now(UTC) + LATER)
    assert sorted(o.key for o in found) == sorted(keys)
    assert all(started <= o.last_modified <= datetime.now(UTC) + LATER for o in found)
    assert all(o.last_modified.tzinfo is not None for o in found)
    # and with a cut-off before they were written: none, they are young
    assert await listed(store, "cases/", started - timedelta(hours=1)) == []
    # a prefix nothing is under, and a store nothing was ever written to, list nothing
    assert await listed(store, "nothing/", datetime.now(UTC) + LATER) == []


async def test_an_empty_store_lists_nothing(store: ObjectStore) -> None:
    assert await listed(store, "cases/", datetime.now(UTC) + LATER) == []


async def test_lists_past_a_page(store: ObjectStore) -> None:
    # more objects than one answer of the backends holds (1000): every one, once
    assert azure.LIST_PAGE == minio.LIST_PAGE == local._LIST_PAGE == 1000
    keys = {f"cases/{uuid.uuid4()}/documents/{uuid.uuid4()}" for _ in range(1003)}
    semaphore = asyncio.Semaphore(16)

    async def put(key: str) -> None:
        async with semaphore:
            await store.put(key, b"x", "text/plain")

    await asyncio.gather(*(put(key) for key in keys))
    found = [o.key for o in await listed(store, "cases/", datetime.now(UTC) + LATER)]
    assert len(found) == len(keys)
    assert set(found) == keys


async def test_delete_older_deletes_only_what_was_not_written_since(store: ObjectStore) -> None:
    key = f"cases/{uuid.uuid4()}/documents/{uuid.uuid4()}"
    before_it = datetime.now(UTC) - timedelta(hours=1)
    await store.put(key, b"x", "text/plain")
    # written after the cut-off (an upload in flight, a retry storing the key again): kept
    assert not await store.delete_older(key, before_it)
    assert await store.exists(key)
    # written before it: deleted, once
    assert await store.delete_older(key, datetime.now(UTC) + LATER)
    assert not await store.exists(key)
    assert not await store.delete_older(key, datetime.now(UTC) + LATER)


async def test_a_rewrite_after_the_listing_is_kept(tmp_path: Path) -> None:
    # the local folder lets a test set a file's time: listed when old, written again, then the delete refuses
    store = LocalDirStore(tmp_path / "objects")
    key = f"cases/{uuid.uuid4()}/documents/{uuid.uuid4()}"
    await store.put(key, b"first", "text/plain")
    two_hours_ago = (datetime.now(UTC) - timedelta(hours=2)).timestamp()
    os.utime(store.root / key, (two_hours_ago, two_hours_ago))
    cut_off = datetime.now(UTC) - timedelta(hours=1)
    assert [o.key for o in await listed(store, "cases/", cut_off)] == [key]
    await store.put(key, b"again", "text/plain")
    assert not await store.delete_older(key, cut_off)
    assert await store.get(key) == b"again"


async def test_the_local_store_lists_no_temporary_file_and_no_path_outside_it(tmp_path: Path) -> None:
    store = LocalDirStore(tmp_path / "objects")
    key = f"cases/{uuid.uuid4()}/documents/{uuid.uuid4()}"
    await store.put(key, b"x", "text/plain")
    (store.root / key).with_name(".upload-abc123").write_bytes(b"half")  # what a crash in `_write` leaves
    assert [o.key for o in await listed(store, "cases/", datetime.now(UTC) + LATER)] == [key]
    with pytest.raises(InvalidInput):
        await listed(store, "../", datetime.now(UTC) + LATER)


async def test_a_naive_cut_off_is_refused(store: ObjectStore) -> None:
    with pytest.raises(ValueError, match="time zone"):
        await listed(store, "cases/", datetime.now())
    with pytest.raises(ValueError, match="time zone"):
        await store.delete_older(f"cases/{uuid.uuid4()}/documents/{uuid.uuid4()}", datetime.now())

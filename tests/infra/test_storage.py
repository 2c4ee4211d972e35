"""The object-store facade behaves the same on every backend; MinIO is the real server."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from infra.settings import Settings
from infra.storage import LocalDirStore, ObjectNotFound, ObjectStore, StorageError, create_store
from infra.storage.minio import MinioStore
from messages.errors import InvalidInput


@pytest.fixture(params=["local", "minio"])
def store(request: pytest.FixtureRequest, settings: Settings, tmp_path: Path) -> Iterator[ObjectStore]:
    if request.param == "local":
        yield LocalDirStore(tmp_path / "objects")
    else:
        yield create_store(settings.model_copy(update={"storage_bucket": f"kep-t-{uuid.uuid4().hex[:12]}"}))


async def test_put_get_exists_delete(store: ObjectStore) -> None:
    key = f"cases/{uuid.uuid4()}/βεβαίωση.pdf".encode("ascii", "ignore").decode()
    data = os.urandom(70_000)
    info = await store.put(key, data, "application/pdf")
    assert info.size == len(data)
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert await store.exists(key)
    assert await store.get(key) == data
    await store.delete(key)
    assert not await store.exists(key)
    with pytest.raises(ObjectNotFound):
        await store.get(key)


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "a/../b", "", "spaces are not allowed"])
async def test_unsafe_keys_are_refused(store: ObjectStore, key: str) -> None:
    with pytest.raises(InvalidInput):
        await store.put(key, b"x", "text/plain")


async def test_check_passes_on_a_reachable_store(store: ObjectStore) -> None:
    await store.check()


async def test_minio_presigned_url_downloads_the_object(settings: Settings) -> None:
    store = create_store(settings)
    key = f"t/{uuid.uuid4()}"
    await store.put(key, b"hello", "text/plain")
    url = await store.presigned_get(key, timedelta(minutes=5))
    assert url is not None
    async with httpx.AsyncClient() as client:
        assert (await client.get(url)).content == b"hello"


async def test_unreachable_minio_is_a_retryable_storage_error() -> None:
    store = MinioStore("127.0.0.1:1", "k", "secret", "bucket")
    with pytest.raises(StorageError) as err:
        await store.check()
    assert err.value.retryable


async def test_interrupted_local_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalDirStore(tmp_path)

    def crash(fd: int) -> None:
        raise OSError("disk went away")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk went away"):
        await store.put("cases/x/doc.pdf", b"half", "application/pdf")
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []

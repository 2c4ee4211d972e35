"""The object-store facade behaves the same on every backend; MinIO and Azurite are real servers."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from infra.settings import Settings
from infra.storage import AzureBlobStore, LocalDirStore, ObjectNotFound, ObjectStore, StorageError, create_store
from infra.storage.minio import MinioStore
from kepctl.stack import StackSettings
from messages.errors import ConfigurationError, InvalidInput
from tests.conftest import new_azure_store


@pytest.fixture
async def azure(settings: Settings, stack: StackSettings) -> AsyncIterator[AzureBlobStore]:
    store = new_azure_store(settings, stack)
    yield store
    await store.close()


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


async def test_put_file_stores_a_file_larger_than_a_block_whole(store: ObjectStore, tmp_path: Path) -> None:
    # given a spooled upload past 8 MiB, the block (part) size of the remote backends
    data = os.urandom(9 * 1024 * 1024 + 17)
    spool = tmp_path / "upload"
    spool.write_bytes(data)
    key = f"cases/{uuid.uuid4()}/big"
    # when it is streamed from its file
    with spool.open("rb") as fh:
        info = await store.put_file(key, fh, len(data), hashlib.sha256(data).hexdigest(), "application/pdf")
    # then the object is every byte of it
    assert info.size == len(data)
    assert await store.get(key) == data


async def test_azure_records_the_sha256_with_the_blob(azure: AzureBlobStore) -> None:
    data = b"%PDF-1.7 ..."
    await azure.put("t/doc", data, "application/pdf")
    props = await azure.container.get_blob_client("t/doc").get_blob_properties()
    assert props.metadata == {"sha256": hashlib.sha256(data).hexdigest()}
    assert props.content_settings.content_type == "application/pdf"


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


async def test_azure_presigned_url_downloads_the_object_as_an_attachment(azure: AzureBlobStore) -> None:
    key = f"t/{uuid.uuid4()}"
    await azure.put(key, b"hello", "text/plain")
    url = await azure.presigned_get(key, timedelta(minutes=5), "βεβαίωση.pdf")
    assert url is not None
    async with httpx.AsyncClient() as client:
        resp = await client.get(url)
    assert resp.content == b"hello"
    assert resp.headers["content-disposition"].startswith("attachment;")
    assert "filename*=UTF-8''%CE%B2" in resp.headers["content-disposition"]


async def test_azure_presigned_url_reads_only_its_own_object(azure: AzureBlobStore) -> None:
    # given a link to one object
    await azure.put("t/mine", b"mine", "text/plain")
    await azure.put("t/other", b"other", "text/plain")
    url = await azure.presigned_get("t/mine", timedelta(minutes=5))
    assert url is not None
    # when its signature is used for another key
    forged = url.replace("/t/mine?", "/t/other?")
    async with httpx.AsyncClient() as client:
        # then the service refuses it
        assert (await client.get(forged)).status_code == 403


async def test_azure_without_credentials_names_the_missing_variables(settings: Settings) -> None:
    incomplete = settings.model_copy(update={"storage_backend": "azure", "azure_blob_endpoint": "http://x"})
    with pytest.raises(ConfigurationError, match="KEP_AZURE_ACCOUNT_NAME, KEP_AZURE_ACCOUNT_KEY"):
        create_store(incomplete)


async def test_unreachable_azure_is_a_retryable_storage_error(stack: StackSettings) -> None:
    key = stack.azurite_key.get_secret_value()
    store = AzureBlobStore("http://127.0.0.1:1/devstoreaccount1", "devstoreaccount1", key, "container")
    try:
        with pytest.raises(StorageError) as err:
            await store.check()
        assert err.value.retryable
    finally:
        await store.close()


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

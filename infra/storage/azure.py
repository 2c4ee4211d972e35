"""Objects in Azure Blob Storage (or Azurite locally), through the SDK's async client: block blobs, account key."""

from __future__ import annotations

import asyncio
import hashlib
import io
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from typing import BinaryIO

from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import AzureError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import BlobSasPermissions, ContentSettings, generate_blob_sas
from azure.storage.blob.aio import BlobServiceClient, ContainerClient, LinearRetry

from infra.storage.base import ListedObject, ObjectInfo, ObjectNotFound, StorageError, attachment, aware, check_key

# Blocks of this size are the most one upload holds in memory; a smaller object goes in one PUT.
BLOCK_SIZE = 8 * 1024 * 1024
LIST_PAGE = 1000
# Signed from a clock that may run ahead of the service's: a link must not start in the future.
_CLOCK_SKEW = timedelta(minutes=5)


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except ResourceNotFoundError:
        raise ObjectNotFound("no such object") from None
    except AzureError as exc:
        raise StorageError(f"Azure Blob: {exc.message}") from exc
    except OSError as exc:
        raise StorageError(f"Azure Blob unreachable: {exc}") from exc


async def _chunks(file: BinaryIO, size: int) -> AsyncIterator[bytes]:
    """`size` bytes of `file` a block at a time, each read in a thread: the file may be a spool on disk."""
    left = size
    while left > 0:
        chunk = await asyncio.to_thread(file.read, min(BLOCK_SIZE, left))
        if not chunk:
            raise ValueError(f"the file ended {left} bytes short of its stated size {size}")
        left -= len(chunk)
        yield chunk


class AzureBlobStore:
    name = "azure"

    def __init__(self, endpoint: str, account_name: str, account_key: str, container: str) -> None:
        self.account_name = account_name
        self._account_key = account_key
        self.client = BlobServiceClient(
            endpoint,
            credential=AzureNamedKeyCredential(account_name, account_key),
            # The SDK's default waits 15 s and more between tries; the caller retries a StorageError anyway.
            retry_policy=LinearRetry(backoff=1, retry_total=3, random_jitter_range=1),
            connection_timeout=3,
            read_timeout=30,
            max_single_put_size=BLOCK_SIZE,
            max_block_size=BLOCK_SIZE,
        )
        self.container: ContainerClient = self.client.get_container_client(container)
        self._container_ready = False

    async def _ensure_container(self) -> None:
        if self._container_ready:
            return
        with _errors(), suppress(ResourceExistsError):
            await self.container.create_container()
        self._container_ready = True

    async def put(self, key: str, data: bytes, content_type: str) -> ObjectInfo:
        return await self.put_file(key, io.BytesIO(data), len(data), hashlib.sha256(data).hexdigest(), content_type)

    async def put_file(self, key: str, file: BinaryIO, size: int, sha256: str, content_type: str) -> ObjectInfo:
        check_key(key)
        await self._ensure_container()
        with _errors():
            # One PUT, or blocks staged and then committed in one list: readers see the old blob or the whole new
            # one, never a part.
            await self.container.upload_blob(
                key,
                _chunks(file, size),
                length=size,
                overwrite=True,
                content_settings=ContentSettings(content_type=content_type),
                metadata={"sha256": sha256},
                max_concurrency=1,
            )
        return ObjectInfo(key, size, sha256, content_type)

    async def get(self, key: str) -> bytes:
        check_key(key)
        with _errors():
            download = await self.container.download_blob(key)
            return await download.readall()

    async def exists(self, key: str) -> bool:
        check_key(key)
        with _errors():
            return await self.container.get_blob_client(key).exists()

    async def delete(self, key: str) -> None:
        check_key(key)
        # Deleting what is gone is done, as on the other backends.
        with _errors(), suppress(ResourceNotFoundError):
            await self.container.delete_blob(key)

    async def list_older(self, prefix: str, before: datetime) -> AsyncIterator[ListedObject]:
        aware(before)
        listed = self.container.list_blobs(name_starts_with=prefix, results_per_page=LIST_PAGE)
        try:
            async for blob in listed:  # the SDK asks for the next page (its continuation marker) as this one ends
                if blob.last_modified < before:
                    yield ListedObject(blob.name, blob.last_modified)
        except ResourceNotFoundError:  # no container yet: nothing stored
            return
        except AzureError as exc:
            raise StorageError(f"Azure Blob: {exc.message}") from exc
        except OSError as exc:
            raise StorageError(f"Azure Blob unreachable: {exc}") from exc

    async def delete_older(self, key: str, before: datetime) -> bool:
        check_key(key)
        aware(before)
        # conditional on the service's side (If-Unmodified-Since): a write after `before` is never deleted
        with _errors():
            try:
                await self.container.delete_blob(key, if_unmodified_since=before)
            except (ResourceNotFoundError, ResourceModifiedError):
                return False
        return True

    async def presigned_get(self, key: str, expires: timedelta, filename: str | None = None) -> str | None:
        check_key(key)
        now = datetime.now(UTC)
        # A service SAS signed with the account key (no user delegation): read this one blob, until `expires`; the
        # service answers with our Content-Disposition, so the browser saves it.
        sas = generate_blob_sas(
            self.account_name,
            self.container.container_name,
            key,
            account_key=self._account_key,
            permission=BlobSasPermissions(read=True),
            start=now - _CLOCK_SKEW,
            expiry=now + expires,
            content_disposition=attachment(filename),
        )
        return f"{self.container.get_blob_client(key).url}?{sas}"

    async def check(self) -> None:
        await self._ensure_container()
        probe = f"_probe/{uuid.uuid4().hex}"  # per check: replicas checking at once never share one
        await self.put(probe, b"ok", "text/plain")
        try:
            if await self.get(probe) != b"ok":
                raise StorageError("Azure Blob: the probe read back differs from what was written")
        except ObjectNotFound:
            raise StorageError("Azure Blob: the probe just written is not there") from None
        finally:
            await self.delete(probe)

    async def close(self) -> None:
        await self.client.close()

"""Objects in MinIO or any S3-compatible store, through the minio SDK (synchronous, so run in threads)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import itertools
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any, BinaryIO, TypeVar

import urllib3
from minio import Minio
from minio.error import MinioException, S3Error

from infra.storage.base import ListedObject, ObjectInfo, ObjectNotFound, StorageError, attachment, aware, check_key

R = TypeVar("R")
_MISSING = {"NoSuchKey", "NoSuchObject", "NoSuchBucket"}
PART_SIZE = 8 * 1024 * 1024  # S3 asks at least 5 MiB per part but the last
LIST_PAGE = 1000  # S3's most keys in one ListObjectsV2 answer


class MinioStore:
    name = "minio"

    def __init__(self, endpoint: str, access_key: str, secret_key: str, bucket: str, secure: bool = False) -> None:
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=3, read=30),
            retries=urllib3.Retry(total=3, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
            maxsize=16,
        )
        self.client = Minio(endpoint, access_key, secret_key, secure=secure, http_client=http)
        self.bucket = bucket
        self._bucket_ready = False

    async def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return

        def make() -> None:
            if not self.client.bucket_exists(self.bucket):
                try:
                    self.client.make_bucket(self.bucket)
                except S3Error as exc:
                    if exc.code not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                        raise

        await self._call(make)
        self._bucket_ready = True

    async def _call(self, fn: Callable[..., R], *args: Any) -> R:
        try:
            return await asyncio.to_thread(fn, *args)
        except S3Error as exc:
            if exc.code in _MISSING:
                raise ObjectNotFound("no such object") from None
            raise StorageError(f"MinIO: {exc.code}: {exc.message}") from exc
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise StorageError(f"MinIO unreachable: {exc}") from exc

    async def put(self, key: str, data: bytes, content_type: str) -> ObjectInfo:
        return await self.put_file(key, io.BytesIO(data), len(data), hashlib.sha256(data).hexdigest(), content_type)

    async def put_file(self, key: str, file: BinaryIO, size: int, sha256: str, content_type: str) -> ObjectInfo:
        check_key(key)
        await self._ensure_bucket()

        def upload() -> None:
            # A single PUT, or a multipart upload of PART_SIZE parts (the most held in memory) completed at the
            # end, is atomic: readers see all or nothing.
            self.client.put_object(
                self.bucket,
                key,
                file,
                size,
                content_type=content_type,
                metadata={"x-amz-meta-sha256": sha256},
                part_size=PART_SIZE,
            )

        await self._call(upload)
        return ObjectInfo(key, size, sha256, content_type)

    async def get(self, key: str) -> bytes:
        check_key(key)

        def download() -> bytes:
            resp = self.client.get_object(self.bucket, key)
            try:
                return resp.read()
            finally:
                resp.close()
                resp.release_conn()

        return await self._call(download)

    async def exists(self, key: str) -> bool:
        check_key(key)
        try:
            await self._call(self.client.stat_object, self.bucket, key)
        except ObjectNotFound:
            return False
        return True

    async def delete(self, key: str) -> None:
        check_key(key)
        await self._call(self.client.remove_object, self.bucket, key)

    async def list_older(self, prefix: str, before: datetime) -> AsyncIterator[ListedObject]:
        aware(before)
        after: str | None = None
        while True:

            def page(start_after: str | None = after) -> list[tuple[str, datetime | None]]:
                # a fresh listing from the last key seen, one ListObjectsV2 request: nothing held between pages
                listed = self.client.list_objects(self.bucket, prefix=prefix, recursive=True, start_after=start_after)
                return [(o.object_name or "", o.last_modified) for o in itertools.islice(listed, LIST_PAGE)]

            try:
                objects = await self._call(page)
            except ObjectNotFound:  # no bucket yet: nothing stored
                return
            for key, modified in objects:
                if modified is not None and modified < before:
                    yield ListedObject(key, modified)
            if len(objects) < LIST_PAGE:
                return
            after = objects[-1][0]

    async def delete_older(self, key: str, before: datetime) -> bool:
        check_key(key)
        aware(before)
        # S3 deletes unconditionally: the object's time is read just before (a write in the milliseconds between
        # the two is the one case this cannot tell)
        try:
            stat = await self._call(self.client.stat_object, self.bucket, key)
        except ObjectNotFound:
            return False
        if stat.last_modified is None or stat.last_modified >= before:
            return False
        await self._call(self.client.remove_object, self.bucket, key)
        return True

    async def presigned_get(self, key: str, expires: timedelta, filename: str | None = None) -> str | None:
        check_key(key)
        headers = {"response-content-disposition": attachment(filename)}
        return await self._call(self.client.presigned_get_object, self.bucket, key, expires, headers)

    async def check(self) -> None:
        await self._ensure_bucket()
        await self._call(self.client.bucket_exists, self.bucket)

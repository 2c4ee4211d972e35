"""Objects in MinIO or any S3-compatible store, through the minio SDK (synchronous, so run in threads)."""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import Callable
from datetime import timedelta
from typing import Any, BinaryIO, TypeVar

import urllib3
from minio import Minio
from minio.error import MinioException, S3Error

from infra.storage.base import ObjectInfo, ObjectNotFound, StorageError, attachment, check_key

R = TypeVar("R")
_MISSING = {"NoSuchKey", "NoSuchObject", "NoSuchBucket"}
PART_SIZE = 8 * 1024 * 1024  # S3 asks at least 5 MiB per part but the last


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

    async def presigned_get(self, key: str, expires: timedelta, filename: str | None = None) -> str | None:
        check_key(key)
        headers = {"response-content-disposition": attachment(filename)}
        return await self._call(self.client.presigned_get_object, self.bucket, key, expires, headers)

    async def check(self) -> None:
        await self._ensure_bucket()
        await self._call(self.client.bucket_exists, self.bucket)

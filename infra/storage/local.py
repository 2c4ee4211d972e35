"""Objects as files under one directory: the embedded default."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

from infra.storage.base import ObjectInfo, ObjectNotFound, StorageError, check_key

_CHUNK = 1024 * 1024


class LocalDirStore:
    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _write(self, key: str, file: BinaryIO) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write beside the target and rename: a crash leaves a stray temp file, never a half object.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as fh:
                shutil.copyfileobj(file, fh, _CHUNK)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def put(self, key: str, data: bytes, content_type: str) -> ObjectInfo:
        return await self.put_file(key, io.BytesIO(data), len(data), hashlib.sha256(data).hexdigest(), content_type)

    async def put_file(self, key: str, file: BinaryIO, size: int, sha256: str, content_type: str) -> ObjectInfo:
        await asyncio.to_thread(self._write, key, file)
        return ObjectInfo(key, size, sha256, content_type)

    async def get(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self._path(key).read_bytes)
        except FileNotFoundError:
            raise ObjectNotFound(f"no object {key!r}") from None

    async def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    async def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    async def presigned_get(self, key: str, expires: timedelta, filename: str | None = None) -> str | None:
        return None

    async def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".probe"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            raise StorageError(f"local store {self.root} is not writable: {exc}") from exc

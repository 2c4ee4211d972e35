"""Objects as files under one directory: the embedded default."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from datetime import timedelta
from pathlib import Path

from infra.storage.base import ObjectInfo, ObjectNotFound, StorageError, check_key


class LocalDirStore:
    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _write(self, key: str, data: bytes) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write beside the target and rename: a crash leaves a stray temp file, never a half object.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def put(self, key: str, data: bytes, content_type: str) -> ObjectInfo:
        await asyncio.to_thread(self._write, key, data)
        return ObjectInfo(key, len(data), hashlib.sha256(data).hexdigest(), content_type)

    async def get(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self._path(key).read_bytes)
        except FileNotFoundError:
            raise ObjectNotFound(f"no object {key!r}") from None

    async def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    async def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    async def presigned_get(self, key: str, expires: timedelta) -> str | None:
        return None

    async def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".probe"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            raise StorageError(f"local store {self.root} is not writable: {exc}") from exc

"""Objects as files under one directory: the embedded default."""

from __future__ import annotations

import asyncio
import hashlib
import io
import itertools
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from infra.storage.base import ListedObject, ObjectInfo, ObjectNotFound, StorageError, aware, check_key

_CHUNK = 1024 * 1024
_LIST_PAGE = 1000


def _modified(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


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

    def _walk(self, prefix: str) -> Iterator[ListedObject]:
        """Every file under the prefix's folder whose key starts with it; dot files (an upload's temporary file,
        the check's probe) are not objects."""
        top = self.root / prefix.rpartition("/")[0]
        for folder, dirs, files in os.walk(top):
            dirs.sort()
            for name in sorted(files):
                if name.startswith("."):
                    continue
                path = Path(folder) / name
                key = path.relative_to(self.root).as_posix()
                if not key.startswith(prefix):
                    continue
                try:
                    yield ListedObject(key, _modified(path))
                except FileNotFoundError:  # deleted since the folder was read
                    continue

    async def list_older(self, prefix: str, before: datetime) -> AsyncIterator[ListedObject]:
        aware(before)
        if prefix:
            check_key(prefix)  # a folder under the root, never above it
        walk = self._walk(prefix)
        while page := await asyncio.to_thread(lambda: list(itertools.islice(walk, _LIST_PAGE))):
            for listed in page:
                if listed.last_modified < before:
                    yield listed

    async def delete_older(self, key: str, before: datetime) -> bool:
        path = self._path(key)
        aware(before)
        # read just before deleting: a write in the moment between the two is the one case this cannot tell
        try:
            if _modified(path) >= before:
                return False
            path.unlink()
        except FileNotFoundError:
            return False
        return True

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

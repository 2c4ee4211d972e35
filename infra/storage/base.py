"""The object-storage facade: one Protocol, one backend per file."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import BinaryIO, Protocol
from urllib.parse import quote

from messages.errors import InvalidInput, NotFound, RetryableError

_KEY = re.compile(r"^[A-Za-z0-9!_.*'()/-]{1,900}$")


class StorageError(RetryableError):
    """The object store did not answer or failed; the operation may be retried."""


class ObjectNotFound(NotFound):
    """No object under that key."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    sha256: str
    content_type: str


@dataclass(frozen=True)
class ListedObject:
    key: str
    last_modified: datetime  # when it was last written, by the store's clock (UTC)


def aware(moment: datetime) -> datetime:
    """A cut-off must say its time zone: a naive one would be read in the host's and move by hours."""
    if moment.tzinfo is None:
        raise ValueError("a naive datetime: give a time zone (UTC)")
    return moment


def attachment(filename: str | None) -> str:
    """A Content-Disposition that makes a browser save, with the name in UTF-8 (RFC 6266, RFC 5987)."""
    if not filename:
        return "attachment"
    ascii_name = re.sub(r'[^\x20-\x7e]|["\\]', "_", filename)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


def check_key(key: str) -> str:
    """Keys are ours, never a user's file name: no `..`, no leading slash, a safe alphabet."""
    if not _KEY.match(key) or key.startswith("/") or ".." in key.split("/"):
        raise InvalidInput(f"invalid object key {key!r}")
    return key


class ObjectStore(Protocol):
    name: str

    async def put(self, key: str, data: bytes, content_type: str) -> ObjectInfo: ...

    async def put_file(self, key: str, file: BinaryIO, size: int, sha256: str, content_type: str) -> ObjectInfo:
        """`size` bytes read from `file`'s current position, whose `sha256` the caller computed on the way in:
        streamed, never whole in memory. Whole or not at all, like `put`."""
        ...

    async def get(self, key: str) -> bytes: ...

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None: ...

    def list_older(self, prefix: str, before: datetime) -> AsyncIterator[ListedObject]:
        """The objects whose key starts with `prefix` that were last written before `before`, read from the backend
        a page at a time (never the whole listing in memory). Deleting what was listed while listing is allowed."""
        ...

    async def delete_older(self, key: str, before: datetime) -> bool:
        """Delete the object only if it was last written before `before` (a write since, say a retry storing the same
        key again, keeps it); True when this call deleted it, False when it was younger or gone already."""
        ...

    async def presigned_get(self, key: str, expires: timedelta, filename: str | None = None) -> str | None:
        """A time-limited URL a browser can fetch directly, or None where the backend has none. The browser saves
        what it fetches (as `filename`), never shows it inline: a document is not a page of ours."""
        ...

    async def check(self) -> None:
        """Raise StorageError unless the store is reachable and writable."""
        ...

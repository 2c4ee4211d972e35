"""The asyncpg pool: JSON and JSONB decoded to Python values on every connection, and bounded waits."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg
import orjson
from asyncpg.pool import PoolAcquireContext, PoolConnectionProxy

# What a function that runs SQL accepts: a bare connection or one borrowed from a pool.
Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"


def _json(value: Any) -> str:
    """orjson, but an integer beyond 64 bits (which JSON allows and jsonb keeps exactly) through the standard
    library rather than a 500."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, ensure_ascii=False, default=_plain)


def _plain(value: Any) -> str:
    """What orjson writes for the types it knows beyond JSON's (datetimes, UUIDs)."""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


async def _init_connection(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(
            typ,
            encoder=_json,
            decoder=orjson.loads,
            schema="pg_catalog",
        )


async def _keep_session(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """asyncpg resets a connection returned to its pool with a round trip (unlisten, reset all, advisory unlock);
    ours change no session state on pooled connections (LISTEN has a connection of its own): only a transaction
    left open by a cancelled caller is undone."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


@dataclass(frozen=True)
class Limits:
    """How long work waits on PostgreSQL before it fails with an error `infra.faults` calls transient.

    A server that stops answering (paused, or gone without closing its sockets) would otherwise hold every caller
    for ever: a statement past `statement_s` is cancelled (the cancellation itself may take as long again, then the
    connection is dropped), a caller that gets no connection within `acquire_s` gives up, and so does a new
    connection not made within `connect_s`."""

    statement_s: float
    acquire_s: float
    connect_s: float


# What a person waits for (the HTTP API, the case shards): an unresponsive server becomes a 503 within about
# 2 × 8 s, before clients and proxies give up at 30 s.
INTERACTIVE = Limits(statement_s=8, acquire_s=5, connect_s=5)
# Background work (process steps, the outbox relay, the catalog's sync): its retries absorb the wait, and a bulk
# statement may legitimately take long.
BACKGROUND = Limits(statement_s=30, acquire_s=30, connect_s=10)


if TYPE_CHECKING:
    _Pool = asyncpg.Pool[asyncpg.Record]
else:  # not subscriptable at run time
    _Pool = asyncpg.Pool


class Pool(_Pool):
    """asyncpg's pool, whose `acquire` (and so `fetch`, `execute`, ...) waits at most `acquire_s` by default."""

    def __init__(self, dsn: str, *, acquire_s: float, **kwargs: Any) -> None:
        super().__init__(dsn, **kwargs)
        self._acquire_s = acquire_s

    def acquire(self, *, timeout: float | None = None) -> PoolAcquireContext[asyncpg.Record]:
        return super().acquire(timeout=self._acquire_s if timeout is None else timeout)


async def create_pool(
    dsn: str, min_size: int = 1, max_size: int = 10, *, limits: Limits = BACKGROUND
) -> asyncpg.Pool[asyncpg.Record]:
    """A pool on `dsn`: one host, or a primary and its standbys (`postgresql://u:p@h1:5432,h2:5432/kep?
    target_session_attrs=read-write`), where asyncpg connects to the first that takes writes. A switchover closes
    the old primary's connections: the statements on them fail with errors `infra.faults` calls transient, the
    pool replaces each connection on its next use, and the retry finds the new primary."""
    pool = Pool(
        dsn,
        acquire_s=limits.acquire_s,
        min_size=min_size,
        max_size=max_size,
        max_queries=50_000,  # asyncpg's defaults, which its Pool does not have
        max_inactive_connection_lifetime=300.0,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        init=_init_connection,
        reset=_keep_session,
        command_timeout=limits.statement_s,
        timeout=limits.connect_s,
        server_settings={"application_name": "kep-backoffice"},
    )
    await pool
    return pool


@contextlib.asynccontextmanager
async def advisory_lock(pool: asyncpg.Pool[asyncpg.Record], key: str) -> AsyncIterator[None]:
    """Holds PostgreSQL's transaction-scoped advisory lock on `key` (hashed to 64 bits) while the block runs:
    every process that takes the same key waits its turn, and a crash releases it."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)
        yield


def like_escape(text: str) -> str:
    """`text` as a literal inside a LIKE pattern: its `%` and `_` match themselves, not any run or any character
    (backslash is PostgreSQL's default LIKE escape)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")

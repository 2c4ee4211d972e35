"""The asyncpg pool: JSON and JSONB decoded to Python values on every connection."""

from __future__ import annotations

from typing import TypeAlias

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

# What a function that runs SQL accepts: a bare connection or one borrowed from a pool.
Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"


async def _init_connection(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(
            typ,
            encoder=lambda v: orjson.dumps(v).decode(),
            decoder=orjson.loads,
            schema="pg_catalog",
        )


async def _keep_session(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """asyncpg resets a connection returned to its pool with a round trip (unlisten, reset all, advisory unlock);
    ours change no session state on pooled connections (LISTEN has a connection of its own): only a transaction
    left open by a cancelled caller is undone."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def create_pool(dsn: str, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool[asyncpg.Record]:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        command_timeout=30,
        server_settings={"application_name": "kep-backoffice"},
    )
    assert pool is not None
    return pool

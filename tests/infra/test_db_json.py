"""JSON through the pool's codec: what orjson refuses (an integer beyond 64 bits, which JSON allows and a client may
send in a form) is stored exactly, not a 500."""

from __future__ import annotations

import asyncpg


async def test_an_integer_beyond_64_bits_round_trips_exactly(pool: asyncpg.Pool[asyncpg.Record]) -> None:
    value = {"n": 2**70, "m": -(2**65), "small": 1, "text": "Ελένη"}
    assert await pool.fetchval("SELECT $1::jsonb", value) == value
    assert await pool.fetchval("SELECT ($1::jsonb)->>'n'", value) == str(2**70)

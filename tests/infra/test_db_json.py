"""JSON through the pool's codec: what orjson refuses (an integer beyond 64 bits, which JSON allows and a client may
send in a form) is stored exactly, not a 500."""

from __future__ import annotations

import asyncpg


async def test_an_integer_beyond_64_bits_round_trips_exactly(pool: asyncpg.Pool[asyncpg.Record]) -> None:
    value = {"n": 2**70, "m": -(2**65), "small": 1, "text": "Ελένη"}
    assert await pool.fetchval("SELECT $1::jsonb", value) == value
    assert await pool.fetchval("SELECT ($1::jsonb)->>'n'", value) == str(2**70)


def test_a_key_protects_a_body_with_an_integer_beyond_64_bits() -> None:
    from actors.cases.idempotency import fingerprint

    body = {"data": {"n": -(2**110)}, "version": 3}
    assert fingerprint("PUT /api/cases/{id}/form", None, body) == fingerprint("PUT /api/cases/{id}/form", None, body)
    assert fingerprint("PUT /api/cases/{id}/form", None, body) != fingerprint("PUT /api/cases/{id}/form", None, {})

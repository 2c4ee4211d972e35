"""A replica's copy of the EUGO catalogue: PostgreSQL read once per version, at most once per interval; a change of
the catalogue seen at the next look; a stale copy answered while PostgreSQL is away."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest

from actors.eugo.catalogue import Catalogue, Snapshot


class CountingPool:
    """The pool, counting the connections taken from it; `down` makes taking one fail as a refused connection."""

    def __init__(self, pool: asyncpg.Pool[asyncpg.Record]) -> None:
        self.pool, self.taken, self.down = pool, 0, False

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        self.taken += 1
        if self.down:
            raise ConnectionRefusedError("PostgreSQL is away")
        async with self.pool.acquire() as conn:
            yield conn


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def insert_eugo(pool: asyncpg.Pool[asyncpg.Record]) -> uuid.UUID:
    pid = uuid.uuid4()
    await pool.execute(
        """INSERT INTO procedures (id, mitos_id, title_el, payload, active, eugo)
           VALUES ($1, $2, $3, '{}', true, true)""",
        pid,
        str(uuid.uuid4().int % 10**12),
        f"Άδεια {pid.hex[:8]}",
    )
    return pid


def titles(snap: Snapshot) -> bytes:
    return ",".join(sorted(str(i) for i in snap.services)).encode()


async def test_postgresql_is_read_once_per_version_and_interval(pool: asyncpg.Pool[asyncpg.Record]) -> None:
    counting, clock = CountingPool(pool), Clock()
    catalogue = Catalogue(revalidate_s=2.0, clock=clock)
    first = await insert_eugo(pool)
    # given a first answer
    answer, kept = await catalogue.answer(counting, ("all",), titles)  # type: ignore[arg-type]
    assert (kept, counting.taken) == (False, 1)
    assert str(first).encode() in answer.body
    # when the same is asked a hundred times within the interval: no connection is taken
    for _ in range(100):
        again, kept = await catalogue.answer(counting, ("all",), titles)  # type: ignore[arg-type]
        assert (again, kept) == (answer, True)
    assert counting.taken == 1
    # past the interval, an unchanged catalogue costs one look and no reload
    snapshot = await catalogue.snapshot(counting)  # type: ignore[arg-type]
    clock.now += 2.5
    assert await catalogue.snapshot(counting) is snapshot  # type: ignore[arg-type]
    assert counting.taken == 2
    # a new EUGO procedure is seen at the next look, with new answers
    second = await insert_eugo(pool)
    assert (await catalogue.answer(counting, ("all",), titles))[1] is True  # type: ignore[arg-type]
    clock.now += 2.5
    changed, kept = await catalogue.answer(counting, ("all",), titles)  # type: ignore[arg-type]
    assert not kept
    assert str(second).encode() in changed.body
    assert changed.etag != answer.etag


async def test_a_stale_copy_is_answered_while_postgresql_is_away(pool: asyncpg.Pool[asyncpg.Record]) -> None:
    counting, clock = CountingPool(pool), Clock()
    catalogue = Catalogue(revalidate_s=2.0, clock=clock)
    await insert_eugo(pool)
    answer, _ = await catalogue.answer(counting, ("all",), titles)  # type: ignore[arg-type]
    counting.down = True
    clock.now += 10
    assert (await catalogue.answer(counting, ("all",), titles)) == (answer, True)  # type: ignore[arg-type]
    # a replica with nothing yet has nothing to answer from
    with pytest.raises(ConnectionRefusedError):
        await Catalogue(clock=clock).snapshot(counting)  # type: ignore[arg-type]

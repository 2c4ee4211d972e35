"""The effect ledger: every call that changes something outside (a mailbox posting, a ΚΣΗΔΕ document) happens
once per process step, however often its task is delivered, re-fetched after a lost lock, or run again after the
worker died between the remote answer and the engine hearing of it.

An effect is keyed like the case commands of the steps: (process instance, activity instance, effect). Its row
is written `started` before the remote call, with the idempotency key the call carries (the remote side answers a
repeated key with what it made the first time); whatever the remote side names on the way (a protocol number) is
written at once (`progress`); `done` holds the step's result, which every later run returns without calling
anyone. Runs of one effect take turns (an advisory lock held through the call): a task re-fetched while its first run
still waits on the remote side waits for that run and finds it done.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from infra.db import Conn

_NS = uuid.UUID("6b0f6c1e-55a3-4c3e-8a51-2f4d1c9e7b20")


@dataclass(frozen=True)
class EffectKey:
    process_instance_id: str
    activity_instance_id: str
    effect: str

    def __str__(self) -> str:
        return f"{self.process_instance_id}/{self.activity_instance_id}/{self.effect}"

    @property
    def idempotency_key(self) -> uuid.UUID:
        """What the remote side sees: stable for the effect, and not our internal ids."""
        return uuid.uuid5(_NS, str(self))


@dataclass(frozen=True)
class Attempt:
    """What a run of the effect knows: its idempotency key, what an earlier run left (its remote reference), and
    how to record a remote reference the moment the remote side gives one."""

    key: EffectKey
    attempt: int
    remote_ref: str | None
    progress: Callable[[str], Awaitable[None]]

    @property
    def idempotency_key(self) -> uuid.UUID:
        return self.key.idempotency_key


Call = Callable[[Attempt], Awaitable[dict[str, Any]]]


async def once(
    pool: asyncpg.Pool[asyncpg.Record], key: EffectKey, *, case_id: uuid.UUID, adapter: str, call: Call
) -> dict[str, Any]:
    """The effect's result: recorded by an earlier run, or `call`ed now (and recorded). A failure leaves the row
    `started` with what it got: the next run carries on from there with the same idempotency key."""
    async with pool.acquire() as conn:
        # a session lock on the connection the effect's statements use: each of them commits on its own (the
        # remote reference must outlive a crash during the call)
        await conn.execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", f"effect:{key}")
        try:
            return await _run(conn, key, case_id, adapter, call)
        finally:
            try:
                await conn.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", f"effect:{key}")
            except BaseException:
                # the pool does not reset what a session holds (infra/db): a lock that could not be given back
                # goes with its connection, never to the next borrower
                conn.terminate()
                raise


async def _run(conn: Conn, key: EffectKey, case_id: uuid.UUID, adapter: str, call: Call) -> dict[str, Any]:
    row = await conn.fetchrow(
        """INSERT INTO external_effects (key, case_id, adapter, effect, idempotency_key, state)
           VALUES ($1, $2, $3, $4, $5, 'started')
           ON CONFLICT (key) DO UPDATE
             SET attempts = external_effects.attempts + (external_effects.state = 'started')::int
           RETURNING state, result, remote_ref, attempts""",
        str(key),
        case_id,
        adapter,
        key.effect,
        key.idempotency_key,
    )
    assert row is not None
    if row["state"] == "done":
        done: dict[str, Any] = row["result"]
        return done

    async def progress(remote_ref: str) -> None:
        await conn.execute("UPDATE external_effects SET remote_ref = $2 WHERE key = $1", str(key), remote_ref)

    result = await call(Attempt(key, row["attempts"], row["remote_ref"], progress))
    await conn.execute(
        "UPDATE external_effects SET state = 'done', result = $2, done_at = now() WHERE key = $1",
        str(key),
        result,
    )
    return result


async def recorded(conn: Conn, key: EffectKey) -> str | None:
    """The effect's state (`started`, `done`), None when no run began."""
    state: str | None = await conn.fetchval("SELECT state FROM external_effects WHERE key = $1", str(key))
    return state

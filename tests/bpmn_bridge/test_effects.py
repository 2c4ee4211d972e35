"""Effects keyed by (process instance, activity instance, effect) happen once, whatever the deliveries."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest

from bpmn_bridge.effects import EffectKey, once
from infra.db import Conn


async def test_a_redelivered_task_gets_the_first_result_and_acts_once(pool: asyncpg.Pool[asyncpg.Record]) -> None:
    key = EffectKey(f"pi-{uuid.uuid4()}", "send:1", "mailbox")
    calls = 0

    async def act(conn: Conn) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)  # long enough for the concurrent deliveries to meet
        return {"message_id": f"m-{calls}"}

    async def deliver() -> dict[str, Any]:
        async with pool.acquire() as conn:
            return await once(conn, key, act)

    results = await asyncio.gather(*(deliver() for _ in range(5)))
    assert calls == 1
    assert results == [{"message_id": "m-1"}] * 5


async def test_a_failed_effect_leaves_no_row_and_runs_again(pool: asyncpg.Pool[asyncpg.Record]) -> None:
    key = EffectKey(f"pi-{uuid.uuid4()}", "act:1", "status")

    async def broken(conn: Conn) -> dict[str, Any]:
        raise OSError("connection reset")

    async with pool.acquire() as conn:
        with pytest.raises(OSError, match="reset"):
            await once(conn, key, broken)

        async def works(conn: Conn) -> dict[str, Any]:
            return {"done": True}

        assert await once(conn, key, works) == {"done": True}


def test_the_idempotency_key_is_stable_and_distinct() -> None:
    a = EffectKey("pi", "act:1", "mailbox")
    assert a.idempotency_key == EffectKey("pi", "act:1", "mailbox").idempotency_key
    assert a.idempotency_key != EffectKey("pi", "act:2", "mailbox").idempotency_key

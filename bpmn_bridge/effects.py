"""Exactly-once effects for task handlers, keyed by (process instance, activity instance, effect).

A handler that changes our own data does it inside `once(...)`: the change and the ledger row commit together, so a
task delivered twice (a worker crash before its ack, a lock that expired, the bridge restarting) finds the row and
gets the first run's result back instead of acting again. An effect on an outside system sends `key.idempotency_key`
with the request (the remote side deduplicates) and records the answer here.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from infra.db import Conn
from messages.tasks import TaskCommand

_NS = uuid.UUID("3f1a8c52-6d2e-4b7a-9c1f-0e5d7a2b4c68")


@dataclass(frozen=True)
class EffectKey:
    process_instance_id: str
    activity_instance_id: str
    effect: str

    @classmethod
    def of(cls, task: TaskCommand, effect: str) -> EffectKey:
        return cls(task.process_instance_id, task.activity_instance_id, effect)

    @property
    def idempotency_key(self) -> uuid.UUID:
        """Stable across deliveries: the id a command or a remote request carries so the other side applies it once."""
        return uuid.uuid5(_NS, f"{self.process_instance_id}/{self.activity_instance_id}/{self.effect}")


async def once(conn: Conn, key: EffectKey, act: Callable[[Conn], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """Run `act` in a transaction with the ledger row, unless the row is there already; its result either way."""
    async with conn.transaction():
        # the row lock serialises two deliveries of the same task racing each other
        done = await conn.fetchval(
            """INSERT INTO task_effects (process_instance_id, activity_instance_id, effect) VALUES ($1, $2, $3)
               ON CONFLICT DO NOTHING RETURNING false""",
            key.process_instance_id,
            key.activity_instance_id,
            key.effect,
        )
        if done is None:
            stored: dict[str, Any] = await conn.fetchval(
                """SELECT result FROM task_effects
                   WHERE process_instance_id = $1 AND activity_instance_id = $2 AND effect = $3""",
                key.process_instance_id,
                key.activity_instance_id,
                key.effect,
            )
            return stored
        result = await act(conn)
        await conn.execute(
            """UPDATE task_effects SET result = $4
               WHERE process_instance_id = $1 AND activity_instance_id = $2 AND effect = $3""",
            key.process_instance_id,
            key.activity_instance_id,
            key.effect,
            result,
        )
        return result

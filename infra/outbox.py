"""The transactional outbox: events are written with the change they report and published later by the relay."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from infra.db import Conn
from messages.envelope import Envelope

COLUMNS = "(id, type, routing_key, envelope)"


def values(envelope: Envelope[Any], routing_key: str) -> tuple[Any, ...]:
    """An event's row, in the order of COLUMNS: for a caller that writes it in a statement of its own."""
    return envelope.id, envelope.type, routing_key, envelope.model_dump(mode="json")


async def enqueue(conn: Conn, envelope: Envelope[Any], routing_key: str) -> None:
    """Must run inside the caller's transaction: the event exists exactly when the change does."""
    await conn.execute(f"INSERT INTO outbox {COLUMNS} VALUES ($1, $2, $3, $4)", *values(envelope, routing_key))  # noqa: S608


@dataclass(frozen=True)
class PendingEvent:
    id: uuid.UUID
    type: str
    routing_key: str
    envelope: dict[str, Any]
    correlation_id: str | None


async def claim(conn: Conn, limit: int) -> list[PendingEvent]:
    """Oldest unpublished events, locked so that a second relay skips them; call inside a transaction."""
    rows = await conn.fetch(
        """
        SELECT id, type, routing_key, envelope FROM outbox
        WHERE published_at IS NULL
        ORDER BY created_at, id
        LIMIT $1
        FOR UPDATE SKIP LOCKED
        """,
        limit,
    )
    return [
        PendingEvent(r["id"], r["type"], r["routing_key"], r["envelope"], r["envelope"].get("correlationid"))
        for r in rows
    ]


async def mark_published(conn: Conn, ids: list[uuid.UUID]) -> None:
    await conn.execute(
        "UPDATE outbox SET published_at = now(), attempts = attempts + 1 WHERE id = ANY($1::uuid[])", ids
    )


def json_bytes(envelope: dict[str, Any]) -> bytes:
    return orjson.dumps(envelope)

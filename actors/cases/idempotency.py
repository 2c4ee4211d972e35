"""Idempotency keys: a client that retries with the same key gets the first answer, and a key reused for another
request is refused (IETF draft-ietf-httpapi-idempotency-key-header).

A key belongs to (office, caller): colleagues never replay each other's requests. What it protects is its
fingerprint (route, case, action, body); the answer is stored in the transaction of the change it answers, so a
crash leaves either both or neither. Keys are kept for a day.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from infra.db import Conn
from messages.cases import IdempotencyKey
from messages.errors import InvalidInput

_NS = uuid.UUID("9b3d2c1e-58a4-4f0e-b6a7-2d1c0e9f8a71")
TTL = "24 hours"
HEADER_POINTER = "/idempotency-key"  # where FastAPI's own header errors point


def fingerprint(route: str, case_id: uuid.UUID | None, body: Any) -> str:
    """What a key protects: the route, the case and the request body, canonically (key order does not count)."""
    what = {"route": route, "case": str(case_id) if case_id else None, "body": body}
    try:
        canonical = orjson.dumps(what, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits (JSON allows it): the standard library writes it
        canonical = json.dumps(what, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(canonical).hexdigest()


def derived_id(office_id: uuid.UUID, subject: str, key: str, what: str = "command") -> uuid.UUID:
    """A stable id for what a keyed request creates (its command, its document): a retry gets the same one."""
    return uuid.uuid5(_NS, f"{what}/{office_id}/{subject}/{key}")


@dataclass(frozen=True)
class Stored:
    status: int
    answer: dict[str, Any]


async def claim(*, conn: Conn, office_id: uuid.UUID, subject: str, idem: IdempotencyKey) -> Stored | None:
    """Inside the transaction of the change: take the key for this request (None), or the answer it got before.

    A concurrent request with the same key waits on the key's row until the first commits, then gets its answer;
    if the first rolls back, the second does the work."""
    taken = await conn.fetchval(
        f"""INSERT INTO idempotency_keys (office_id, subject, key, fingerprint) VALUES ($1, $2, $3, $4)
            ON CONFLICT (office_id, subject, key) DO UPDATE
                SET fingerprint = EXCLUDED.fingerprint, status = NULL, answer = NULL, created_at = now()
                WHERE idempotency_keys.created_at < now() - interval '{TTL}'
            RETURNING true""",  # noqa: S608 (a constant interval)
        office_id,
        subject,
        idem.key,
        idem.fingerprint,
    )
    if taken:
        return None
    return await lookup(conn=conn, office_id=office_id, subject=subject, idem=idem)


async def lookup(*, conn: Conn, office_id: uuid.UUID, subject: str, idem: IdempotencyKey) -> Stored | None:
    """The answer stored under the key, if any; 422 when the key was used for another request."""
    row = await conn.fetchrow(
        f"""SELECT fingerprint, status, answer FROM idempotency_keys
            WHERE office_id = $1 AND subject = $2 AND key = $3 AND created_at >= now() - interval '{TTL}'""",  # noqa: S608
        office_id,
        subject,
        idem.key,
    )
    if row is None or row["status"] is None:
        return None
    if row["fingerprint"] != idem.fingerprint:
        raise InvalidInput.at(
            HEADER_POINTER, "this Idempotency-Key was used for another request; use a new key", "idempotency_key"
        )
    return Stored(row["status"], row["answer"])


async def remember(
    *, conn: Conn, office_id: uuid.UUID, subject: str, idem: IdempotencyKey, status: int, answer: dict[str, Any]
) -> None:
    await conn.execute(
        "UPDATE idempotency_keys SET status = $4, answer = $5 WHERE office_id = $1 AND subject = $2 AND key = $3",
        office_id,
        subject,
        idem.key,
        status,
        answer,
    )


async def purge(*, conn: Conn) -> int:
    """Drop the keys past their day; returns how many."""
    status: str = await conn.execute(
        f"DELETE FROM idempotency_keys WHERE created_at < now() - interval '{TTL}'"  # noqa: S608
    )
    return int(status.split()[-1])

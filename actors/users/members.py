"""A user's membership as the `users` table holds it: the office the user works for, the roles administrators gave
them and whether the account is active. The identity provider vouches for who calls; this table, which
administrators keep, for what they may do."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class Member:
    subject: str
    office_id: uuid.UUID | None
    active: bool
    roles: frozenset[str]


async def find(pool: asyncpg.Pool[asyncpg.Record], subject: str) -> Member | None:
    row = await pool.fetchrow("SELECT office_id, active, roles FROM users WHERE subject = $1", subject)
    return None if row is None else Member(subject, row["office_id"], row["active"], frozenset(row["roles"]))

"""Cases handed over to another office (the `transfer` action): the checks the new office must pass, the record
both offices read (`case_transfers`), and what else moves with the case. The case's own row and events are the
store's (`store._apply`), in the same transaction."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from infra.db import Conn
from messages.cases import CaseCommand, CaseTransfer, TransferDirection
from messages.errors import InvalidInput


async def hand_over(conn: Conn, cmd: CaseCommand, case: asyncpg.Record, now: datetime) -> None:
    """Check that the office can take the case, then record the hand-over; what the inbox of ΚΣΗΔΕ attached to
    the case moves with it (the documents stay the case's: their office is the one that added or issued them)."""
    to = cmd.to_office_id
    assert to is not None  # lifecycle.plan refuses a transfer without one
    office = await conn.fetchrow(
        """SELECT o.active,
                  NOT EXISTS (SELECT 1 FROM procedure_offices WHERE procedure_id = $2)
                  OR EXISTS (SELECT 1 FROM procedure_offices WHERE procedure_id = $2 AND office_id = o.id) AS offers
           FROM offices o WHERE o.id = $1""",
        to,
        case["procedure_id"],
    )
    if office is None:
        raise InvalidInput.at("/office_id", "no such office", "office")
    if not office["active"]:
        raise InvalidInput.at("/office_id", "the office is not active", "office")
    if not office["offers"]:
        raise InvalidInput.at("/office_id", "the office does not offer the case's procedure", "procedure")
    await conn.execute("UPDATE kshde_incoming SET office_id = $2 WHERE case_id = $1", cmd.case_id, to)
    await conn.execute(
        """INSERT INTO case_transfers (case_id, command_id, from_office_id, to_office_id, actor, reason, request_id,
                                       routing, at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        cmd.case_id,
        cmd.command_id,
        case["office_id"],
        to,
        cmd.actor,
        cmd.reason,
        cmd.request_id,
        cmd.routing,
        now,
    )


_SELECT = """SELECT t.id, t.case_id, c.number, c.procedure_id, t.from_office_id, t.to_office_id, t.actor, t.reason,
                    t.routing, t.at
             FROM case_transfers t JOIN cases c ON c.id = t.case_id"""


async def office_transfers(
    *, conn: Conn, office_id: uuid.UUID, direction: TransferDirection, after: int | None, limit: int
) -> list[CaseTransfer]:
    """The hand-overs into (`in`) or out of (`out`) the office, newest first, from before the transfer `after`;
    one more than `limit` when there are more. Both offices read the record; only the new one reads the case."""
    column = "to_office_id" if direction is TransferDirection.IN else "from_office_id"
    rows = await conn.fetch(
        _SELECT + f" WHERE t.{column} = $1 AND ($2::bigint IS NULL OR t.id < $2) ORDER BY t.id DESC LIMIT $3",
        office_id,
        after,
        limit + 1,
    )
    return [CaseTransfer.model_validate(dict(r)) for r in rows]


async def case_transfers(*, conn: Conn, case_id: uuid.UUID) -> list[CaseTransfer]:
    """The case's hand-overs, oldest first (the reconciler: a case that moved is the one whose process may lag)."""
    rows = await conn.fetch(_SELECT + " WHERE t.case_id = $1 ORDER BY t.id", case_id)
    return [CaseTransfer.model_validate(dict(r)) for r in rows]

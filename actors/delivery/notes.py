"""How the delivery readers write on a case: as `system:delivery` (never a message to the case's process, see
actors/cases/lockstep.py), through the case's shard, with a command id derived from what was read, so that a reader
that reads the same thing twice records it once."""

from __future__ import annotations

import uuid

from actors.cases.lockstep import DELIVERY_ACTOR
from actors.cases.shards import CaseShards
from messages.cases import CaseAction, CaseCommand, DocumentView
from messages.roles import Role

READER_ROLES = frozenset({Role.SYSTEM.value})
NOTE_MAX = 4000  # what a note on the timeline holds
_NS = uuid.UUID("0c7e5f7a-3b8e-4f4e-9d7a-6a1f2b9c5d31")


def command_id(*parts: str) -> uuid.UUID:
    """The same for the same thing read: e.g. ("mailbox-status", posting id, status)."""
    return uuid.uuid5(_NS, "/".join(parts))


def clipped(text: str, limit: int = NOTE_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def note(cases: CaseShards, case_id: uuid.UUID, office_id: uuid.UUID, key: uuid.UUID, text: str) -> None:
    await cases.apply(CaseCommand(command_id=key, case_id=case_id, office_id=office_id, actor=DELIVERY_ACTOR,
                                  roles=READER_ROLES, action=CaseAction.NOTE, reason=clipped(text)))  # fmt: skip


async def attach(cases: CaseShards, office_id: uuid.UUID, document: DocumentView, key: uuid.UUID, reason: str) -> None:
    """A document next to the case, in any status (the system's, like an issued certificate)."""
    await cases.apply(CaseCommand(command_id=key, case_id=document.case_id, office_id=office_id,
                                  actor=DELIVERY_ACTOR, roles=READER_ROLES, action=CaseAction.ATTACH,
                                  reason=clipped(reason, 2000), document=document))  # fmt: skip

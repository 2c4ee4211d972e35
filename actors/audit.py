"""The administrators' audit trail (`admin_audit`): one row per change, written in the change's own transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from infra.db import Conn


async def record(
    conn: Conn,
    *,
    entity: str,
    entity_id: str,
    action: str,
    actor: str,
    request_id: str | None,
    reason: str | None,
    old: dict[str, Any],
    new: dict[str, Any],
) -> None:
    await conn.execute(
        """INSERT INTO admin_audit (entity, entity_id, action, actor, request_id, reason, old, new)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        entity,
        entity_id,
        action,
        actor,
        request_id,
        reason,
        old,
        new,
    )


@dataclass(frozen=True)
class Trail:
    """The audit trail of one kind of entity: `Trail("office").record(conn, office_id, "change", …)`."""

    entity: str

    async def record(
        self,
        conn: Conn,
        entity_id: uuid.UUID | str,
        action: str,
        actor: str,
        request_id: str | None,
        reason: str | None,
        old: dict[str, Any],
        new: dict[str, Any],
    ) -> None:
        await record(conn, entity=self.entity, entity_id=str(entity_id), action=action, actor=actor,
                     request_id=request_id, reason=reason, old=old, new=new)  # fmt: skip

"""A case's timeline: every change with old and new values, who, why and the request it came from."""

from __future__ import annotations

import uuid

from actors.cases.store import get_case
from infra.db import Conn
from messages.cases import TimelineEntry


async def timeline(
    *, conn: Conn, case_id: uuid.UUID, office_id: uuid.UUID, after: int = 0, limit: int | None = None
) -> list[TimelineEntry]:
    """The events after the event `after`, oldest first: `limit` of them (all when None)."""
    await get_case(conn=conn, case_id=case_id, office_id=office_id)  # 404 for another office's case
    rows = await conn.fetch(
        """SELECT id, type, actor, reason, request_id, old, new, at FROM case_events
           WHERE case_id = $1 AND id > $2 ORDER BY id LIMIT $3""",
        case_id,
        after,
        limit,
    )
    return [TimelineEntry.model_validate(dict(r)) for r in rows]

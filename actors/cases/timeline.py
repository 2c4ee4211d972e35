"""A case's timeline: every change with old and new values, who, why and the request it came from."""

from __future__ import annotations

import uuid

from actors.cases.store import get_case
from infra.db import Conn
from messages.cases import TimelineEntry


async def timeline(*, conn: Conn, case_id: uuid.UUID, office_id: uuid.UUID) -> list[TimelineEntry]:
    await get_case(conn=conn, case_id=case_id, office_id=office_id)  # 404 for another office's case
    rows = await conn.fetch(
        "SELECT id, type, actor, reason, request_id, old, new, at FROM case_events WHERE case_id = $1 ORDER BY id",
        case_id,
    )
    return [TimelineEntry.model_validate(dict(r)) for r in rows]

"""Server-Sent Events: an office's case changes, live, to that office's staff only.

The office comes from the caller's token, never from the request, so no parameter can open another office's
stream. `Last-Event-ID` (sent by browsers on reconnect) resumes after the last event seen.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import APIRouter, Header
from redis.asyncio import Redis
from sse_starlette import EventSourceResponse
from starlette.background import BackgroundTask

from infra import live
from serve.deps import Ctx, Staff
from serve.routers.cases import PROBLEMS

router = APIRouter(prefix="/api/live", tags=["live updates"])
STREAM_ID = re.compile(r"\d{1,20}-\d{1,20}")
READ_BLOCK_MS = 3000  # under the Redis client's socket timeout; sse-starlette pings the client meanwhile


@router.get("/cases", response_class=EventSourceResponse, responses=PROBLEMS)
async def case_events(
    caller: Staff, ctx: Ctx, last_event_id: Annotated[str | None, Header(max_length=50)] = None
) -> EventSourceResponse:
    """`text/event-stream` of the caller's office's case events (`event:` is the CloudEvents type, `data:` the
    envelope, `id:` the position to resume from)."""
    office = caller.require_office()
    release = ctx.live_streams.take(caller.subject)  # 429 past a few per user, 503 when the replica has enough
    try:
        if last_event_id and STREAM_ID.fullmatch(last_event_id):
            after = last_event_id
        else:  # from now on: the stream's current end, pinned, so nothing slips between two reads
            newest = await ctx.redis.xrevrange(live.office_stream(office), count=1)
            after = newest[0][0] if newest else "0-0"
    except BaseException:
        release()
        raise
    events = office_events(ctx.redis, office, after, caller.expires_at, release)
    # the slot goes back when the stream ends, the client goes away, or the response never started
    return EventSourceResponse(events, ping=15, background=BackgroundTask(release))


async def office_events(
    redis: Redis, office: uuid.UUID, after: str, expires_at: float | None, release: Callable[[], None]
) -> AsyncIterator[dict[str, str]]:
    """Events after `after` until the caller's token expires: the stream then ends, and the browser's
    EventSource reconnects (with Last-Event-ID) carrying a fresh token, so a revoked user stops listening."""
    try:
        while expires_at is None or time.time() < expires_at:
            for entry_id, data in await live.read(redis, office, after, READ_BLOCK_MS):
                after = entry_id
                yield {"id": entry_id, "event": json.loads(data)["type"], "data": data}
    finally:
        release()

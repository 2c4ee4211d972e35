"""Live updates of an office's cases: one Redis stream per office, written once per event, read by SSE clients.

A stream rather than pub/sub: a browser that reconnects (a proxy dropped it, the laptop slept) sends the id of the
last event it saw and gets what it missed; pub/sub would have dropped those. Streams are capped (MAXLEN ~), so
they hold the recent past, not the archive (the case timeline is the archive).
"""

from __future__ import annotations

import uuid
from typing import Any

from redis.asyncio import Redis

STREAM_MAXLEN = 10_000
SEEN_TTL_S = 24 * 3600

# the event id guards the stream: a redelivered event (at-least-once from RabbitMQ) is appended once
_APPEND_ONCE = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[3]) then
    return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'event', ARGV[1])
end
return false
"""


def office_stream(office_id: uuid.UUID | str) -> str:
    return f"kep:live:office:{office_id}"


async def append(redis: Redis, office_id: uuid.UUID | str, event_id: str, event_json: str) -> str | None:
    """The stream id the event got, or None when it was there already."""
    keys = (f"kep:live:seen:{event_id}", office_stream(office_id))
    result: Any = await redis.eval(_APPEND_ONCE, 2, *keys, event_json, str(STREAM_MAXLEN), str(SEEN_TTL_S))  # type: ignore[misc]  # typed sync-or-async
    return str(result) if result else None


async def read(
    redis: Redis, office_id: uuid.UUID | str, after: str, block_ms: int, count: int = 100
) -> list[tuple[str, str]]:
    """(stream id, event JSON) after `after` ("$": only what comes next), waiting up to `block_ms` for some."""
    answer = await redis.xread({office_stream(office_id): after}, count=count, block=block_ms)
    return [(entry_id, fields["event"]) for _, entries in answer for entry_id, fields in entries]

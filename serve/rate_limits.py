"""Per-caller request rates: the policy (which window a request counts in) and the windows themselves.

The windows live in Redis (the `limits` library's moving window: a Lua call to count, one to read) so that every
replica counts alike; `serve.throttle` applies them to requests.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.strategies import MovingWindowRateLimiter

from infra.redis import rate_limit_storage
from infra.settings import Settings

_READS = frozenset({"GET", "HEAD"})
REDIS_TIMEOUT_S = 1.0  # a slow Redis delays a request by at most this much, then it passes


def parse_rate(text: str) -> RateLimitItem | None:
    """`"600/minute"` (any `limits` notation) or `""` for no limit; ValueError when it does not parse."""
    if not text.strip():
        return None
    return parse(text)


@dataclass(frozen=True)
class Policy:
    """The limits of one replica's callers."""

    reads: RateLimitItem | None
    writes: RateLimitItem | None
    anonymous: RateLimitItem | None

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            parse_rate(settings.rate_limit_reads),
            parse_rate(settings.rate_limit_writes),
            parse_rate(settings.rate_limit_anonymous),
        )

    def for_request(self, method: str, subject: str | None) -> tuple[str, RateLimitItem | None]:
        """The name and limit of the window a request counts in."""
        if subject is None:
            return "anonymous", self.anonymous
        return ("reads", self.reads) if method in _READS else ("writes", self.writes)


@dataclass(frozen=True)
class Standing:
    """Where a caller stands in one window after a request."""

    allowed: bool
    limit: int
    remaining: int
    reset_after_s: int  # until the oldest request in the window leaves it

    def headers(self, name: str, window_s: int) -> list[tuple[bytes, bytes]]:
        return [
            (b"ratelimit-policy", f'"{name}";q={self.limit};w={window_s}'.encode()),
            (b"ratelimit", f'"{name}";r={self.remaining};t={self.reset_after_s}'.encode()),
        ]


class Windows:
    """The moving windows of every caller, in Redis."""

    def __init__(self, settings: Settings, namespace: str) -> None:
        # KEP_REDIS_URL, or the Sentinels' master (infra/redis.py)
        storage = rate_limit_storage(settings, key_prefix=f"kep:{namespace}:rate", timeout_s=REDIS_TIMEOUT_S)
        self.limiter = MovingWindowRateLimiter(storage)

    async def hit(self, item: RateLimitItem, key: str) -> Standing:
        allowed = await self.limiter.hit(item, key)
        stats = await self.limiter.get_window_stats(item, key)
        reset_after = max(1, math.ceil(stats.reset_time - time.time()))
        return Standing(allowed, item.amount, max(0, stats.remaining), reset_after)

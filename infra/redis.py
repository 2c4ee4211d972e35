"""The Redis client (redis-py asyncio) used for caches and live updates."""

from __future__ import annotations

from redis.asyncio import Redis


def create_redis(url: str) -> Redis:
    client: Redis = Redis.from_url(url, decode_responses=True, health_check_interval=30, socket_timeout=5)
    return client

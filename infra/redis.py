"""The Redis client (redis-py asyncio) used for caches and live updates."""

from __future__ import annotations

from redis.asyncio import Redis

MAX_CONNECTIONS = 64  # per client: past it a call fails at once (a transient error), it never opens more


def create_redis(url: str, max_connections: int = MAX_CONNECTIONS) -> Redis:
    client: Redis = Redis.from_url(
        url, decode_responses=True, health_check_interval=30, socket_timeout=5, max_connections=max_connections
    )
    return client

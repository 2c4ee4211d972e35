"""The Redis client (redis-py asyncio) used for caches, live updates and rate limits: one server by URL, or the
master that Sentinel names (production's replicated Redis, `KEP_REDIS_SENTINELS`), followed across failovers."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from limits.aio.storage import RedisSentinelStorage, RedisStorage
from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialBackoff

from infra.settings import Settings

MAX_CONNECTIONS = 64  # per client: past it a call fails at once (a transient error), it never opens more

# Behind Sentinel a call meets a failover as a lost connection (`_FollowingPool` closes the old master's, or Sentinel
# has the old master drop its clients) or, on a connection made just before, as READONLY, which redis-py's Sentinel
# connection turns into a lost one; the next connection asks the Sentinels for the master again. A manual failover
# takes a second or two and one after a crash Sentinel's `down-after-milliseconds` (5 s in deployments/k8s/stores/ha)
# and the vote: the waits, 0.2 s doubling to 1 s, ten retries, add up to about 8 s. Past that the error reaches the
# caller, which `infra.faults` calls transient. (redis-py retries a command only on the errors in `retry_on_error`.)
FAILOVER_ERRORS: list[type[Exception]] = [redis_errors.ConnectionError, redis_errors.TimeoutError]
CONNECT_TIMEOUT_S = 2.0  # to a master that is gone, whose address the Sentinels still give for a while

# How often a client asks the Sentinels which server is the master (see `_FollowingPool`)
MASTER_CHECK_S = 0.5


class _FollowingPool(SentinelConnectionPool):
    """redis-py's Sentinel pool asks the Sentinels for the master only when it opens a connection, so its open
    connections stay on the old master after a failover until Sentinel demotes it, which for a master still
    running takes about ten seconds (its INFO says master for that long): every write meanwhile is answered, then
    lost. This pool asks at most every `MASTER_CHECK_S` before handing out a connection, and closes all of them
    when the master moved; the calls on them fail as lost connections, which the client's retry sends to the new
    master. What the old master takes between the replica's promotion and the moment the Sentinels name the new one
    (about a second in a manual failover: tests/infra/test_redis_sentinel.py), and up to this half second after, is
    still lost: Redis holds only live updates and rate windows, not records."""

    _next_check = 0.0

    async def get_connection(self, command_name: Any = None, *keys: Any, **options: Any) -> Any:
        if time.monotonic() >= self._next_check:
            self._next_check = time.monotonic() + MASTER_CHECK_S
            try:
                address = await self.sentinel_manager.discover_master(self.service_name)
            except (redis_errors.ConnectionError, redis_errors.TimeoutError):
                address = self.master_address  # no Sentinel answers now: the master is as good as last time
            if address != self.master_address:
                moved = self.master_address is not None
                self.master_address = address
                if moved:
                    await self.disconnect(inuse_connections=True)
        return await super().get_connection(command_name, *keys, **options)


def _address(item: str) -> tuple[str, int]:
    host, _, port = item.rpartition(":")
    return host.strip("[]"), int(port)


def create_redis(
    url: str, max_connections: int = MAX_CONNECTIONS, *, sentinels: Sequence[str] = (), master: str = "kep"
) -> Redis:
    """A client of the server at `url`; with `sentinels` ("host:port"), of the master they name `master`, with
    `url`'s password (for the Sentinels too) and database."""
    if not sentinels:
        client: Redis = Redis.from_url(
            url, decode_responses=True, health_check_interval=30, socket_timeout=5, max_connections=max_connections
        )
        return client
    parts = urlsplit(url)
    password = unquote(parts.password) if parts.password else None
    username = unquote(parts.username) if parts.username else None
    sentinel = Sentinel(  # type: ignore[no-untyped-call]  # redis-py leaves its __init__ unannotated
        [_address(s) for s in sentinels],
        sentinel_kwargs={"password": password, "socket_timeout": 5, "socket_connect_timeout": CONNECT_TIMEOUT_S},
        password=password,
        username=username,
        db=int(parts.path.lstrip("/") or 0),
    )
    followed: Redis = sentinel.master_for(
        master,
        connection_pool_class=_FollowingPool,
        decode_responses=True,
        health_check_interval=30,
        socket_timeout=5,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        max_connections=max_connections,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.1), retries=10),
        retry_on_error=FAILOVER_ERRORS,
    )
    return followed


def redis_for(settings: Settings, max_connections: int = MAX_CONNECTIONS) -> Redis:
    """The client the settings describe: KEP_REDIS_URL, or the Sentinels' master when KEP_REDIS_SENTINELS is set."""
    return create_redis(
        settings.redis_url.get_secret_value(),
        max_connections,
        sentinels=settings.redis_sentinels,
        master=settings.redis_sentinel_master,
    )


def rate_limit_storage(settings: Settings, *, key_prefix: str, timeout_s: float) -> RedisStorage:
    """The `limits` storage of the rate limiter (serve/rate_limits.py) on the same Redis. Behind Sentinel it reads
    the master too (`use_replicas=False`): a window's count is read right after the hit that changed it, and a
    replica may not have it yet."""
    url = settings.redis_url.get_secret_value()
    if not settings.redis_sentinels:
        return RedisStorage(
            "async+" + url,
            implementation="redispy",
            key_prefix=key_prefix,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
        )
    parts = urlsplit(url)
    auth = f"{quote(unquote(parts.username or ''))}:{quote(unquote(parts.password))}@" if parts.password else ""
    return RedisSentinelStorage(
        f"async+redis+sentinel://{auth}{','.join(settings.redis_sentinels)}/{settings.redis_sentinel_master}",
        implementation="redispy",
        key_prefix=key_prefix,
        use_replicas=False,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        db=int(parts.path.lstrip("/") or 0),
    )

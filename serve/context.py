"""What a Serve replica holds: connection pools and clients, opened once on first use and shared by requests."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aio_pika
import asyncpg
import httpx
from aio_pika.abc import AbstractExchange, AbstractRobustConnection
from redis.asyncio import Redis

from actors.cases.shards import CaseShards
from actors.catalog.catalog import CATALOG_ACTOR
from actors.delivery.reader import READER_ACTOR
from actors.handles import NamedActor
from actors.outbox import OUTBOX_RELAY
from actors.statistics.consumer import STATISTICS_QUEUE
from autoscaler.actor import AUTOSCALER_ACTOR
from bpmn_bridge import topics
from bpmn_bridge.bridge import BRIDGE_ACTOR, CASE_EVENTS_QUEUE
from bpmn_bridge.engine import EngineClient
from bpmn_bridge.reconciler import RECONCILER_ACTOR
from bpmn_bridge.worker import RESULTS_QUEUE, task_queue
from infra import amqp
from infra.db import INTERACTIVE, create_pool
from infra.redis import redis_for
from infra.settings import Settings
from infra.storage import ObjectStore, create_store
from messages.errors import Busy, ConfigurationError, TooManyRequests
from messages.health import DependencyStatus, Readiness
from serve.membership import Membership
from serve.rate_limits import Policy, Windows
from serve.security import JwksSource, TokenVerifier

PROBE_TIMEOUT = 3.0
READINESS_TTL_S = 2.0
# queues that must always have a consumer: every topic's workers, and the bridge's own two
CONSUMED_QUEUES = tuple(
    dict.fromkeys((*(task_queue(t) for t in topics.OPTIONS), RESULTS_QUEUE, CASE_EVENTS_QUEUE, STATISTICS_QUEUE))
)


LIVE_STREAMS_PER_USER = 3  # one person's tabs on one replica
LIVE_STREAMS_PER_REPLICA = 128  # half the replica's request slots: streams never crowd out everything else


class StreamSlots:
    """Counts the long-lived streams a replica holds, per user and in all."""

    def __init__(self, per_user: int, total: int) -> None:
        self.per_user = per_user
        self.total = total
        self.by_user: Counter[str] = Counter()

    def take(self, subject: str) -> Callable[[], None]:
        """A slot for `subject`, or Busy / TooManyRequests; the release it returns may be called more than once."""
        if self.by_user.total() >= self.total:
            raise Busy("this replica holds as many live streams as it may; try again shortly")
        if self.by_user[subject] >= self.per_user:
            raise TooManyRequests(f"at most {self.per_user} live streams at once per user: close one first")
        self.by_user[subject] += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.by_user[subject] -= 1
                if self.by_user[subject] <= 0:
                    del self.by_user[subject]

        return release


@dataclass
class Context:
    settings: Settings
    pool: asyncpg.Pool[asyncpg.Record]
    redis: Redis
    store: ObjectStore
    http: httpx.AsyncClient
    verifier: TokenVerifier
    membership: Membership
    engine: EngineClient
    cases: CaseShards
    catalog: NamedActor
    autoscaler: NamedActor
    reconciler: NamedActor
    bridge: NamedActor
    relay: NamedActor
    delivery_reader: NamedActor
    rate_policy: Policy
    rate_windows: Windows
    consumed_queues: tuple[str, ...] = CONSUMED_QUEUES
    _amqp: AbstractRobustConnection | None = None
    _tasks_exchange: AbstractExchange | None = None
    _readiness: tuple[float, Readiness] | None = None
    _amqp_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    uploads: asyncio.Semaphore = field(default_factory=asyncio.Semaphore)  # uploads read at once
    live_streams: StreamSlots = field(
        default_factory=lambda: StreamSlots(LIVE_STREAMS_PER_USER, LIVE_STREAMS_PER_REPLICA)
    )

    @classmethod
    async def open(cls, settings: Settings) -> Context:
        """Opens no connection yet: a replica must start, and report which dependency is down, while one is."""
        http = httpx.AsyncClient(timeout=httpx.Timeout(5.0))
        jwks_url = settings.oidc_jwks_url or (
            f"file://{settings.dev_keys_dir}/jwks.json" if settings.dev_keys_dir else None
        )
        if jwks_url is None:
            raise ConfigurationError("KEP_OIDC_JWKS_URL (or KEP_DEV_KEYS_DIR for development) is required")
        pool = await create_pool(settings.database_url.get_secret_value(), 0, settings.db_pool_max, limits=INTERACTIVE)
        return cls(
            settings=settings,
            pool=pool,
            # each live stream holds a connection in its blocking read; the rest is for everything else
            redis=redis_for(settings, LIVE_STREAMS_PER_REPLICA + 32),
            store=create_store(settings),
            http=http,
            verifier=TokenVerifier(settings.oidc_issuer, settings.oidc_audience, JwksSource(jwks_url, http)),
            membership=Membership(pool),
            engine=EngineClient(settings.engine_url, tenant_id=settings.engine_tenant),
            cases=CaseShards(settings.case_shards, settings.ray_namespace),
            catalog=NamedActor(CATALOG_ACTOR, settings.ray_namespace),
            autoscaler=NamedActor(AUTOSCALER_ACTOR, settings.ray_namespace),
            reconciler=NamedActor(RECONCILER_ACTOR, settings.ray_namespace),
            bridge=NamedActor(BRIDGE_ACTOR, settings.ray_namespace),
            relay=NamedActor(OUTBOX_RELAY, settings.ray_namespace),
            delivery_reader=NamedActor(READER_ACTOR, settings.ray_namespace),
            rate_policy=Policy.from_settings(settings),
            rate_windows=Windows(settings, settings.ray_namespace),
            uploads=asyncio.Semaphore(settings.uploads_per_replica),
        )

    async def readiness(self) -> Readiness:
        """The dependencies answer, every queue that must be consumed has a consumer, and the long-lived loops did
        their work lately. Read at most every few seconds, however often it is asked."""
        now = time.monotonic()
        if self._readiness is not None and now - self._readiness[0] < READINESS_TTL_S:
            return self._readiness[1]
        checks: dict[str, Callable[[], Awaitable[object]]] = {
            "postgres": lambda: self.pool.fetchval("SELECT 1"),
            "redis": self.redis.ping,
            "rabbitmq": self._probe_rabbit,
            "objects": self.store.check,
            "engine": self._probe_engine,
            "consumers": self._probe_consumers,
            "loops": self._probe_loops,
        }
        results = await asyncio.gather(*(_probe(name, fn) for name, fn in checks.items()))
        report = Readiness(ok=all(r.ok for r in results), dependencies=list(results))
        self._readiness = (now, report)
        return report

    async def tasks_exchange(self) -> AbstractExchange:
        """The tasks exchange on a channel with publisher confirms, opened once per replica."""
        async with self._amqp_lock:
            if self._tasks_exchange is None:
                if self._amqp is None:
                    self._amqp = await amqp.connect(self.settings.amqp_url.get_secret_value(), "kep-serve")
                self._tasks_exchange = await amqp.tasks_exchange(await self._amqp.channel(publisher_confirms=True))
            return self._tasks_exchange

    async def amqp(self) -> AbstractRobustConnection:
        async with self._amqp_lock:
            if self._amqp is None:
                self._amqp = await amqp.connect(self.settings.amqp_url.get_secret_value(), "kep-serve")
            return self._amqp

    async def _probe_rabbit(self) -> None:
        channel = await (await self.amqp()).channel()
        try:
            await channel.get_exchange(self.settings.events_exchange, ensure=True)
        finally:
            await channel.close()

    async def _probe_consumers(self) -> None:
        channel = await (await self.amqp()).channel()
        try:
            counts = [await amqp.consumer_count(channel, q, PROBE_TIMEOUT) for q in self.consumed_queues]
        finally:
            await channel.close()
        if missing := [q for q, n in zip(self.consumed_queues, counts, strict=True) if n == 0]:
            raise LookupError(f"no consumer on {', '.join(missing)}")

    async def _probe_loops(self) -> None:
        actors = (self.bridge, self.relay, self.delivery_reader)
        statuses = [s for actor in actors for s in await actor.call("loops")]
        if bad := [s for s in statuses if s.stale or not s.running]:
            said = (f"{s.name}: no pass for {s.last_pass_age_s} s" if s.running else f"{s.name}: stopped" for s in bad)
            raise LookupError("; ".join(said))

    async def _probe_engine(self) -> None:
        resp = await self.http.get(f"{self.settings.engine_url}/version")
        resp.raise_for_status()

    async def close(self) -> None:
        await self.pool.close()
        await self.redis.aclose()
        if self._amqp is not None:
            await self._amqp.close()
        await self.http.aclose()


async def _probe(name: str, fn: Callable[[], Awaitable[object]]) -> DependencyStatus:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(fn(), PROBE_TIMEOUT)
        ok, detail = True, None
    except (Exception, aio_pika.exceptions.AMQPError) as exc:  # a probe reports every failure, whatever it is
        ok, detail = False, f"{type(exc).__name__}: {exc}"[:300]
    return DependencyStatus(
        name=name, ok=ok, detail=detail, latency_ms=round((time.perf_counter() - started) * 1000, 2)
    )

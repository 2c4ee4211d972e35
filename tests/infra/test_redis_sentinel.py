"""Redis behind Sentinel (issue 19, point 4): a master, its replica and a Sentinel of this test's own (Debian's
redis-server, temporary folders, free ports; never the stack's Redis), a password on all three as in
deployments/k8s/stores/ha/redis.yaml. The application's Redis users, built from settings as the application builds
them (`infra.redis.redis_for`, `rate_limit_storage`): live updates (`infra.live.append`, `read`) and the rate
limiter's moving windows (`limits`' MovingWindowRateLimiter, as serve/rate_limits.py uses it). They run through a
`SENTINEL FAILOVER` and go on against the new master, without the live updates' caller seeing an error."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from limits import parse
from limits.aio.strategies import MovingWindowRateLimiter
from pydantic import SecretStr
from redis import exceptions as redis_errors
from redis.asyncio import Redis

from infra import live
from infra.redis import rate_limit_storage, redis_for
from infra.settings import Settings, as_env
from tests.helpers import free_port

PASSWORD = "s3cret-sentinel"


@dataclass
class Trio:
    master: int
    replica: int
    sentinel: int


@pytest.fixture(scope="module")
def trio() -> Iterator[Trio]:
    base = Path(tempfile.mkdtemp(prefix="kep-redis-sentinel-"))
    t = Trio(free_port(), free_port(), free_port())
    common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--requirepass", PASSWORD,
              "--masterauth", PASSWORD]  # fmt: skip
    # Sentinel rewrites its configuration file: one of its own, in the test's folder
    conf = base / "sentinel.conf"
    conf.write_text(
        f"""port {t.sentinel}
bind 127.0.0.1
dir {base}
requirepass {PASSWORD}
sentinel monitor kep 127.0.0.1 {t.master} 1
sentinel auth-pass kep {PASSWORD}
sentinel down-after-milliseconds kep 2000
sentinel failover-timeout kep 10000
"""
    )
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for argv in (
            ["redis-server", "--port", str(t.master), "--dir", str(base), *common],
            ["redis-server", "--port", str(t.replica), "--dir", str(base), "--dbfilename", "replica.rdb",
             "--replicaof", "127.0.0.1", str(t.master), *common],
            ["redis-server", str(conf), "--sentinel"],
        ):  # fmt: skip
            procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        yield t
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)
        shutil.rmtree(base, ignore_errors=True)


def _direct(port: int) -> Redis:
    return Redis(host="127.0.0.1", port=port, password=PASSWORD, decode_responses=True, socket_timeout=2)


async def _until(what: str, check: Callable[[], Awaitable[bool]], within_s: float = 30) -> None:
    deadline = time.monotonic() + within_s
    while True:
        try:
            if await check():
                return
        except redis_errors.ConnectionError:  # a server still starting
            pass
        except redis_errors.ResponseError as exc:  # or still loading
            if "LOADING" not in str(exc):
                raise
        assert time.monotonic() < deadline, f"not {what} within {within_s} s"
        await asyncio.sleep(0.2)


@pytest.fixture
async def sentinel(trio: Trio) -> AsyncIterator[Redis]:
    client = _direct(trio.sentinel)

    async def replica_known() -> bool:
        replicas = await client.execute_command("SENTINEL", "REPLICAS", "kep")
        states = [dict(zip(r[::2], r[1::2], strict=True)) for r in replicas]  # each a flat list of names and values
        return any(r["master-link-status"] == "ok" and "s_down" not in r["flags"] for r in states)

    await _until("the replica known to Sentinel and in sync", replica_known)
    yield client
    await client.aclose()


def _settings(**redis: object) -> Settings:
    return Settings(
        database_url=SecretStr("postgresql://unused@127.0.0.1/unused"),
        # the host is not used behind Sentinel: the password and the database are
        redis_url=SecretStr(f"redis://:{PASSWORD}@redis:6379/0"),
        amqp_url=SecretStr("amqp://unused@127.0.0.1/"),
        engine_url="http://127.0.0.1:1",
        **redis,  # type: ignore[arg-type]
    )


def test_sentinels_are_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "KEP_REDIS_SENTINELS", "redis-sentinel-0.redis-sentinel:26379, redis-sentinel-1.redis-sentinel:26379"
    )
    settings = _settings()
    assert settings.redis_sentinels == (
        "redis-sentinel-0.redis-sentinel:26379",
        "redis-sentinel-1.redis-sentinel:26379",
    )
    assert settings.redis_sentinel_master == "kep"
    # and what another process is handed (infra.settings.as_env) reads back the same
    monkeypatch.setenv("KEP_REDIS_SENTINELS", as_env(settings)["KEP_REDIS_SENTINELS"])
    assert _settings().redis_sentinels == settings.redis_sentinels
    monkeypatch.setenv("KEP_REDIS_SENTINELS", "[]")
    assert _settings().redis_sentinels == ()
    monkeypatch.setenv("KEP_REDIS_SENTINELS", "redis-sentinel")
    with pytest.raises(ValueError, match="host:port"):
        _settings()


@dataclass
class Flow:
    appended: list[str] = field(default_factory=list)  # event ids the caller got an answer for
    errors: list[str] = field(default_factory=list)
    limited: int = 0  # rate-limit hits answered
    limiter_errors: int = 0  # the middleware lets these requests through (serve/throttle.py)


async def test_redis_users_follow_a_sentinel_failover(trio: Trio, sentinel: Redis) -> None:
    settings = _settings(redis_sentinels=(f"127.0.0.1:{trio.sentinel}",), redis_sentinel_master="kep")
    client = redis_for(settings)
    limiter = MovingWindowRateLimiter(rate_limit_storage(settings, key_prefix="kep:test:rate", timeout_s=1.0))
    rate = parse("100000/minute")
    office = uuid.uuid4()
    assert (await client.info("server"))["tcp_port"] == trio.master

    flow, stop = Flow(), asyncio.Event()

    async def writes() -> None:
        while not stop.is_set():
            event_id = str(uuid.uuid4())
            try:
                await live.append(client, office, event_id, f'{{"id": "{event_id}"}}')
                flow.appended.append(event_id)
            except Exception as exc:
                flow.errors.append(f"{type(exc).__name__}: {exc}")
            try:
                await limiter.hit(rate, "caller")
                flow.limited += 1
            except Exception:
                flow.limiter_errors += 1
            await asyncio.sleep(0.01)

    writer = asyncio.create_task(writes())
    try:
        await asyncio.sleep(1)
        before = len(flow.appended)
        await sentinel.execute_command("SENTINEL", "FAILOVER", "kep")

        async def failed_over() -> bool:
            _, port = await sentinel.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "kep")
            roles = []
            for p in (trio.replica, trio.master):
                async with _direct(p) as server:
                    roles.append((await server.execute_command("ROLE"))[0])
            return int(port) == trio.replica and roles == ["master", "slave"]

        await _until("failed over to the replica", failed_over)
        after_failover = len(flow.appended)
        await asyncio.sleep(1.5)
    finally:
        stop.set()
        await writer
    print(
        f"failover: {before} appended before, {after_failover} by its end, {len(flow.appended)} in all; "
        f"{flow.limited} rate-limit hits, {flow.limiter_errors} failed"
    )

    assert not flow.errors, flow.errors[:5]
    assert len(flow.appended) > after_failover > before, "the writes stopped"
    assert (await client.info("server"))["tcp_port"] == trio.replica
    # what the caller was answered after the new master took over is all there, read through the same client
    stored = {entry[1] for entry in await live.read(client, office, "0", block_ms=100, count=100_000)}
    assert {f'{{"id": "{e}"}}' for e in flow.appended[after_failover:]} <= stored
    # what the old master took between the replica's promotion and the client's next look at the Sentinels
    # (infra/redis.py: `_FollowingPool`) is lost, as Redis Sentinel loses it; never anything after the failover
    lost = [i for i, e in enumerate(flow.appended) if f'{{"id": "{e}"}}' not in stored]
    print(f"lost in the failover: {len(lost)} of {after_failover - before}")
    assert all(before <= i < after_failover for i in lost)
    # the rate limiter's storage follows the master too
    assert await limiter.hit(rate, "caller")
    assert (await limiter.get_window_stats(rate, "caller")).remaining < rate.amount
    await client.aclose()

"""The outbox relay never loses an event and republishes under the same id after a crash."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import aio_pika
import asyncpg
import httpx
import ray

from infra.settings import Settings
from serve.bootstrap import OUTBOX_RELAY
from tests.conftest import OfficeFactory
from tests.helpers import bearer, eventually
from tests.serve.test_cases_http import body


async def drain(queue: aio_pika.abc.AbstractQueue) -> list[aio_pika.abc.AbstractIncomingMessage]:
    got = []
    while (msg := await queue.get(fail=False, no_ack=True)) is not None:
        got.append(msg)
    return got


def relay(settings: Settings) -> ray.actor.ActorHandle:
    return ray.get_actor(OUTBOX_RELAY, namespace=settings.ray_namespace)


async def open_case(http: httpx.AsyncClient, token: str, procedure: uuid.UUID) -> str:
    resp = await http.post("/api/cases", json=body(procedure), headers=bearer(token))
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


async def stamped(pool: asyncpg.Pool, case_id: str) -> bool:
    return bool(
        await pool.fetchval("SELECT published_at IS NOT NULL FROM outbox WHERE envelope->>'subject' = $1", case_id)
    )


async def test_relay_killed_between_commit_and_publish_publishes_after_restart(
    http: httpx.AsyncClient,
    settings: Settings,
    pool: asyncpg.Pool,
    case_events: aio_pika.abc.AbstractQueue,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
) -> None:
    # given a relay that has stopped publishing, and a case committed while it was stopped
    first = relay(settings)
    old_pid = (await first.stats.remote())["pid"]
    await first.pause.remote()
    case_id = await open_case(http, token_for(await make_office()), await make_procedure())
    row = await pool.fetchrow("SELECT id, published_at FROM outbox WHERE envelope->>'subject' = $1", case_id)
    assert row is not None
    assert row["published_at"] is None
    # when the relay dies and Ray restarts it
    ray.kill(first, no_restart=False)
    await eventually(lambda: stamped(pool, case_id), within=60)
    # then the event went out once, under the outbox row's id
    assert (await relay(settings).stats.remote())["pid"] != old_pid
    mine = [m for m in await drain(case_events) if json.loads(m.body)["subject"] == case_id]
    assert [m.message_id for m in mine] == [str(row["id"])]


async def test_crash_after_the_broker_confirmed_republishes_under_the_same_id(
    http: httpx.AsyncClient,
    settings: Settings,
    pool: asyncpg.Pool,
    case_events: aio_pika.abc.AbstractQueue,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
) -> None:
    # given a relay that will die right after the broker confirms its next batch, before stamping it
    await relay(settings).arm_crash_after_publish.remote()
    # when a case is opened
    case_id = await open_case(http, token_for(await make_office()), await make_procedure())
    await eventually(lambda: stamped(pool, case_id), within=60)
    # then the event was delivered twice, both times under one id, so consumers can drop the repeat
    mine = [m for m in await drain(case_events) if json.loads(m.body)["subject"] == case_id]
    event_id = await pool.fetchval("SELECT id FROM outbox WHERE envelope->>'subject' = $1", case_id)
    assert len(mine) == 2
    assert {m.message_id for m in mine} == {str(event_id)}
    assert len({m.body for m in mine}) == 1

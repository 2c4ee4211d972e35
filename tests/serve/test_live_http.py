"""Live updates: an office's case events reach its staff over SSE, resume after a reconnect, and no other office."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from infra import live
from infra.redis import create_redis
from infra.settings import Settings
from serve.routers.live import office_events
from tests.conftest import OfficeFactory
from tests.helpers import bearer, eventually
from tests.serve.test_cases_http import body

Event = dict[str, str]


@asynccontextmanager
async def listen(
    http: httpx.AsyncClient, headers: dict[str, str], last_event_id: str | None = None
) -> AsyncIterator[asyncio.Queue[Event]]:
    """The SSE stream parsed into events (id, event, data) on a queue, while the block runs."""
    queue: asyncio.Queue[Event] = asyncio.Queue()
    opened = asyncio.Event()
    extra = {"Last-Event-ID": last_event_id} if last_event_id else {}

    async def read() -> None:
        async with http.stream("GET", "/api/live/cases", headers=headers | extra, timeout=None) as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            opened.set()
            event: Event = {}
            async for line in resp.aiter_lines():
                if not line:
                    if "data" in event:
                        await queue.put(event)
                    event = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(":")
                    event[name] = value.removeprefix(" ")

    task = asyncio.create_task(read())
    await asyncio.wait([task, asyncio.create_task(opened.wait())], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
    try:
        yield queue
    finally:
        task.cancel()


async def next_for(queue: asyncio.Queue[Event], case_id: str) -> Event:
    """The next event about one case (others of the office are skipped); bounded so a hang fails the test."""
    while True:
        event = await asyncio.wait_for(queue.get(), timeout=30)
        if json.loads(event["data"])["subject"] == case_id:
            return event


async def test_an_office_sees_its_case_changes_live_and_resumes_after_a_reconnect(
    http: httpx.AsyncClient,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
) -> None:
    office = await make_office()
    headers = bearer(token_for(office, roles=("employee", "supervisor")))
    async with listen(http, headers) as events:
        case = (await http.post("/api/cases", json=body(await make_procedure()), headers=headers)).json()
        opened = await next_for(events, case["id"])
        assert opened["event"] == "gr.kep.case.opened.v1"
        started = await http.post(f"/api/cases/{case['id']}/start", json={"version": 1}, headers=headers)
        assert started.status_code == 200
        live_start = await next_for(events, case["id"])
        assert live_start["event"] == "gr.kep.case.started.v1"
        assert json.loads(live_start["data"])["data"]["status"] == "in_progress"

    # the browser reconnects with the id of the last event it had: it gets what came after, in order
    async with listen(http, headers, last_event_id=opened["id"]) as replay:
        assert (await next_for(replay, case["id"]))["id"] == live_start["id"]


async def test_another_office_never_receives_them(
    http: httpx.AsyncClient,
    settings: Settings,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
) -> None:
    athens, patras = await make_office(), await make_office()
    as_athens, as_patras = bearer(token_for(athens)), bearer(token_for(patras))
    procedure = await make_procedure()
    async with listen(http, as_athens) as athens_events:
        secret = (await http.post("/api/cases", json=body(procedure), headers=as_athens)).json()
        await next_for(athens_events, secret["id"])  # delivered, so it has been through the relay
    sentinel = (await http.post("/api/cases", json=body(procedure), headers=as_patras)).json()
    # Patras reads its whole stream from the start up to its own case: nothing of Athens is in it
    async with listen(http, as_patras, last_event_id="0-0") as patras_events:
        seen = []
        while not seen or seen[-1] != sentinel["id"]:
            event = await asyncio.wait_for(patras_events.get(), timeout=30)
            seen.append(json.loads(event["data"])["subject"])
    assert secret["id"] not in seen
    redis = create_redis(settings.redis_url.get_secret_value())
    try:
        stored = await live.read(redis, patras, "0-0", block_ms=1)
    finally:
        await redis.aclose()
    assert stored
    assert all(json.loads(e)["data"]["office_id"] == str(patras) for _, e in stored)


@pytest.mark.parametrize(("roles", "office", "status"), [(("administrator",), False, 403), (("employee",), False, 403)])
async def test_only_staff_of_an_office_may_listen(
    http: httpx.AsyncClient, token_for: Callable[..., str], roles: tuple[str, ...], office: bool, status: int
) -> None:
    resp = await http.get("/api/live/cases", headers=bearer(token_for(None, roles=roles)))
    assert resp.status_code == status
    assert (await http.get("/api/live/cases")).status_code == 401


async def test_a_redelivered_event_is_appended_once(settings: Settings) -> None:
    redis = create_redis(settings.redis_url.get_secret_value())
    office, event_id = uuid.uuid4(), str(uuid.uuid4())
    try:
        first = await live.append(redis, office, event_id, json.dumps({"id": event_id}))
        again = await live.append(redis, office, event_id, json.dumps({"id": event_id}))
        assert first is not None
        assert again is None
        assert [entry for entry, _ in await live.read(redis, office, "0-0", block_ms=1)] == [first]
    finally:
        await redis.aclose()


async def test_the_stream_ends_when_the_token_expires(settings: Settings) -> None:
    redis = create_redis(settings.redis_url.get_secret_value())
    office = uuid.uuid4()
    try:
        await live.append(redis, office, str(uuid.uuid4()), json.dumps({"type": "gr.kep.case.opened.v1"}))
        released: list[str] = []
        expired = [
            e async for e in office_events(redis, office, "0-0", time.time() - 1, lambda: released.append("expired"))
        ]
        assert expired == []  # nothing more for an expired token, though an event is waiting
        stream = office_events(redis, office, "0-0", time.time() + 600, lambda: released.append("closed"))
        assert (await anext(stream))["event"] == "gr.kep.case.opened.v1"
        await stream.aclose()
        assert released == ["expired", "closed"]  # the replica's slot goes back either way
    finally:
        await redis.aclose()


async def test_one_user_holds_only_a_few_streams(
    http: httpx.AsyncClient, make_office: OfficeFactory, token_for: Callable[..., str]
) -> None:
    """A fourth tab of one user is 429 with Retry-After, a colleague is not affected, and a closed stream's slot
    comes back."""
    office = await make_office()
    maria = bearer(token_for(office, subject=f"maria-{uuid.uuid4().hex[:6]}"))
    nikos = bearer(token_for(office))
    async with listen(http, maria), listen(http, maria):
        async with listen(http, maria):
            fourth = await http.get("/api/live/cases", headers=maria)
            assert fourth.status_code == 429, fourth.text
            assert fourth.headers["retry-after"] == "5"
            async with listen(http, nikos):
                pass

        async def freed() -> bool:  # once the server has seen the third one's client go
            async with http.stream("GET", "/api/live/cases", headers=maria, timeout=10) as resp:
                return resp.status_code == 200

        await eventually(freed, within=30)

"""An outage is not a bug: while PostgreSQL is down or paused every answer is 503 problem+json with Retry-After, never
500 and never a hang, and the same requests work once it is back, without restarting anything."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx

from kepctl import chaos, services
from kepctl.stack import StackSettings
from tests.conftest import OfficeFactory
from tests.helpers import bearer, eventually
from tests.serve.test_cases_http import body


async def test_while_the_database_is_down_every_answer_is_503_with_retry_after(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    stack: StackSettings,
    pool: asyncpg.Pool[asyncpg.Record],
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
) -> None:
    headers = bearer(token_for(await make_office()))
    procedure = await make_procedure()
    opened = await http.post("/api/cases", json=body(procedure), headers=headers)
    assert opened.status_code == 201, opened.text
    case = opened.json()
    [postgres] = [s for s in services.all_services(stack, progress=lambda _: None) if s.name == "postgres"]

    postgres.stop()
    try:
        answers = await _ask_everything(http, headers, case, procedure)
    finally:
        postgres.start()
        await pool.expire_connections()  # the test session's own connections died with it

    _assert_outage_answers(answers)
    await _assert_back(http, headers, case)


async def test_while_the_database_is_paused_every_answer_is_503_not_a_hang(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    stack: StackSettings,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
) -> None:
    """A stopped process keeps its sockets: connections are accepted and nothing answers. Without bounds on the
    statement, on the wait for a pooled connection and on a new connection, every request waits for as long as the
    pause lasts; the client here gives up after 30 s (the `http` fixture), as clients and proxies do."""
    headers = bearer(token_for(await make_office()))
    procedure = await make_procedure()
    opened = await http.post("/api/cases", json=body(procedure), headers=headers)
    assert opened.status_code == 201, opened.text
    case = opened.json()
    [postgres] = [s for s in services.all_services(stack, progress=lambda _: None) if s.name == "postgres"]

    with chaos.paused(postgres):
        answers = await _ask_everything(http, headers, case, procedure)

    _assert_outage_answers(answers)
    await _assert_back(http, headers, case)


async def _ask_everything(
    http: httpx.AsyncClient, headers: dict[str, str], case: dict[str, Any], procedure: Any
) -> dict[str, httpx.Response]:
    """View, search, open and act, at once."""
    asked = {
        "view": http.get(f"/api/cases/{case['id']}", headers=headers),
        "search": http.get("/api/cases", params={"q": "παπαδάκη"}, headers=headers),
        "open": http.post("/api/cases", json=body(procedure), headers=headers),
        "act": http.post(f"/api/cases/{case['id']}/start", json={"version": case["version"]}, headers=headers),
    }
    return dict(zip(asked, await asyncio.gather(*asked.values()), strict=True))


def _assert_outage_answers(answers: dict[str, httpx.Response]) -> None:
    for name, resp in answers.items():
        assert resp.status_code == 503, (name, resp.text)
        assert resp.headers["retry-after"] == "5", name
        assert resp.headers["content-type"] == "application/problem+json", name
        assert resp.json()["type"] == "urn:kep:problem:DependencyUnavailable", name


async def _assert_back(http: httpx.AsyncClient, headers: dict[str, str], case: dict[str, Any]) -> None:
    async def back() -> bool:
        return (await http.get(f"/api/cases/{case['id']}", headers=headers)).status_code == 200

    await eventually(back, within=60)
    started = await http.post(f"/api/cases/{case['id']}/start", json={"version": case["version"]}, headers=headers)
    assert started.status_code == 200, started.text


async def test_after_a_database_restart_the_first_requests_succeed(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    stack: StackSettings,
    pool: asyncpg.Pool[asyncpg.Record],
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
) -> None:
    """The pools' connections from before the restart are closed by the server's shutdown; none is lent again."""
    headers = bearer(token_for(await make_office()))
    procedure = await make_procedure()
    cases = [(await http.post("/api/cases", json=body(procedure), headers=headers)).json() for _ in range(4)]
    # several connections open in every pool on the way, each used at least once
    await asyncio.gather(*(http.get(f"/api/cases/{c['id']}", headers=headers) for c in cases))
    [postgres] = [s for s in services.all_services(stack, progress=lambda _: None) if s.name == "postgres"]

    postgres.stop()
    postgres.start()  # returns once it accepts connections
    await pool.expire_connections()

    answers = [await http.get(f"/api/cases/{c['id']}", headers=headers) for c in cases]
    answers += [await http.get("/api/cases", params={"q": "παπαδάκη"}, headers=headers) for _ in cases]
    answers += [await http.post("/api/cases", json=body(procedure), headers=headers) for _ in cases]
    assert [a.status_code for a in answers] == [200] * 8 + [201] * 4, [a.text for a in answers]

"""An outage is not a bug: while PostgreSQL is down every answer is 503 problem+json with Retry-After, never 500, and
the same requests work once it is back, without restarting anything."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
import httpx

from kepctl import services
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

    start = {"version": case["version"]}
    postgres.stop()
    try:
        answers = {
            "view": await http.get(f"/api/cases/{case['id']}", headers=headers),
            "search": await http.get("/api/cases", params={"q": "παπαδάκη"}, headers=headers),
            "open": await http.post("/api/cases", json=body(procedure), headers=headers),
            "act": await http.post(f"/api/cases/{case['id']}/start", json=start, headers=headers),
        }
    finally:
        postgres.start()
        await pool.expire_connections()  # the test session's own connections died with it

    for name, resp in answers.items():
        assert resp.status_code == 503, (name, resp.text)
        assert resp.headers["retry-after"] == "5", name
        assert resp.headers["content-type"] == "application/problem+json", name
        assert resp.json()["type"] == "urn:kep:problem:DependencyUnavailable", name

    async def back() -> bool:
        return (await http.get(f"/api/cases/{case['id']}", headers=headers)).status_code == 200

    await eventually(back, within=60)
    started = await http.post(f"/api/cases/{case['id']}/start", json=start, headers=headers)
    assert started.status_code == 200, started.text

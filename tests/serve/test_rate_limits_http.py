"""One caller's rate is bounded, the next request over it is refused before anything is done, and the standing is
told on every answer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
from limits import parse

from infra.settings import Settings
from kepctl.eidas_realms import TEST_CITIZENS
from kepctl.stack import StackSettings
from tests.conftest import OfficeFactory
from tests.helpers import bearer
from tests.kepctl.test_eidas_realms import citizen_token


async def test_every_answer_tells_the_caller_where_it_stands(
    ray_app: dict[str, Any],
    settings: Settings,
    http: httpx.AsyncClient,
    make_office: OfficeFactory,
    token_for: Callable[..., str],
) -> None:
    headers = bearer(token_for(await make_office(), subject=f"rate-{uuid.uuid4().hex[:8]}"))
    reads = parse(settings.rate_limit_reads)
    first = await http.get("/api/cases", headers=headers)
    second = await http.get("/api/cases", headers=headers)
    assert first.status_code == second.status_code == 200, second.text
    assert first.headers["ratelimit-policy"] == f'"reads";q={reads.amount};w={reads.get_expiry()}'
    assert first.headers["ratelimit"].startswith(f'"reads";r={reads.amount - 1};t=')
    assert second.headers["ratelimit"].startswith(f'"reads";r={reads.amount - 2};t=')


async def test_a_writer_over_its_rate_is_refused_and_nothing_is_done(
    ray_app: dict[str, Any],
    settings: Settings,
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
) -> None:
    office = await make_office()
    headers = bearer(token_for(office, subject=f"rate-{uuid.uuid4().hex[:8]}"))
    writes = parse(settings.rate_limit_writes)
    slots = asyncio.Semaphore(16)

    async def invalid_opening() -> int:
        async with slots:
            return (await http.post("/api/cases", json={}, headers=headers)).status_code

    # the whole window's worth of writes, each refused by the schema (nothing opened)
    statuses = await asyncio.gather(*(invalid_opening() for _ in range(writes.amount)))
    assert set(statuses) == {422}

    procedure = await make_procedure()
    opening = {"procedure_id": str(procedure), "citizen": {"afm": "090000045", "first_name": "Α", "last_name": "Β"}}
    refused = await http.post("/api/cases", json=opening, headers=headers)
    assert refused.status_code == 429, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert 1 <= int(refused.headers["retry-after"]) <= writes.get_expiry()
    assert refused.headers["ratelimit"].startswith('"writes";r=0;')
    assert await pool.fetchval("SELECT count(*) FROM cases WHERE office_id = $1", office) == 0

    # reads have a window of their own, and another caller of the same office has its own
    assert (await http.get("/api/cases", headers=headers)).status_code == 200
    other = bearer(token_for(office, subject=f"rate-{uuid.uuid4().hex[:8]}"))
    assert (await http.post("/api/cases", json={}, headers=other)).status_code == 422


async def test_a_bad_token_counts_against_its_senders_address(ray_app: dict[str, Any], http: httpx.AsyncClient) -> None:
    resp = await http.get("/api/cases", headers=bearer("not-a-token"))
    assert resp.status_code == 401
    assert resp.headers["ratelimit-policy"].startswith('"anonymous";')


async def test_each_eu_citizen_has_a_window_of_their_own(
    ray_app: dict[str, Any], settings: Settings, http: httpx.AsyncClient, stack: StackSettings
) -> None:
    """Under /api/eugo/ a citizen's token names the caller, as a staff token does elsewhere: two citizens calling from
    the same address count each in a reads window of their own, not in the address's anonymous one."""
    reads = parse(settings.rate_limit_reads)

    def remaining(resp: httpx.Response) -> int:
        assert resp.status_code == 200, resp.text
        assert resp.headers["ratelimit-policy"] == f'"reads";q={reads.amount};w={reads.get_expiry()}'
        return int(resp.headers["ratelimit"].split(";r=")[1].split(";")[0])

    es, de = [bearer(await citizen_token(stack, c)) for c in TEST_CITIZENS[:2]]
    es_before = remaining(await http.get("/api/eugo/me", headers=es))
    de_before = remaining(await http.get("/api/eugo/me", headers=de))
    for _ in range(3):
        es_now = remaining(await http.get("/api/eugo/me", headers=es))
    assert es_now == es_before - 3
    assert remaining(await http.get("/api/eugo/me", headers=de)) == de_before - 1  # the other's calls did not count
    # a token that is no citizen's counts by address under /api/eugo/ (and is refused)
    refused = await http.get("/api/eugo/me", headers=bearer("not-a-token"))
    assert refused.status_code == 401
    assert refused.headers["ratelimit-policy"].startswith('"anonymous";')

"""Per-caller request rates: the windows on the real Redis, the policy, the settings, and Redis away."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from limits import parse
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from infra.settings import Settings, load_settings
from messages.errors import ConfigurationError
from serve import deps, throttle
from serve.rate_limits import Policy, Windows


@pytest.fixture
def windows(settings: Settings) -> Windows:
    return Windows(settings, f"test-{uuid.uuid4().hex[:8]}")


async def test_a_window_lets_its_limit_through_then_refuses_until_the_oldest_request_leaves(windows: Windows) -> None:
    item = parse("3/minute")
    standings = [await windows.hit(item, "writes:someone") for _ in range(4)]
    assert [s.allowed for s in standings] == [True, True, True, False]
    assert [s.remaining for s in standings] == [2, 1, 0, 0]
    assert all(s.limit == 3 for s in standings)
    assert 1 <= standings[-1].reset_after_s <= 60
    # another caller's window is its own
    assert (await windows.hit(item, "writes:someone-else")).remaining == 2


def test_a_request_counts_in_its_callers_window() -> None:
    policy = Policy(parse("10/minute"), parse("5/minute"), None)
    assert policy.for_request("GET", "s") == ("reads", policy.reads)
    assert policy.for_request("HEAD", "s") == ("reads", policy.reads)
    assert policy.for_request("POST", "s") == ("writes", policy.writes)
    assert policy.for_request("DELETE", "s") == ("writes", policy.writes)
    assert policy.for_request("GET", None) == ("anonymous", None)


def test_a_rate_that_does_not_parse_stops_start_up_by_name(settings: Settings) -> None:
    base = {k: v for k, v in settings.model_dump().items() if not k.startswith("rate_limit")}
    with pytest.raises(ConfigurationError, match="KEP_RATE_LIMIT_WRITES"):
        load_settings(**base, rate_limit_writes="lots per minute")
    assert Policy.from_settings(load_settings(**base, rate_limit_reads="")).reads is None


async def test_when_redis_cannot_count_the_request_passes(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    # nothing listens on port 1: every count fails, as with Redis down
    away = settings.model_copy(update={"redis_url": SecretStr("redis://127.0.0.1:1/0")})
    ctx = SimpleNamespace(rate_policy=Policy(None, None, parse("1/minute")), rate_windows=Windows(away, "x"))

    async def context() -> Any:
        return ctx

    monkeypatch.setattr(deps, "get_context", context)
    app = throttle.RateLimiter(Starlette(routes=[Route("/api/ping", lambda _: PlainTextResponse("pong"))]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        answers = [await client.get("/api/ping") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert all("ratelimit" not in a.headers for a in answers)

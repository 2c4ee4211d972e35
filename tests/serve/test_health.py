"""Liveness, readiness and the published API description."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from infra import amqp
from infra.settings import Settings
from serve.context import CONSUMED_QUEUES, Context
from tests.helpers import bearer


@pytest.mark.parametrize("path", ["/livez", "/healthz"])
async def test_liveness_answers_without_touching_dependencies(http: httpx.AsyncClient, path: str) -> None:
    resp = await http.get(path)
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok"}


async def test_readiness_says_ok_to_anyone_and_what_it_checked_to_an_administrator_only(
    http: httpx.AsyncClient, token_for: Callable[..., str]
) -> None:
    anyone = await http.get("/readyz")
    assert anyone.status_code == 200, anyone.text
    assert anyone.json() == {"ok": True}  # no internals for a caller nobody knows

    employee = await http.get("/readyz", headers=bearer(token_for(uuid.uuid4())))
    assert employee.status_code == 403

    resp = await http.get("/readyz", headers=bearer(token_for(None, roles=("administrator",))))
    assert resp.status_code == 200, resp.text
    report = resp.json()
    assert report["ok"] is True
    assert {d["name"]: d["ok"] for d in report["dependencies"]} == {
        "postgres": True,
        "redis": True,
        "rabbitmq": True,
        "objects": True,
        "engine": True,
        "consumers": True,
        "loops": True,
    }


async def test_readiness_names_the_dependency_that_is_down(ray_app: dict[str, Any], settings: Settings) -> None:
    # given a replica whose Redis, RabbitMQ and engine addresses point at ports where nothing listens
    broken = settings.model_copy(
        update={
            "redis_url": SecretStr("redis://127.0.0.1:1/0"),
            "engine_url": "http://127.0.0.1:1/x",
            "amqp_url": SecretStr("amqp://guest:guest@127.0.0.1:1/"),
        }
    )
    ctx = await Context.open(broken)
    try:
        # when
        report = await ctx.readiness()
    finally:
        await ctx.close()
    # then: the broker away, nobody can tell whether the queues are consumed; the loops run (they use the real ones)
    status = {d.name: d.ok for d in report.dependencies}
    assert report.ok is False
    assert status == {
        "postgres": True,
        "redis": False,
        "rabbitmq": False,
        "objects": True,
        "engine": False,
        "consumers": False,
        "loops": True,
    }
    assert all(d.detail for d in report.dependencies if not d.ok)


async def test_readiness_names_a_queue_without_consumers(ray_app: dict[str, Any], settings: Settings) -> None:
    # given the real system, and one more queue that must be consumed, which nobody consumes
    lonely = f"tests.nobody-consumes.{uuid.uuid4().hex[:8]}"
    connection = await amqp.connect(settings.amqp_url.get_secret_value(), "test-readiness")
    ctx = await Context.open(settings)
    ctx.consumed_queues = (*CONSUMED_QUEUES, lonely)
    try:
        channel = await connection.channel()
        queue = await amqp.declare_queue(channel, lonely)
        # when
        report = await ctx.readiness()
        await queue.delete(if_unused=False, if_empty=False)
        await (await channel.get_queue(f"{lonely}.dlq")).delete(if_unused=False, if_empty=False)
    finally:
        await connection.close()
        await ctx.close()
    # then: that queue is named, and only that one
    [consumers] = [d for d in report.dependencies if d.name == "consumers"]
    assert consumers.ok is False
    assert consumers.detail == f"LookupError: no consumer on {lonely}"


async def test_openapi_is_published(http: httpx.AsyncClient) -> None:
    spec = (await http.get("/openapi.json")).json()
    assert "/api/cases" in spec["paths"]
    assert "/api/cases/{case_id}" in spec["paths"]
    assert (await http.get("/docs")).status_code == 200

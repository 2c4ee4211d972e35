"""Liveness, readiness and the published API description."""

from __future__ import annotations

import httpx
from pydantic import SecretStr

from infra.settings import Settings
from serve.context import Context


async def test_healthz_answers_without_touching_dependencies(http: httpx.AsyncClient) -> None:
    resp = await http.get("/healthz")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok"}


async def test_readyz_checks_every_dependency(http: httpx.AsyncClient) -> None:
    resp = await http.get("/readyz")
    assert resp.status_code == 200, resp.text
    report = resp.json()
    assert report["ok"] is True
    assert {d["name"]: d["ok"] for d in report["dependencies"]} == {
        "postgres": True,
        "redis": True,
        "rabbitmq": True,
        "objects": True,
        "engine": True,
    }


async def test_readiness_names_the_dependency_that_is_down(settings: Settings) -> None:
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
    # then
    status = {d.name: d.ok for d in report.dependencies}
    assert report.ok is False
    assert status == {"postgres": True, "redis": False, "rabbitmq": False, "objects": True, "engine": False}
    assert all(d.detail for d in report.dependencies if not d.ok)


async def test_openapi_is_published(http: httpx.AsyncClient) -> None:
    spec = (await http.get("/openapi.json")).json()
    assert "/api/cases" in spec["paths"]
    assert "/api/cases/{case_id}" in spec["paths"]
    assert (await http.get("/docs")).status_code == 200

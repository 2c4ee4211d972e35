"""The short chaos profile (about three minutes) against the test stack: RabbitMQ down for 30 s, PostgreSQL
restarted, the bridge killed, the outbox relay and a case shard dying at their dangerous points, the engine paused,
all while cases flow; then none lost, stuck, doubled or left as an incident, no drift, no 500."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx

from bpmn_bridge.engine import EngineClient
from infra.settings import Settings
from kepctl import chaos, services
from kepctl.stack import StackSettings
from tests.bpmn_bridge.test_bridge import process_procedure
from tests.conftest import OfficeFactory
from tests.helpers import bearer

SEED = 7


async def test_the_short_chaos_profile_loses_stalls_and_doubles_nothing(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    database_url: str,
    settings: Settings,
    stack: StackSettings,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
) -> None:
    office = await make_office()
    employee = f"emp-{uuid.uuid4().hex[:8]}"
    await pool.execute(
        "INSERT INTO users (id, subject, office_id, display_name, roles) VALUES ($1, $2, $3, $2, '{employee}')",
        uuid.uuid4(),
        employee,
        office,
    )

    async def headers() -> dict[str, str]:
        return bearer(token_for(office, subject=employee))

    async with EngineClient(settings.engine_url, tenant_id=settings.engine_tenant) as engine:
        target = chaos.Target(
            http=http,
            headers=headers,
            office_id=office,
            procedure_id=await process_procedure(make_procedure, pool, evidences=1),
            database_url=database_url,
            engine=engine,
            namespace=settings.ray_namespace,
            services={s.name: s for s in services.all_services(stack, progress=lambda _: None)},
            shards=settings.case_shards,
        )
        report = await chaos.run(target, chaos.plan(SEED, "short"), seed=SEED, rate_per_s=1.0, gap_s=15.0)
    print(report.table())
    assert report.accepted > 100
    assert all(row.error is None for row in report.faults), report.table()
    assert report.ok, report.table()
    assert all(row.in_flight == row.recovered for row in report.faults), report.table()

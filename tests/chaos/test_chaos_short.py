"""The short chaos profile (about three minutes) against the test stack: RabbitMQ down for 30 s, PostgreSQL
restarted, the bridge killed, the outbox relay and a case shard dying at their dangerous points, the engine paused,
PostgreSQL's standby promoted in a switchover (the app, the engine and the checks follow the pair's multi-host
addresses), all while cases flow; then none lost, stuck, doubled or left as an incident, no drift, no 500."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
import httpx

from bpmn_bridge.engine import EngineClient
from infra.settings import Settings
from kepctl import chaos, services
from kepctl.stack import StackSettings
from tests.bpmn_bridge.test_bridge import process_procedure
from tests.helpers import bearer

SEED = 7


async def test_the_short_chaos_profile_loses_stalls_and_doubles_nothing(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    database_url: str,
    settings: Settings,
    stack: StackSettings,
    office_with_staff: dict[str, Any],
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
) -> None:
    office, employee = office_with_staff["office"], office_with_staff["employee"]

    async def headers() -> dict[str, str]:  # a fresh token when the one in hand runs out
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

"""The bridge under trouble: a failing task becomes an incident; the bridge killed, RabbitMQ and the engine restarted
mid-flight; in every case each effect on a case happens once and no task is lost."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest
import ray

from bpmn_bridge.bridge import BRIDGE_ACTOR
from bpmn_bridge.engine import EngineClient
from infra.settings import Settings
from kepctl import services
from kepctl.stack import StackSettings
from tests.bpmn_bridge.test_bridge import process_procedure
from tests.helpers import eventually
from tests.serve.test_cases_http import body

CASES = 4


async def open_cases(http: httpx.AsyncClient, headers: dict[str, str], procedure: uuid.UUID) -> list[str]:
    """Cases that arrive online: the process gives each to someone, then suspends it for its documents."""
    ids = []
    for _ in range(CASES):
        resp = await http.post("/api/cases", json=body(procedure, channel="online"), headers=headers)
        assert resp.status_code == 201, resp.text
        ids.append(resp.json()["id"])
    return ids


async def all_worked_once(pool: asyncpg.Pool[asyncpg.Record], case_ids: list[str], within: float = 120) -> None:
    """Every case assigned and suspended by the process, each effect recorded exactly once."""

    async def worked() -> bool:
        rows = await pool.fetch(
            "SELECT status, assignee FROM cases WHERE id = ANY($1::uuid[])", [uuid.UUID(c) for c in case_ids]
        )
        return len(rows) == len(case_ids) and all(r["status"] == "suspended" and r["assignee"] for r in rows)

    await eventually(worked, within=within)
    counts = await pool.fetch(
        """SELECT case_id, type, count(*) AS n FROM case_events
           WHERE case_id = ANY($1::uuid[]) AND actor = 'bpmn:kep_case' GROUP BY case_id, type""",
        [uuid.UUID(c) for c in case_ids],
    )
    assert {(str(r["case_id"]), r["type"]) for r in counts} == {
        (c, t) for c in case_ids for t in ("case.assigned", "case.suspended")
    }
    assert all(r["n"] == 1 for r in counts)


async def test_a_task_that_cannot_succeed_becomes_an_incident(ray_app: dict[str, Any], settings: Settings) -> None:
    async with EngineClient(settings.engine_url, tenant_id=settings.engine_tenant) as engine:
        # an instance whose business key is no case: the status handler can only fail, and must not retry forever
        instance = await engine.start_process(
            "kep_case", business_key=str(uuid.uuid4()), variables={"office": "nowhere", "escalateAt": "2099-01-01"}
        )

        async def incident() -> bool:
            return bool(await engine.incidents(instance.id))

        await eventually(incident, within=60)
        [found] = await engine.incidents(instance.id)
        assert found.activity_id == "intake"
        assert "does not exist" in (found.incident_message or "")


async def test_the_bridge_killed_mid_flight_loses_and_repeats_nothing(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    settings: Settings,
    make_procedure: Callable[..., Any],
    office_with_staff: dict[str, Any],
) -> None:
    procedure = await process_procedure(make_procedure, pool, evidences=1)
    case_ids = await open_cases(http, office_with_staff["headers"], procedure)
    ray.kill(ray.get_actor(BRIDGE_ACTOR, namespace=settings.ray_namespace), no_restart=False)
    await all_worked_once(pool, case_ids)


@pytest.mark.parametrize("service", ["rabbitmq", "engine"])
async def test_a_restart_of_the_broker_or_the_engine_mid_flight_loses_and_repeats_nothing(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    stack: StackSettings,
    make_procedure: Callable[..., Any],
    office_with_staff: dict[str, Any],
    service: str,
) -> None:
    procedure = await process_procedure(make_procedure, pool, evidences=1)
    case_ids = await open_cases(http, office_with_staff["headers"], procedure)
    [target] = [s for s in services.all_services(stack, progress=lambda _: None) if s.name == service]
    target.stop()
    target.start()
    await all_worked_once(pool, case_ids, within=180)
    # and the system goes on working afterwards: cases opened after the restart are worked as well
    await all_worked_once(pool, await open_cases(http, office_with_staff["headers"], procedure), within=180)

"""The bridge under trouble: a failing task becomes an incident; the bridge killed, RabbitMQ and the engine restarted
mid-flight; in every case each effect on a case happens once and no task is lost."""

from __future__ import annotations

import asyncio
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


async def all_worked_once(
    pool: asyncpg.Pool[asyncpg.Record], case_ids: list[str], within: float = 120, settings: Settings | None = None
) -> None:
    """Every case assigned and suspended by the process, each effect recorded exactly once."""

    async def worked() -> bool:
        rows = await pool.fetch(
            "SELECT status, assignee FROM cases WHERE id = ANY($1::uuid[])", [uuid.UUID(c) for c in case_ids]
        )
        return len(rows) == len(case_ids) and all(r["status"] == "suspended" and r["assignee"] for r in rows)

    try:
        await eventually(worked, within=within)
    except AssertionError:
        rows = await pool.fetch(
            """SELECT c.id, c.status, c.assignee, array_agg(e.type ORDER BY e.id) AS events
               FROM cases c LEFT JOIN case_events e ON e.case_id = c.id
               WHERE c.id = ANY($1::uuid[]) GROUP BY c.id""",
            [uuid.UUID(c) for c in case_ids],
        )
        incidents = []
        if settings is not None:
            async with EngineClient(settings.engine_url, tenant_id=settings.engine_tenant) as engine:
                for case_id in case_ids:
                    for instance in await engine.process_instances(business_key=case_id):
                        incidents += [
                            (case_id, i.activity_id, i.incident_message) for i in await engine.incidents(instance.id)
                        ]
        raise AssertionError(f"not all worked: {[dict(r) for r in rows]}; incidents: {incidents}") from None
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

        async def incidents() -> bool:  # the intake's, and the receipt's (the renderer finds no case either)
            return len(await engine.incidents(instance.id)) == 2

        await eventually(incidents, within=60)
        found = {i.activity_id: i for i in await engine.incidents(instance.id)}
        assert set(found) == {"intake", "issue_receipt"}
        assert all("does not exist" in (i.incident_message or "") for i in found.values())


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


@pytest.mark.parametrize(
    ("service", "down_s"),
    # 30 s: longer than any reconnect interval, so every client finds the broker back at about the same moment (the
    # bridge used to read its workers' consumers before they had come back, saw none, and never fetched again)
    # PostgreSQL: the process steps in flight fail on lost connections, which must be retried, never incidents
    [("rabbitmq", 0), ("rabbitmq", 30), ("engine", 0), ("postgres", 0)],
)
async def test_a_restart_of_the_broker_or_the_engine_mid_flight_loses_and_repeats_nothing(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    stack: StackSettings,
    make_procedure: Callable[..., Any],
    office_with_staff: dict[str, Any],
    settings: Settings,
    service: str,
    down_s: float,
) -> None:
    procedure = await process_procedure(make_procedure, pool, evidences=1)
    case_ids = await open_cases(http, office_with_staff["headers"], procedure)
    [target] = [s for s in services.all_services(stack, progress=lambda _: None) if s.name == service]
    target.stop()
    await asyncio.sleep(down_s)
    target.start()
    await pool.expire_connections()  # this test's own connections died with a restarted PostgreSQL
    await all_worked_once(pool, case_ids, within=180, settings=settings)
    # and the system goes on working afterwards: cases opened after the restart are worked as well
    later = await open_cases(http, office_with_staff["headers"], procedure)
    await all_worked_once(pool, later, within=180, settings=settings)
    async with EngineClient(settings.engine_url, tenant_id=settings.engine_tenant) as engine:
        for case_id in case_ids + later:
            [instance] = await engine.process_instances(business_key=case_id)
            assert await engine.incidents(instance.id) == [], case_id

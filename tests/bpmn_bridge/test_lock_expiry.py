"""A lock that runs out after the effect happened: the engine hands the task out again, the worker runs it again,
and the case sees the effect once.

Played on a tenant of its own, which the running bridge never fetches from, so this test decides who locks what and
when: first a worker that "crashed" after its effect (its result is refused: the task is locked by somebody else),
then, once the lock has expired, the bridge's own worker id (its result completes the task).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import asyncpg
import httpx
import pytest

from bpmn_bridge.bridge import PROCESSES_DIR, command_for
from bpmn_bridge.engine import EngineClient, ExternalTask, TopicRequest
from bpmn_bridge.topics import OPTIONS
from infra import amqp
from infra.settings import Settings
from tests.helpers import eventually
from tests.serve.test_cases_http import body

TOPIC = "case-intake"
SHORT_LOCK_MS = 1_000


async def lock_first_task(engine: EngineClient, worker_id: str, lock_ms: int) -> ExternalTask:
    found: list[ExternalTask] = []
    variables = OPTIONS[TOPIC].variables

    async def locked() -> bool:
        found[:] = await engine.fetch_and_lock(worker_id, [TopicRequest(TOPIC, lock_ms, variables=variables)], 1, 0)
        return bool(found)

    await eventually(locked, within=90)  # the second lock: until the first has run out
    return found[0]


async def hand_to_workers(settings: Settings, task: ExternalTask) -> None:
    """What the bridge does with a locked task: a command on `tasks.<topic>`."""
    command = command_for(task)
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = (await amqp.declare_exchanges(channel)).tasks
        message = amqp.raw_message(command.model_dump_json().encode(), task.id, "kep.task.command")
        await amqp.publish(exchange, message, routing_key=TOPIC)


@pytest.fixture
async def own_tenant(settings: Settings) -> Any:
    tenant = f"lock-{uuid.uuid4().hex[:8]}"
    async with EngineClient(settings.engine_url, tenant_id=tenant) as engine:
        await engine.deploy("kep-lock-test", {"kep_case.bpmn": (PROCESSES_DIR / "kep_case.bpmn").read_bytes()})
        yield engine
    async with httpx.AsyncClient(base_url=settings.engine_url, timeout=30) as http:
        for deployment in (await http.get("/deployment", params={"tenantIdIn": tenant})).json():
            await http.delete(f"/deployment/{deployment['id']}", params={"cascade": "true"})


async def test_a_task_fetched_again_after_its_lock_expired_acts_once(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    settings: Settings,
    make_procedure: Callable[..., Any],
    office_with_staff: dict[str, Any],
    own_tenant: EngineClient,
) -> None:
    engine = own_tenant
    procedure = await make_procedure()  # no process of its own: only this test's instance drives the case
    # arrived online: nobody has it, and the intake gives it to the office's only employee
    headers = office_with_staff["headers"]
    case = (await http.post("/api/cases", json=body(procedure, channel="online"), headers=headers)).json()
    instance = await engine.start_process(
        "kep_case",
        business_key=case["id"],
        variables={
            "office": str(office_with_staff["office"]),
            "caseId": case["id"],
            "procedureId": str(procedure),
            "escalateAt": datetime.now(UTC) + timedelta(days=30),
        },
    )

    # a first worker locks the task briefly, its effect happens, then it is gone: its result is refused
    first = await lock_first_task(engine, "kep-crashed-bridge", SHORT_LOCK_MS)
    await hand_to_workers(settings, first)

    async def assigned() -> bool:
        found = await pool.fetchval("SELECT assignee FROM cases WHERE id = $1", uuid.UUID(case["id"]))
        return bool(found == office_with_staff["employee"])

    await eventually(assigned, within=60)

    # its result was refused and the lock runs out: the engine hands the same task, not completed, to the bridge's
    # worker id, and it goes to the workers again
    second = await lock_first_task(engine, settings.bridge_worker_id, 60_000)
    assert (second.id, second.activity_instance_id) == (first.id, first.activity_instance_id)
    await hand_to_workers(settings, second)

    async def moved_on() -> bool:
        tasks = await engine.user_tasks(process_instance_id=instance.id)
        return [t.task_definition_key for t in tasks] == ["review"]

    await eventually(moved_on, within=60)  # the bridge completed it with the second result
    assigned_events = await pool.fetchval(
        "SELECT count(*) FROM case_events WHERE case_id = $1 AND type = 'case.assigned'", uuid.UUID(case["id"])
    )
    assert assigned_events == 1
    assert instance.id == second.process_instance_id

"""The KEP case process end to end on the real engine: bridge, RabbitMQ, workers, case shards, user tasks."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest

from infra.settings import Settings
from kepctl.seed import REVIEW_FORM
from tests.conftest import OfficeFactory
from tests.helpers import bearer, eventually
from tests.serve.test_cases_http import body

PDF = b"%PDF-1.7\n%%EOF\n"


async def process_procedure(
    make_procedure: Callable[..., Any], pool: asyncpg.Pool[asyncpg.Record], evidences: int = 0
) -> uuid.UUID:
    procedure: uuid.UUID = await make_procedure()
    payload = {"metadata": {"process_evidences": [{"evidence_description": "Υπεύθυνη δήλωση"}] * evidences}}
    await pool.execute(
        "UPDATE procedures SET bpmn_process_key = 'kep_case', payload = $2 WHERE id = $1", procedure, payload
    )
    return procedure


async def case_row(pool: asyncpg.Pool[asyncpg.Record], case_id: str) -> asyncpg.Record:
    row = await pool.fetchrow("SELECT status, assignee, version FROM cases WHERE id = $1", uuid.UUID(case_id))
    assert row is not None
    return row


async def review_task(http: httpx.AsyncClient, headers: dict[str, str], case_id: str) -> dict[str, Any] | None:
    tasks = (await http.get("/api/tasks", headers=headers)).json()
    return next((t for t in tasks if t["case_id"] == case_id and t["task_definition_key"] == "review"), None)


@pytest.fixture
async def review_form(http: httpx.AsyncClient, token_for: Callable[..., str]) -> None:
    """The review task's form (formKey kep:review), as the demo seed saves it."""
    admin = bearer(token_for(uuid.uuid4(), roles=("administrator",)))
    saved = await http.post("/api/admin/forms", json={"key": "review", "title": "Έλεγχος", "definition": REVIEW_FORM},
                            headers=admin)  # fmt: skip
    assert saved.status_code == 201


async def test_a_case_runs_through_its_process(
    review_form: None,
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    make_procedure: Callable[..., Any],
    make_office: OfficeFactory,
    token_for: Callable[..., str],
    office_with_staff: dict[str, Any],
) -> None:
    headers = office_with_staff["headers"]
    procedure = await process_procedure(make_procedure, pool)
    case = (await http.post("/api/cases", json=body(procedure), headers=headers)).json()

    # the engine's service tasks move the case: in progress, then assigned by rule to the office's only employee
    async def worked() -> bool:
        row = await case_row(pool, case["id"])
        return (row["status"], row["assignee"]) == ("in_progress", office_with_staff["employee"])

    await eventually(worked, within=60)

    task: dict[str, Any] | None = None

    async def offered() -> bool:
        nonlocal task
        task = await review_task(http, headers, case["id"])
        return task is not None

    await eventually(offered, within=60)
    assert task is not None
    stranger = bearer(token_for(await make_office(), roles=("employee", "supervisor")))
    assert await review_task(http, stranger, case["id"]) is None  # another office never sees it
    assert (await http.post(f"/api/tasks/{task['id']}/claim", headers=stranger)).status_code == 404

    url = f"/api/tasks/{task['id']}"
    assert (
        await http.post(f"{url}/complete", json={"data": {"decision": "approve"}}, headers=headers)
    ).status_code == 422
    assert (await http.post(f"{url}/claim", headers=headers)).status_code == 204
    invalid = await http.post(f"{url}/complete", json={"data": {"decision": "maybe"}}, headers=headers)
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["path"] == "/data/decision"
    done = await http.post(f"{url}/complete", json={"data": {"decision": "approve", "comment": "εντάξει"}},
                           headers=headers)  # fmt: skip
    assert done.status_code == 204, done.text

    async def completed() -> bool:
        return (await case_row(pool, case["id"]))["status"] == "completed"

    await eventually(completed, within=60)
    events = await pool.fetch(
        "SELECT type, actor FROM case_events WHERE case_id = $1 ORDER BY id", uuid.UUID(case["id"])
    )
    by_process = [e["type"] for e in events if e["actor"] == "bpmn:kep_case"]
    # each effect once, however often the tasks were delivered
    assert by_process == ["case.started", "case.assigned", "case.completed"]


async def test_a_missing_document_suspends_the_case_until_it_arrives(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    make_procedure: Callable[..., Any],
    office_with_staff: dict[str, Any],
) -> None:
    headers = office_with_staff["headers"]
    procedure = await process_procedure(make_procedure, pool, evidences=1)
    case = (await http.post("/api/cases", json=body(procedure), headers=headers)).json()

    async def suspended() -> bool:
        return (await case_row(pool, case["id"]))["status"] == "suspended"

    await eventually(suspended, within=60)  # the BPMN error was caught by its boundary event
    upload = await http.post(f"/api/cases/{case['id']}/documents",
                             files={"file": ("δήλωση.pdf", PDF, "application/pdf")}, headers=headers)  # fmt: skip
    assert upload.status_code == 201, upload.text

    async def resumed_and_offered() -> bool:
        row = await case_row(pool, case["id"])
        return row["status"] == "in_progress" and await review_task(http, headers, case["id"]) is not None

    await eventually(resumed_and_offered, within=60)
    events = [
        json.dumps(dict(e), default=str)
        for e in await pool.fetch(
            "SELECT type FROM case_events WHERE case_id = $1 AND actor = 'bpmn:kep_case' ORDER BY id",
            uuid.UUID(case["id"]),
        )
    ]
    assert [json.loads(e)["type"] for e in events] == ["case.started", "case.assigned", "case.suspended",
                                                      "case.resumed"]  # fmt: skip


async def test_a_case_past_its_due_date_is_escalated_to_the_supervisor_once(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    settings: Settings,
    make_procedure: Callable[..., Any],
    office_with_staff: dict[str, Any],
) -> None:
    headers = office_with_staff["headers"]
    supervisor = f"sup-{uuid.uuid4().hex[:8]}"
    await pool.execute(
        "INSERT INTO users (id, subject, office_id, display_name, roles) VALUES ($1, $2, $3, $2, '{supervisor}')",
        uuid.uuid4(),
        supervisor,
        office_with_staff["office"],
    )
    procedure = await process_procedure(make_procedure, pool)
    case = (await http.post("/api/cases", json=body(procedure), headers=headers)).json()

    async def offered() -> bool:
        return await review_task(http, headers, case["id"]) is not None

    await eventually(offered, within=60)
    async with httpx.AsyncClient(base_url=settings.engine_url, timeout=30) as engine:
        [instance] = (await engine.get("/process-instance", params={"businessKey": case["id"]})).json()
        # the due-date timer is a job of the engine: running it now is the engine's own way of letting time pass
        [timer] = (await engine.get("/job", params={"processInstanceId": instance["id"], "timers": "true"})).json()
        assert (await engine.post(f"/job/{timer['id']}/execute")).status_code == 204

    async def escalated() -> bool:
        return (await case_row(pool, case["id"]))["assignee"] == supervisor

    await eventually(escalated, within=60)
    events = await pool.fetch(
        "SELECT type, new FROM case_events WHERE case_id = $1 AND actor = 'bpmn:kep_case' ORDER BY id",
        uuid.UUID(case["id"]),
    )
    assert [e["type"] for e in events] == ["case.started", "case.assigned", "case.noted", "case.assigned"]
    assert "κλιμάκωση" in events[2]["new"]["note"]
    # non-interrupting: the review stays with the office, the case is still open for it
    assert await review_task(http, headers, case["id"]) is not None
    assert (await case_row(pool, case["id"]))["status"] == "in_progress"

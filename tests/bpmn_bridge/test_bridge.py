"""The KEP case process end to end on the real engine: bridge, RabbitMQ, workers, case shards, user tasks."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx

from tests.conftest import OfficeFactory
from tests.helpers import bearer, eventually
from tests.serve.test_cases_http import body

PDF = b"%PDF-1.7\n%%EOF\n"
PROCESS = "bpmn:kep_case"


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
    row = await pool.fetchrow("SELECT status, assignee, version, due_at FROM cases WHERE id = $1", uuid.UUID(case_id))
    assert row is not None
    return row


async def reaches(pool: asyncpg.Pool[asyncpg.Record], case_id: str, status: str, within: float = 60) -> None:
    """Until the case is in `status` (the process works asynchronously)."""

    async def there() -> bool:
        return bool((await case_row(pool, case_id))["status"] == status)

    await eventually(there, within=within)


async def by_process(pool: asyncpg.Pool[asyncpg.Record], case_id: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT type FROM case_events WHERE case_id = $1 AND actor = $2 ORDER BY id", uuid.UUID(case_id), PROCESS
    )
    return [r["type"] for r in rows]


async def review_task(http: httpx.AsyncClient, headers: dict[str, str], case_id: str) -> dict[str, Any] | None:
    page = (await http.get("/api/tasks", params={"case_id": case_id}, headers=headers)).json()
    return next((t for t in page["items"] if t["task_definition_key"] == "review"), None)


async def offered(http: httpx.AsyncClient, headers: dict[str, str], case_id: str) -> dict[str, Any]:
    task: dict[str, Any] | None = None

    async def found() -> bool:
        nonlocal task
        task = await review_task(http, headers, case_id)
        return task is not None

    await eventually(found, within=60)
    assert task is not None
    return task


async def open_online(http: httpx.AsyncClient, headers: dict[str, str], procedure: uuid.UUID) -> dict[str, Any]:
    """A case that arrived online: nobody has it until the process's intake gives it to someone."""
    resp = await http.post("/api/cases", json=body(procedure, channel="online"), headers=headers)
    assert resp.status_code == 201, resp.text
    case: dict[str, Any] = resp.json()
    return case


async def decide(http: httpx.AsyncClient, headers: dict[str, str], task: dict[str, Any], data: dict[str, Any]) -> None:
    url = f"/api/tasks/{task['id']}"
    assert (await http.post(f"{url}/claim", headers=headers)).status_code == 204
    done = await http.post(f"{url}/complete", json={"data": data}, headers=headers)
    assert done.status_code == 204, done.text


async def test_an_approved_case_runs_through_its_process(
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
    case = await open_online(http, headers, await process_procedure(make_procedure, pool))

    # the intake gives it to the office's only employee; the review is offered to the office
    task = await offered(http, headers, case["id"])
    assert (await case_row(pool, case["id"]))["assignee"] == office_with_staff["employee"]
    stranger = bearer(token_for(await make_office(), roles=("employee", "supervisor")))
    assert await review_task(http, stranger, case["id"]) is None  # another office never sees it
    assert (await http.post(f"/api/tasks/{task['id']}/claim", headers=stranger)).status_code == 404

    url = f"/api/tasks/{task['id']}"
    assert (await http.post(f"{url}/claim", headers=headers)).status_code == 204
    invalid = await http.post(f"{url}/complete", json={"data": {"decision": "maybe"}}, headers=headers)
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["path"] == "/data/decision"
    done = await http.post(f"{url}/complete", json={"data": {"decision": "approve", "comment": "εντάξει"}},
                           headers=headers)  # fmt: skip
    assert done.status_code == 204, done.text

    await reaches(pool, case["id"], "completed")
    # each effect once, however often the tasks were delivered; nobody had started it, so the decision did
    # (the notes: the way the certificate goes, and its posting to the citizen's mailbox)
    assert await by_process(pool, case["id"]) == [
        "case.assigned", "case.noted", "case.noted", "case.started", "case.completed"
    ]  # fmt: skip


async def test_a_rejected_review_rejects_the_case_with_the_reviewers_reason(
    review_form: None,
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    make_procedure: Callable[..., Any],
    office_with_staff: dict[str, Any],
) -> None:
    headers = office_with_staff["headers"]
    case = await open_online(http, headers, await process_procedure(make_procedure, pool))
    task = await offered(http, headers, case["id"])
    url = f"/api/tasks/{task['id']}"
    assert (await http.post(f"{url}/claim", headers=headers)).status_code == 204
    # a rejection needs its reason (the form shows and requires it only then)
    unexplained = await http.post(f"{url}/complete", json={"data": {"decision": "reject"}}, headers=headers)
    assert unexplained.status_code == 422
    assert [e["path"] for e in unexplained.json()["errors"]] == ["/data/reason"]
    await decide(http, headers, task, {"decision": "reject", "reason": "Λείπει η βεβαίωση του δήμου"})

    await reaches(pool, case["id"], "rejected")
    reason = await pool.fetchval(
        "SELECT reason FROM case_events WHERE case_id = $1 AND type = 'case.rejected'", uuid.UUID(case["id"])
    )
    assert reason == "Λείπει η βεβαίωση του δήμου"
    assert await by_process(pool, case["id"]) == ["case.assigned", "case.rejected"]


async def test_a_missing_document_suspends_the_case_until_it_arrives(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    make_procedure: Callable[..., Any],
    office_with_staff: dict[str, Any],
) -> None:
    headers = office_with_staff["headers"]
    case = await open_online(http, headers, await process_procedure(make_procedure, pool, evidences=1))

    await reaches(pool, case["id"], "suspended")  # the BPMN error was caught by its boundary event
    upload = await http.post(f"/api/cases/{case['id']}/documents",
                             files={"file": ("δήλωση.pdf", PDF, "application/pdf")}, headers=headers)  # fmt: skip
    assert upload.status_code == 201, upload.text
    await offered(http, headers, case["id"])
    assert (await case_row(pool, case["id"]))["status"] == "submitted"  # back where the suspension found it
    assert await by_process(pool, case["id"]) == ["case.assigned", "case.suspended", "case.resumed"]


async def test_an_employee_who_resumes_a_case_waiting_for_documents_lets_the_process_go_on(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    make_procedure: Callable[..., Any],
    office_with_staff: dict[str, Any],
) -> None:
    headers = office_with_staff["headers"]
    case = await open_online(http, headers, await process_procedure(make_procedure, pool, evidences=1))

    await reaches(pool, case["id"], "suspended")
    version = (await case_row(pool, case["id"]))["version"]
    resumed = await http.post(f"/api/cases/{case['id']}/resume", json={"version": version}, headers=headers)
    assert resumed.status_code == 200, resumed.text
    # the citizen brought the papers to the counter: the process takes the employee's word and goes to the review
    await offered(http, headers, case["id"])
    assert (await case_row(pool, case["id"]))["status"] == "submitted"
    assert await by_process(pool, case["id"]) == ["case.assigned", "case.suspended"]


async def test_a_suspended_cases_review_is_not_decided_until_it_is_resumed(
    review_form: None,
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    make_procedure: Callable[..., Any],
    office_with_staff: dict[str, Any],
) -> None:
    headers = office_with_staff["headers"]
    case = await open_online(http, headers, await process_procedure(make_procedure, pool))
    task = await offered(http, headers, case["id"])
    version = (await case_row(pool, case["id"]))["version"]
    suspended = await http.post(f"/api/cases/{case['id']}/suspend", json={"version": version, "reason": "αναμονή"},
                                headers=headers)  # fmt: skip
    assert suspended.status_code == 200, suspended.text
    url = f"/api/tasks/{task['id']}"
    assert (await http.post(f"{url}/claim", headers=headers)).status_code == 204
    refused = await http.post(f"{url}/complete", json={"data": {"decision": "approve"}}, headers=headers)
    assert refused.status_code == 409, refused.text
    assert "suspended" in refused.json()["detail"]
    resumed = await http.post(f"/api/cases/{case['id']}/resume", json={"version": suspended.json()["version"]},
                              headers=headers)  # fmt: skip
    assert resumed.status_code == 200
    done = await http.post(f"{url}/complete", json={"data": {"decision": "approve"}}, headers=headers)
    assert done.status_code == 204, done.text


async def test_a_case_received_at_the_counter_goes_straight_to_the_review(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    make_procedure: Callable[..., Any],
    office_with_staff: dict[str, Any],
) -> None:
    headers = office_with_staff["headers"]
    procedure = await process_procedure(make_procedure, pool, evidences=2)
    opened = await http.post("/api/cases", json=body(procedure), headers=headers)  # at the counter
    case = opened.json()
    # the employee who took it in has it and has seen the papers: no assignment rule, no documents check
    assert case["assignee"] == office_with_staff["employee"]
    await offered(http, headers, case["id"])
    assert (await case_row(pool, case["id"]))["status"] == "submitted"
    assert await by_process(pool, case["id"]) == []

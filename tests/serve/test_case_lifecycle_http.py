"""Case lifecycle over HTTP: actions, versions, assignment, notes, timeline; no endpoint open to another office."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from serve.app import api
from serve.routers.cases import TRANSITION_ACTIONS
from tests.conftest import OfficeFactory
from tests.helpers import bearer
from tests.serve.test_cases_http import body

SUPERVISOR = ("employee", "supervisor")


class Desk:
    """One office with an employee and a supervisor (their tokens make them users of the office, so cases can be
    assigned to them)."""

    def __init__(self, http: httpx.AsyncClient, token_for: Callable[..., str], office: uuid.UUID) -> None:
        self.http, self.office = http, office
        self.employee, self.supervisor = f"emp-{uuid.uuid4().hex[:8]}", f"sup-{uuid.uuid4().hex[:8]}"
        self.as_employee = bearer(token_for(office, subject=self.employee))
        self.as_supervisor = bearer(token_for(office, roles=SUPERVISOR, subject=self.supervisor))

    async def open(self, procedure: uuid.UUID, channel: str = "online") -> dict[str, Any]:
        """Arrived online: nobody's yet (a case opened at the counter is the opener's)."""
        resp = await self.http.post("/api/cases", json=body(procedure, channel=channel), headers=self.as_employee)
        assert resp.status_code == 201, resp.text
        case: dict[str, Any] = resp.json()
        return case

    async def act(self, case: dict[str, Any], action: str, supervisor: bool = False, **fields: Any) -> httpx.Response:
        headers = self.as_supervisor if supervisor else self.as_employee
        payload = {"version": case["version"], **fields}
        return await self.http.post(f"/api/cases/{case['id']}/{action}", json=payload, headers=headers)


@pytest.fixture
async def desk(http: httpx.AsyncClient, token_for: Callable[..., str], make_office: OfficeFactory) -> Desk:
    return Desk(http, token_for, await make_office())


async def test_a_case_goes_through_its_life_and_every_step_is_on_the_timeline(
    desk: Desk, make_procedure: Callable[..., Any], pool: asyncpg.Pool[asyncpg.Record]
) -> None:
    case = await desk.open(await make_procedure(duration_days=10))
    steps = [
        ("assign", False, {"assignee": desk.employee}),
        ("start", False, {}),
        ("suspend", False, {"reason": "λείπει η υπεύθυνη δήλωση"}),
        ("resume", False, {}),
        ("extend", False, {"days": 5, "reason": "αναμονή απάντησης δήμου"}),
        ("complete", False, {}),
        ("close", False, {}),
        ("reopen", True, {"reason": "λάθος στο πιστοποιητικό"}),
    ]
    due = datetime.fromisoformat(case["due_at"])
    for action, supervisor, fields in steps:
        resp = await desk.act(case, action, supervisor, **fields)
        assert resp.status_code == 200, (action, resp.text)
        assert resp.json()["version"] == case["version"] + 1, action
        case = resp.json()
    assert (case["status"], case["assignee"]) == ("in_progress", desk.employee)
    assert datetime.fromisoformat(case["due_at"]) - due >= timedelta(days=5)  # extension, plus the suspension
    assert set(case["status_changed_at"]) == {"submitted", "in_progress", "suspended", "completed", "closed"}

    note = await desk.http.post(f"/api/cases/{case['id']}/notes", json={"text": "τηλεφώνησε ο πολίτης"},
                                headers=desk.as_employee)  # fmt: skip
    assert note.status_code == 201
    assert note.json()["version"] == case["version"]  # a note is not a change of the case

    timeline = await desk.http.get(f"/api/cases/{case['id']}/timeline", headers=desk.as_employee)
    types = [e["type"] for e in timeline.json()]
    assert types == ["case.opened", "case.assigned", "case.started", "case.suspended", "case.resumed",
                     "case.extended", "case.completed", "case.closed", "case.reopened", "case.noted"]  # fmt: skip
    suspended = timeline.json()[3]
    assert (suspended["old"], suspended["reason"]) == (
        {"status": "in_progress", "suspended_at": None, "suspended_from": None, "suspended_by": None},
        "λείπει η υπεύθυνη δήλωση",
    )
    assert suspended["new"]["status"] == "suspended"
    assert timeline.json()[-1]["new"] == {"note": "τηλεφώνησε ο πολίτης"}
    exported = await desk.http.get(f"/api/cases/{case['id']}/timeline.csv", headers=desk.as_employee)
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["type"] for r in rows] == types

    outbox = await pool.fetch(
        "SELECT routing_key, envelope FROM outbox WHERE envelope->>'subject' = $1 ORDER BY id", case["id"]
    )
    assert [r["routing_key"].split(".")[1] for r in outbox] == [t.split(".")[1] for t in types]
    last = json.loads(outbox[-2]["envelope"]) if isinstance(outbox[-2]["envelope"], str) else outbox[-2]["envelope"]
    assert last["type"] == "gr.kep.case.reopened.v1"
    assert last["data"]["version"] == case["version"]


async def test_a_stale_version_gets_409_and_changes_nothing(
    desk: Desk, make_procedure: Callable[..., Any], pool: asyncpg.Pool[asyncpg.Record]
) -> None:
    case = await desk.open(await make_procedure())
    first = await desk.act(case, "start")
    assert first.status_code == 200
    stale = await desk.act(case, "suspend", reason="μια δεύτερη καρτέλα")  # still holds version 1
    assert stale.status_code == 409
    assert stale.headers["content-type"] == "application/problem+json"
    row = await pool.fetchrow("SELECT status, version FROM cases WHERE id = $1", uuid.UUID(case["id"]))
    assert row is not None
    assert (row["status"], row["version"]) == ("in_progress", 2)
    assert await pool.fetchval("SELECT count(*) FROM case_events WHERE case_id = $1", uuid.UUID(case["id"])) == 2
    etag = await desk.http.get(f"/api/cases/{case['id']}", headers=desk.as_employee)
    assert etag.headers["ETag"] == '"2"'


async def test_refusals_name_the_field_or_the_rule(desk: Desk, make_procedure: Callable[..., Any]) -> None:
    case = await desk.open(await make_procedure())
    no_reason = await desk.act(case, "reject", reason="")
    assert no_reason.status_code == 422
    assert no_reason.json()["errors"][0]["path"] == "/reason"
    not_yet = await desk.act(case, "complete")
    assert not_yet.status_code == 409  # a submitted case is not completed without being worked on
    employee_reopen = await desk.act(case, "reopen", reason="θέλω")
    assert employee_reopen.status_code in {403, 409}
    stranger = await desk.act(case, "assign", True, assignee=f"nobody-{uuid.uuid4().hex[:6]}")
    assert stranger.status_code == 422
    assert stranger.json()["errors"][0]["path"] == "/assignee"
    give_away = await desk.act(case, "assign", assignee=desk.supervisor)
    assert give_away.status_code == 403


async def test_a_retried_action_with_the_same_idempotency_key_applies_once(
    desk: Desk, make_procedure: Callable[..., Any], pool: asyncpg.Pool[asyncpg.Record]
) -> None:
    case = await desk.open(await make_procedure())
    headers = desk.as_employee | {"Idempotency-Key": f"start-{uuid.uuid4()}"}
    url = f"/api/cases/{case['id']}/start"
    first = await desk.http.post(url, json={"version": 1}, headers=headers)
    again = await desk.http.post(url, json={"version": 1}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert again.headers["idempotent-replayed"] == "true"
    events = await pool.fetchval(
        "SELECT count(*) FROM case_events WHERE case_id = $1 AND type = 'case.started'", uuid.UUID(case["id"])
    )
    assert events == 1
    # the replay is the first answer, even after the case moved on
    assert (await desk.act(first.json(), "suspend", reason="λείπει έγγραφο")).status_code == 200
    late = await desk.http.post(url, json={"version": 1}, headers=headers)
    assert (late.status_code, late.json()) == (200, first.json())


async def test_an_idempotency_key_reused_for_another_case_or_action_is_refused(
    desk: Desk, make_procedure: Callable[..., Any], pool: asyncpg.Pool[asyncpg.Record]
) -> None:
    procedure = await make_procedure()
    case, other = await desk.open(procedure), await desk.open(procedure)
    headers = desk.as_employee | {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    assert (
        await desk.http.post(f"/api/cases/{case['id']}/start", json={"version": 1}, headers=headers)
    ).status_code == 200
    for url, payload in (
        (f"/api/cases/{other['id']}/start", {"version": 1}),  # another case
        (f"/api/cases/{case['id']}/suspend", {"version": 2, "reason": "λόγος"}),  # another action
        (f"/api/cases/{case['id']}/start", {"version": 2}),  # another body
    ):
        resp = await desk.http.post(url, json=payload, headers=headers)
        assert resp.status_code == 422, (url, resp.text)
        assert resp.json()["errors"][0]["path"] == "/idempotency-key"
    rows = await pool.fetch(
        "SELECT id, status, version FROM cases WHERE id = ANY($1::uuid[])",
        [uuid.UUID(case["id"]), uuid.UUID(other["id"])],
    )
    assert {(str(r["id"]), r["status"], r["version"]) for r in rows} == {
        (case["id"], "in_progress", 2),
        (other["id"], "submitted", 1),
    }


async def test_a_supervisor_reassigns_in_bulk_and_sees_what_failed(
    desk: Desk, make_procedure: Callable[..., Any], make_office: OfficeFactory, token_for: Callable[..., str]
) -> None:
    procedure = await make_procedure()
    cases = [await desk.open(procedure) for _ in range(3)]
    elsewhere = Desk(desk.http, token_for, await make_office())
    foreign = await elsewhere.open(procedure)
    ids = [c["id"] for c in cases] + [foreign["id"]]
    payload = {"case_ids": ids, "assignee": desk.employee, "reason": "άδεια της Ελένης"}
    as_employee = await desk.http.post("/api/cases/bulk/reassign", json=payload, headers=desk.as_employee)
    assert as_employee.status_code == 403
    resp = await desk.http.post("/api/cases/bulk/reassign", json=payload, headers=desk.as_supervisor)
    assert resp.status_code == 200, resp.text
    assert sorted(resp.json()["updated"]) == sorted(c["id"] for c in cases)
    assert list(resp.json()["failed"]) == [foreign["id"]]  # another office's case: not found, not touched
    for c in cases:
        read = await desk.http.get(f"/api/cases/{c['id']}", headers=desk.as_employee)
        assert read.json()["assignee"] == desk.employee
    untouched = await elsewhere.http.get(f"/api/cases/{foreign['id']}", headers=elsewhere.as_employee)
    assert untouched.json()["assignee"] is None


# a valid request body for every case endpoint with a body: a new endpoint must be added here (KeyError otherwise)
BODIES: dict[str, dict[str, Any] | None] = {
    "start": {"version": 1},
    "resume": {"version": 1},
    "complete": {"version": 1},
    "close": {"version": 1},
    "suspend": {"version": 1, "reason": "λόγος"},
    "reject": {"version": 1, "reason": "λόγος"},
    "reopen": {"version": 1, "reason": "λόγος"},
    "extend": {"version": 1, "reason": "λόγος", "days": 3},
    "assign": {"version": 1, "assignee": None},
    # no routing rule for the procedure there: no competent office (409) in the case's own office
    "transfer": {"version": 1, "reason": "λόγος", "region": "Κρήτη"},
    "notes": {"text": "σημείωση"},
    "messages": {"text": "a message to the citizen"},  # an EUGO application's case only (404 for this one)
    "form": {"version": 1, "data": {}},
    "documents": None,  # POST is a multipart upload, see _request
    "render": {"kind": "receipt"},
    "{document_id}": None,
    "timeline": None,
    "timeline.csv": None,
    "{case_id}": None,
}


async def _request(http: httpx.AsyncClient, method: str, url: str, headers: dict[str, str]) -> httpx.Response:
    if method == "POST" and url.endswith("/documents"):
        files = {"file": ("a.pdf", b"%PDF-1.7\n%%EOF\n", "application/pdf")}
        return await http.post(url, files=files, headers=headers)
    return await http.request(method, url, json=BODIES[url.rsplit("/", 1)[-1]] if method != "GET" else None,
                              headers=headers)  # fmt: skip


def _case_routes() -> list[tuple[str, str]]:
    """Every case endpoint as the API publishes it (OpenAPI), the transition route once per action."""
    routes = []
    for path, operations in api.openapi()["paths"].items():
        if path.startswith("/api/cases/{case_id}"):
            paths = [path.replace("{action}", a) for a in TRANSITION_ACTIONS] if path.endswith("{action}") else [path]
            routes += [(method.upper(), p) for method in operations for p in paths]
    assert routes, "no case endpoints found"
    return sorted(routes)


@pytest.mark.parametrize(("method", "path"), _case_routes())
async def test_no_case_endpoint_serves_another_office(
    desk: Desk,
    make_procedure: Callable[..., Any],
    make_office: OfficeFactory,
    token_for: Callable[..., str],
    pool: asyncpg.Pool[asyncpg.Record],
    method: str,
    path: str,
) -> None:
    case = await desk.open(await make_procedure())
    before = await pool.fetchrow("SELECT * FROM cases WHERE id = $1", uuid.UUID(case["id"]))
    events = await pool.fetchval("SELECT count(*) FROM case_events WHERE case_id = $1", uuid.UUID(case["id"]))
    intruder = bearer(token_for(await make_office(), roles=SUPERVISOR))
    url = path.replace("{case_id}", case["id"]).replace("{document_id}", str(uuid.uuid4()))
    resp = await _request(desk.http, method, url, intruder)
    assert resp.status_code == 404, resp.text
    assert await pool.fetchrow("SELECT * FROM cases WHERE id = $1", uuid.UUID(case["id"])) == before
    assert await pool.fetchval("SELECT count(*) FROM case_events WHERE case_id = $1", uuid.UUID(case["id"])) == events
    own = await _request(desk.http, method, url, desk.as_supervisor)
    # from the case's own office the same request reaches the case (served, refused by the lifecycle rules, or
    # for a document id made up here, not found in that case)
    expected = (
        {202}
        if url.endswith("/render")
        else {404}
        if "/documents/" in url or url.endswith("/messages")
        else {200, 201, 409}
    )
    assert own.status_code in expected, own.text


def test_every_case_endpoint_is_covered() -> None:
    assert {path.rsplit("/", 1)[-1] for _, path in _case_routes()} == set(BODIES)

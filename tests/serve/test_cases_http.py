"""The vertical slice over HTTP: open a case, read it back, see its event on RabbitMQ; bad input writes nothing."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

import aio_pika
import asyncpg
import httpx
import pytest

from tests.conftest import OfficeFactory
from tests.helpers import bearer, eventually

VALID_AFM = "090000045"  # a well-known valid ΑΦΜ (check digit 5)


def body(procedure_id: uuid.UUID, **over: Any) -> dict[str, Any]:
    b: dict[str, Any] = {
        "procedure_id": str(procedure_id),
        "citizen": {"afm": VALID_AFM, "first_name": "Ελένη", "last_name": "Παπαδάκη", "email": "eleni@example.gr"},
        "form_data": {"purpose": "Υποβολή σε τράπεζα"},
    }
    b.update(over)
    return b


async def next_event_for(queue: aio_pika.abc.AbstractQueue, case_id: str) -> aio_pika.abc.AbstractIncomingMessage:
    found: list[aio_pika.abc.AbstractIncomingMessage] = []

    async def arrived() -> bool:
        msg = await queue.get(fail=False, no_ack=True)
        if msg is not None and json.loads(msg.body)["subject"] == case_id:
            found.append(msg)
        return bool(found)

    await eventually(arrived, within=30)
    return found[0]


async def test_open_case_then_read_it_back_and_receive_the_event(
    http: httpx.AsyncClient,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
    case_events: aio_pika.abc.AbstractQueue,
    pool: asyncpg.Pool,
) -> None:
    # given
    office = await make_office()
    procedure = await make_procedure(duration_days=10)
    token = token_for(office, subject="maria")
    # when
    created = await http.post("/api/cases", json=body(procedure), headers=bearer(token) | {"X-Request-ID": "req-1"})
    # then
    assert created.status_code == 201, created.text
    case = created.json()
    assert created.headers["location"] == f"/api/cases/{case['id']}"
    assert case["status"] == "submitted"
    assert case["office_id"] == str(office)
    assert case["citizen"]["afm"] == VALID_AFM
    assert case["number"].endswith(f"/{case['created_at'][:4]}/000001")
    assert case["due_at"] is not None
    read = await http.get(f"/api/cases/{case['id']}", headers=bearer(token))
    assert read.status_code == 200
    assert read.json() == case

    msg = await next_event_for(case_events, case["id"])
    envelope = json.loads(msg.body)
    assert envelope["type"] == "gr.kep.case.opened.v1"
    assert msg.message_id == envelope["id"]
    assert msg.routing_key is not None
    assert msg.routing_key.startswith("case.opened.T-")
    assert envelope["correlationid"] == "req-1"
    assert envelope["data"]["number"] == case["number"]
    audit = await pool.fetch("SELECT type, actor, request_id, old, new FROM case_events WHERE case_id = $1", case["id"])
    assert [(a["type"], a["actor"], a["request_id"], a["old"]) for a in audit] == [
        ("case.opened", "maria", "req-1", None)
    ]
    assert audit[0]["new"]["number"] == case["number"]


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda b: b["citizen"].update(afm="090000046"), "/citizen/afm"),
        (lambda b: b["citizen"].update(afm="12ab"), "/citizen/afm"),
        (lambda b: b["citizen"].pop("last_name"), "/citizen/last_name"),
        (lambda b: b["citizen"].update(email="not-an-email"), "/citizen/email"),
        (lambda b: b.update(procedure_id="nope"), "/procedure_id"),
        (lambda b: b.update(channel="carrier-pigeon"), "/channel"),
        (lambda b: b.update(unexpected=1), "/unexpected"),
        (lambda b: b["citizen"].pop("afm"), "/citizen"),  # neither an ΑΦΜ nor an eIDAS identity
        (lambda b: b["citizen"].update(eidas={"country": "Spain", "person_id": "1"}), "/citizen/eidas/country"),
        (lambda b: b["citizen"].update(eidas={"country": "ES", "person_id": " "}), "/citizen/eidas/person_id"),
    ],
)
async def test_invalid_input_is_a_problem_with_field_paths_and_writes_nothing(
    http: httpx.AsyncClient,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
    pool: asyncpg.Pool,
    mutate: Callable[[dict[str, Any]], None],
    path: str,
) -> None:
    office = await make_office()
    b = body(await make_procedure())
    mutate(b)
    resp = await http.post("/api/cases", json=b, headers=bearer(token_for(office)))
    assert resp.status_code == 422
    assert resp.headers["content-type"] == "application/problem+json"
    problem = resp.json()
    assert problem["status"] == 422
    assert path in [e["path"] for e in problem["errors"]]
    assert await pool.fetchval("SELECT count(*) FROM cases WHERE office_id = $1", office) == 0
    assert await pool.fetchval("SELECT count(*) FROM case_number_counters WHERE office_id = $1", office) == 0


@pytest.mark.parametrize("active", [False, None])
async def test_inactive_or_unknown_procedure_is_refused(
    http: httpx.AsyncClient,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
    pool: asyncpg.Pool,
    active: bool | None,
) -> None:
    office = await make_office()
    procedure = await make_procedure(active=False) if active is False else uuid.uuid4()
    resp = await http.post("/api/cases", json=body(procedure), headers=bearer(token_for(office)))
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["path"] == "/procedure_id"
    assert (
        await pool.fetchval("SELECT count(*) FROM outbox WHERE envelope->'data'->>'office_id' = $1", str(office)) == 0
    )


async def test_a_procedure_limited_to_other_offices_is_refused(
    http: httpx.AsyncClient,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
    pool: asyncpg.Pool,
) -> None:
    serving, other = await make_office(), await make_office()
    procedure = await make_procedure()
    await pool.execute("INSERT INTO procedure_offices (procedure_id, office_id) VALUES ($1, $2)", procedure, serving)
    refused = await http.post("/api/cases", json=body(procedure), headers=bearer(token_for(other)))
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["message"] == "procedure is not offered by this office"
    served = await http.post("/api/cases", json=body(procedure), headers=bearer(token_for(serving)))
    assert served.status_code == 201


async def test_an_office_cannot_read_another_offices_case(
    http: httpx.AsyncClient,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
) -> None:
    athens, patras = await make_office(), await make_office()
    created = await http.post("/api/cases", json=body(await make_procedure()), headers=bearer(token_for(athens)))
    assert created.status_code == 201
    case_id = created.json()["id"]
    other = await http.get(f"/api/cases/{case_id}", headers=bearer(token_for(patras)))
    missing_id = str(uuid.uuid4())
    missing = await http.get(f"/api/cases/{missing_id}", headers=bearer(token_for(patras)))
    # the answer is the same as for a case that does not exist: nothing tells Patras that it does
    assert other.status_code == missing.status_code == 404
    assert other.text.replace(case_id, "ID") == missing.text.replace(missing_id, "ID")


@pytest.mark.parametrize(
    ("roles", "office", "status"),
    [
        (("administrator",), True, 403),  # administrators manage the catalogue, not citizens' cases
        ((), True, 403),
        (("employee",), False, 403),  # an employee with no office claim
    ],
)
async def test_roles_and_office_are_checked(
    http: httpx.AsyncClient,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
    roles: tuple[str, ...],
    office: bool,
    status: int,
) -> None:
    office_id = await make_office()
    token = token_for(office_id if office else None, roles=roles)
    resp = await http.post("/api/cases", json=body(await make_procedure()), headers=bearer(token))
    assert resp.status_code == status
    assert resp.headers["content-type"] == "application/problem+json"


async def test_without_a_token_nothing_is_served(http: httpx.AsyncClient) -> None:
    resp = await http.get(f"/api/cases/{uuid.uuid4()}")
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"].startswith("Bearer")


async def test_a_retried_post_with_the_same_idempotency_key_opens_one_case(
    http: httpx.AsyncClient,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
    pool: asyncpg.Pool,
) -> None:
    office = await make_office()
    headers = bearer(token_for(office, subject="maria")) | {"Idempotency-Key": "form-submit-42"}
    b = body(await make_procedure())
    answers = await asyncio.gather(*(http.post("/api/cases", json=b, headers=headers) for _ in range(5)))
    # every answer is the first one, the replays say so
    assert {a.status_code for a in answers} == {201}
    assert sorted(a.headers.get("idempotent-replayed", "") for a in answers) == ["", "true", "true", "true", "true"]
    assert len({a.text for a in answers}) == 1
    assert await pool.fetchval("SELECT count(*) FROM cases WHERE office_id = $1", office) == 1
    assert await pool.fetchval("SELECT last_value FROM case_number_counters WHERE office_id = $1", office) == 1


async def test_an_idempotency_key_is_the_callers_and_bound_to_its_request(
    http: httpx.AsyncClient,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
    pool: asyncpg.Pool,
) -> None:
    office, procedure = await make_office(), await make_procedure()
    key = {"Idempotency-Key": "submit-1"}
    maria, nikos = bearer(token_for(office, subject="maria")) | key, bearer(token_for(office, subject="nikos")) | key
    first = await http.post("/api/cases", json=body(procedure), headers=maria)
    assert first.status_code == 201
    # a colleague's request under the same key is hers, not a replay of Maria's
    colleague = await http.post("/api/cases", json=body(procedure), headers=nikos)
    assert colleague.status_code == 201
    assert "idempotent-replayed" not in colleague.headers
    assert colleague.json()["id"] != first.json()["id"]
    # the same key with another body: refused, nothing opened
    other = await http.post("/api/cases", json=body(procedure, note="άλλο αίτημα"), headers=maria)
    assert other.status_code == 422, other.text
    assert other.json()["errors"] == [
        {"path": "/idempotency-key", "message": other.json()["detail"], "type": "idempotency_key"}
    ]
    assert await pool.fetchval("SELECT count(*) FROM cases WHERE office_id = $1", office) == 2


async def test_a_case_opened_at_the_counter_is_the_openers_and_one_that_arrived_online_nobodys(
    http: httpx.AsyncClient,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
) -> None:
    office, procedure = await make_office(), await make_procedure()
    headers = bearer(token_for(office, subject="maria"))
    counter = await http.post("/api/cases", json=body(procedure), headers=headers)
    online = await http.post("/api/cases", json=body(procedure, channel="online"), headers=headers)
    assert (counter.json()["assignee"], online.json()["assignee"]) == ("maria", None)


async def test_concurrent_openings_in_one_office_get_distinct_gapless_numbers(
    http: httpx.AsyncClient,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
) -> None:
    office = await make_office()
    headers = bearer(token_for(office))
    b = body(await make_procedure())
    answers = await asyncio.gather(*(http.post("/api/cases", json=b, headers=headers) for _ in range(40)))
    assert {a.status_code for a in answers} == {201}
    seqs = sorted(int(a.json()["number"].rsplit("/", 1)[1]) for a in answers)
    assert seqs == list(range(1, 41))


async def test_a_citizen_of_another_member_state_is_known_by_their_eidas_identity(
    http: httpx.AsyncClient,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
) -> None:
    """An ΕΚΕ registers an applicant from another member state: no ΑΦΜ is asked for or invented."""
    citizen = {"eidas": {"country": "ES", "person_id": "12345678Z"}, "first_name": "Lucía", "last_name": "García"}
    headers = bearer(token_for(await make_office()))
    created = await http.post("/api/cases", json=body(await make_procedure(), citizen=citizen), headers=headers)
    assert created.status_code == 201, created.text
    case = created.json()
    assert case["citizen"]["afm"] is None
    assert case["citizen"]["eidas"] == {"country": "ES", "person_id": "12345678Z"}
    found = await http.get("/api/cases", params={"q": "García"}, headers=headers)
    assert [c["id"] for c in found.json()["items"]] == [case["id"]]

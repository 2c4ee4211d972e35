"""Handing a case over to another office over HTTP: who may, to which office, what both offices see afterwards,
and bad requests that change nothing."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from infra import live
from infra.settings import Settings
from tests.conftest import OfficeFactory
from tests.helpers import bearer, eventually
from tests.serve.test_case_lifecycle_http import SUPERVISOR, Desk
from tests.serve.test_documents_http import PDF


@pytest.fixture
async def desks(
    http: httpx.AsyncClient, token_for: Callable[..., str], make_office: OfficeFactory
) -> tuple[Desk, Desk]:
    return Desk(http, token_for, await make_office()), Desk(http, token_for, await make_office())


async def snapshot(pool: asyncpg.Pool[asyncpg.Record], case_id: str) -> tuple[Any, ...]:
    case = uuid.UUID(case_id)
    return (
        await pool.fetchrow("SELECT * FROM cases WHERE id = $1", case),
        await pool.fetchval("SELECT count(*) FROM case_events WHERE case_id = $1", case),
        await pool.fetchval("SELECT count(*) FROM case_transfers WHERE case_id = $1", case),
    )


async def transfer(desk: Desk, case: dict[str, Any], **body: Any) -> httpx.Response:
    payload = {"version": case["version"], "reason": "κατοικεί στην περιοχή του άλλου ΚΕΠ"} | body
    return await desk.http.post(f"/api/cases/{case['id']}/transfer", json=payload, headers=desk.as_supervisor)


async def test_a_supervisor_hands_a_case_over_and_both_offices_see_it(
    desks: tuple[Desk, Desk],
    make_procedure: Callable[..., Any],
    make_office: OfficeFactory,
    token_for: Callable[..., str],
    pool: asyncpg.Pool[asyncpg.Record],
    settings: Settings,
) -> None:
    a, b = desks
    case = await a.open(await make_procedure())
    taken = await a.http.post(f"/api/cases/{case['id']}/assign", json={"version": case["version"],
                              "assignee": a.employee}, headers=a.as_employee)  # fmt: skip
    assert taken.status_code == 200, taken.text
    resp = await transfer(a, taken.json(), office_id=str(b.office))
    assert resp.status_code == 200, resp.text
    moved = resp.json()
    assert moved["office_id"] == str(b.office)
    assert moved["assignee"] is None  # nobody of the old office holds it in the new one
    assert moved["number"] == case["number"]
    assert moved["version"] == taken.json()["version"] + 1

    # the case is the new office's now
    assert (await a.http.get(f"/api/cases/{case['id']}", headers=a.as_supervisor)).status_code == 404
    seen = await b.http.get(f"/api/cases/{case['id']}", headers=b.as_employee)
    assert seen.status_code == 200
    assert seen.json()["office_id"] == str(b.office)
    listed = (await b.http.get("/api/cases", headers=b.as_employee)).json()["items"]
    assert case["id"] in [c["id"] for c in listed]
    assert case["id"] not in [c["id"] for c in (await a.http.get("/api/cases", headers=a.as_employee)).json()["items"]]
    timeline = (await b.http.get(f"/api/cases/{case['id']}/timeline", headers=b.as_employee)).json()
    last = timeline[-1]
    assert last["type"] == "case.transferred"
    assert last["actor"] == a.supervisor
    assert last["old"] == {"office_id": str(a.office), "assignee": a.employee}
    assert last["new"] == {"office_id": str(b.office), "assignee": None}
    # the new office's staff can take it and work it
    mine = await b.http.post(f"/api/cases/{case['id']}/assign", json={"version": moved["version"],
                             "assignee": b.employee}, headers=b.as_employee)  # fmt: skip
    assert mine.status_code == 200, mine.text

    # both offices see the hand-over, each in its direction; a third office sees nothing of it
    out = await a.http.get("/api/case-transfers", params={"direction": "out"}, headers=a.as_employee)
    into = await b.http.get("/api/case-transfers", params={"direction": "in"}, headers=b.as_employee)
    for answer in (out, into):
        assert answer.status_code == 200, answer.text
        [record] = answer.json()
        assert record["case_id"] == case["id"]
        assert record["number"] == case["number"]
        assert (record["from_office_id"], record["to_office_id"]) == (str(a.office), str(b.office))
        assert record["actor"] == a.supervisor
        assert record["routing"] is None
    assert (await a.http.get("/api/case-transfers", params={"direction": "in"}, headers=a.as_employee)).json() == []
    stranger = bearer(token_for(await make_office(), roles=SUPERVISOR))
    for direction in ("in", "out"):
        assert (await a.http.get("/api/case-transfers", params={"direction": direction}, headers=stranger)).json() == []

    # both offices' live streams carry the hand-over
    redis = Redis.from_url(settings.redis_url.get_secret_value())
    try:

        async def streamed(office: uuid.UUID) -> bool:
            entries = await redis.xrange(live.office_stream(office))
            return any(b'"gr.kep.case.transferred.v1"' in fields[b"event"] and case["id"].encode() in fields[b"event"]
                       for _, fields in entries)  # fmt: skip

        await eventually(lambda: streamed(a.office), within=30)
        await eventually(lambda: streamed(b.office), within=30)
    finally:
        await redis.aclose()


async def test_the_new_office_reads_the_documents_the_case_brought(
    desks: tuple[Desk, Desk], make_procedure: Callable[..., Any]
) -> None:
    a, b = desks
    case = await a.open(await make_procedure())
    files = {"file": ("αίτηση.pdf", PDF, "application/pdf")}
    added = await a.http.post(f"/api/cases/{case['id']}/documents", files=files, data={"kind": "declaration"},
                              headers=a.as_employee)  # fmt: skip
    assert added.status_code == 201, added.text
    document = added.json()["id"]
    assert (await transfer(a, case, office_id=str(b.office))).status_code == 200
    url = f"/api/cases/{case['id']}/documents/{document}"
    assert (await b.http.get(url, headers=b.as_employee)).status_code == 200
    assert (await a.http.get(url, headers=a.as_employee)).status_code == 404


@pytest.mark.parametrize(
    ("change", "status", "pointer"),
    [
        ({"reason": ""}, 422, "/reason"),
        ({"office_id": "not-a-uuid"}, 422, "/office_id"),
        ({"office_id": "unknown"}, 422, "/office_id"),
        ({"office_id": "own"}, 422, "/office_id"),
        ({"office_id": "inactive"}, 422, "/office_id"),
        ({"office_id": "not_offering"}, 422, "/office_id"),
        ({"version": 99}, 409, None),
        ({"region": "Ατλαντίδα"}, 422, "/region"),
        ({"region": "Κρήτη"}, 409, None),  # no routing rule for the procedure: no competent office
    ],
)
async def test_bad_transfers_change_nothing(
    desks: tuple[Desk, Desk],
    make_procedure: Callable[..., Any],
    make_office: OfficeFactory,
    pool: asyncpg.Pool[asyncpg.Record],
    change: dict[str, Any],
    status: int,
    pointer: str | None,
) -> None:
    a, b = desks
    procedure = await make_procedure()
    case = await a.open(procedure)
    offices = {"unknown": uuid.uuid4(), "own": a.office, "inactive": await make_office(), "not_offering": b.office}
    await pool.execute("UPDATE offices SET active = false WHERE id = $1", offices["inactive"])
    await pool.execute("INSERT INTO procedure_offices (procedure_id, office_id) VALUES ($1, $2)", procedure, a.office)
    if change.get("office_id") in offices:
        change = change | {"office_id": str(offices[change["office_id"]])}
    before = await snapshot(pool, case["id"])
    resp = await transfer(a, case, **change)
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    if pointer is not None:
        assert pointer in [e["path"] for e in resp.json()["errors"]], resp.json()
    assert await snapshot(pool, case["id"]) == before


async def test_only_a_supervisor_of_the_cases_office_hands_it_over(
    desks: tuple[Desk, Desk],
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
    pool: asyncpg.Pool[asyncpg.Record],
) -> None:
    a, b = desks
    case = await a.open(await make_procedure())
    before = await snapshot(pool, case["id"])
    body = {"version": case["version"], "reason": "αρμοδιότητα", "office_id": str(b.office)}
    url = f"/api/cases/{case['id']}/transfer"
    assert (await a.http.post(url, json=body, headers=a.as_employee)).status_code == 403
    # the other office's supervisor cannot pull it over, nor can an administrator of the centre reach it
    assert (await a.http.post(url, json=body, headers=b.as_supervisor)).status_code == 404
    admin = bearer(token_for(uuid.uuid4(), roles=("administrator",)))
    assert (await a.http.post(url, json=body, headers=admin)).status_code == 403
    assert await snapshot(pool, case["id"]) == before


async def test_an_ended_case_stays_where_it_is(desks: tuple[Desk, Desk], make_procedure: Callable[..., Any]) -> None:
    a, b = desks
    case = await a.open(await make_procedure())
    rejected = await a.http.post(f"/api/cases/{case['id']}/reject", json={"version": case["version"],
                                 "reason": "εκτός προθεσμίας"}, headers=a.as_supervisor)  # fmt: skip
    assert rejected.status_code == 200, rejected.text
    resp = await transfer(a, rejected.json(), office_id=str(b.office))
    assert resp.status_code == 409, resp.text


async def test_a_repeated_transfer_with_its_key_answers_again_and_moves_once(
    desks: tuple[Desk, Desk], make_procedure: Callable[..., Any], pool: asyncpg.Pool[asyncpg.Record]
) -> None:
    a, b = desks
    case = await a.open(await make_procedure())
    body = {"version": case["version"], "reason": "αρμοδιότητα", "office_id": str(b.office)}
    url, headers = f"/api/cases/{case['id']}/transfer", a.as_supervisor | {"Idempotency-Key": "move-1"}
    first = await a.http.post(url, json=body, headers=headers)
    again = await a.http.post(url, json=body, headers=headers)
    assert first.status_code == again.status_code == 200, (first.text, again.text)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    assert await pool.fetchval("SELECT count(*) FROM case_transfers WHERE case_id = $1", uuid.UUID(case["id"])) == 1

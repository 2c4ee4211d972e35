"""Forms over HTTP: versions saved and checked on save; a case's form data validated at opening and on update."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx

from tests.conftest import OfficeFactory
from tests.helpers import bearer
from tests.serve.test_cases_http import body

FORM = {
    "components": [
        {"type": "textfield", "key": "purpose", "label": "Σκοπός", "validate": {"required": True, "minLength": 5}},
        {"type": "select", "key": "copies", "label": "Αντίγραφα",
         "data": {"values": [{"label": "1", "value": "1"}, {"label": "2", "value": "2"}]}},
        {"type": "checkbox", "key": "abroad", "label": "Για χρήση στο εξωτερικό"},
        {"type": "textfield", "key": "country", "label": "Χώρα", "validate": {"required": True},
         "conditional": {"show": True, "when": "abroad", "eq": "true"}},
    ]
}  # fmt: skip


async def test_forms_are_versioned_checked_and_enforced_on_cases(
    http: httpx.AsyncClient,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
    pool: asyncpg.Pool[asyncpg.Record],
) -> None:
    admin = bearer(token_for(uuid.uuid4(), roles=("administrator",)))
    key = f"certificate-{uuid.uuid4().hex[:6]}"
    refused = await http.post(
        "/api/admin/forms",
        json={"key": key, "title": "Αίτηση", "definition": {"components": [
            {"type": "textfield", "key": "x", "customConditional": "show = data.y > 1"}]}},
        headers=admin,
    )  # fmt: skip
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["path"].startswith("/definition/components/0")
    assert (await http.get(f"/api/admin/forms/{key}", headers=admin)).status_code == 404  # nothing saved

    for _ in range(2):
        saved = await http.post("/api/admin/forms", json={"key": key, "title": "Αίτηση", "definition": FORM},
                                headers=admin)  # fmt: skip
        assert saved.status_code == 201, saved.text
    assert [v["version"] for v in (await http.get(f"/api/admin/forms/{key}", headers=admin)).json()] == [2, 1]

    procedure = await make_procedure()
    assert (await http.patch(f"/api/admin/procedures/{procedure}", json={"form_key": key}, headers=admin)).is_success
    staff = bearer(token_for(await make_office()))
    bad = body(procedure, form_data={"purpose": "x", "copies": "7", "abroad": True})
    resp = await http.post("/api/cases", json=bad, headers=staff)
    assert resp.status_code == 422
    assert {e["path"] for e in resp.json()["errors"]} == {"/form_data/purpose", "/form_data/copies",
                                                          "/form_data/country"}  # fmt: skip
    good = body(procedure, form_data={"purpose": "Υποβολή σε τράπεζα", "copies": "2", "abroad": False})
    case = (await http.post("/api/cases", json=good, headers=staff)).json()
    assert (case["form_key"], case["form_version"]) == (key, 2)
    rendered = await http.get(f"/api/forms/{key}", params={"version": case["form_version"]}, headers=staff)
    assert rendered.json()["definition"] == FORM

    update = {"version": case["version"], "data": {"purpose": "Υποβολή σε τράπεζα", "abroad": True}}
    missing_country = await http.put(f"/api/cases/{case['id']}/form", json=update, headers=staff)
    assert missing_country.status_code == 422
    assert missing_country.json()["errors"][0]["path"] == "/form_data/country"
    update["data"] |= {"country": "Γερμανία"}
    updated = await http.put(f"/api/cases/{case['id']}/form", json=update, headers=staff)
    assert updated.status_code == 200, updated.text
    assert updated.json()["form_data"].get("country") == "Γερμανία", (
        updated.json()["form_data"],
        updated.json()["version"],
        update,
    )
    event = await pool.fetchrow(
        "SELECT old, new FROM case_events WHERE case_id = $1 AND type = 'case.form_updated'", uuid.UUID(case["id"])
    )
    assert event is not None
    assert event["old"]["form_data"]["abroad"] is False
    assert event["new"]["form_data"]["country"] == "Γερμανία"


async def test_only_administrators_save_forms(http: httpx.AsyncClient, token_for: Callable[..., str]) -> None:
    staff = bearer(token_for(uuid.uuid4(), roles=("employee", "supervisor")))
    payload = {"key": "any-form", "title": "t", "definition": {"components": []}}
    assert (await http.post("/api/admin/forms", json=payload, headers=staff)).status_code == 403

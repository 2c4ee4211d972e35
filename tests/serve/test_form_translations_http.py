"""A form's translations over HTTP: saved with its version and checked against it (pointers, nothing saved when
refused), listed as missing for administrators; an EU citizen gets the procedure's form in English from the public
catalogue (ETag, 404 where there is none to fill) and the messages about their data name the English labels."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx

from kepctl.eidas_realms import TEST_CITIZENS
from kepctl.stack import StackSettings
from tests.helpers import bearer
from tests.kepctl.test_eidas_realms import citizen_token
from tests.serve.test_eugo_catalogue_http import get, public  # noqa: F401 (a fixture, and a GET that waits out a 429)

PATH = "/api/public/eugo/procedures"
FORM = {
    "display": "form",
    "components": [
        {"type": "textfield", "key": "purpose", "label": "Σκοπός", "placeholder": "π.χ. εργασία",
         "validate": {"required": True, "maxLength": 50}},
        {"type": "radio", "key": "copies", "label": "Αντίγραφα", "validate": {"required": True},
         "values": [{"label": "Ένα", "value": "1"}, {"label": "Δύο", "value": "2"}]},
        {"type": "textarea", "key": "note", "label": "Σημείωση"},
    ],
}  # fmt: skip
EN = {"Σκοπός": "Purpose", "π.χ. εργασία": "e.g. work", "Αντίγραφα": "Copies", "Ένα": "One", "Δύο": "Two",
      "Αίτηση άδειας": "Licence application"}  # fmt: skip


async def _save(http: httpx.AsyncClient, admin: dict[str, str], key: str, translations: Any) -> httpx.Response:
    body = {"key": key, "title": "Αίτηση άδειας", "definition": FORM, "translations": translations}
    return await http.post("/api/admin/forms", json=body, headers=admin)


async def _procedure(pool: asyncpg.Pool[asyncpg.Record], form_key: str | None, eugo: bool = True) -> uuid.UUID:
    pid, mitos_id = uuid.uuid4(), str(uuid.uuid4().int % 10**9)
    await pool.execute(
        """INSERT INTO procedures (id, mitos_id, title_el, title_en, payload, active, duration_days, eugo, form_key)
           VALUES ($1, $2, $3, $4, '{}', true, 10, $5, $6)""",
        pid, mitos_id, f"Άδεια {mitos_id}", f"Licence {mitos_id}", eugo, form_key,
    )  # fmt: skip
    return pid


async def test_translations_are_saved_with_the_version_and_checked(
    http: httpx.AsyncClient, token_for: Callable[..., str]
) -> None:
    admin = bearer(token_for(uuid.uuid4(), roles=("administrator",)))
    key = f"licence-{uuid.uuid4().hex[:8]}"
    refused = await _save(http, admin, key, {"en": {"Σκοπός": "Purpose", "Πόλη": "City"}, "english": {}})
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert {(e["path"], e["type"]) for e in refused.json()["errors"]} == {
        ("/translations/en/Πόλη", "unknown"),
        ("/translations/english", "language"),
    }
    assert (await http.get(f"/api/admin/forms/{key}", headers=admin)).status_code == 404  # nothing saved
    not_text = await _save(http, admin, key, {"en": {"Σκοπός": 5}})
    assert not_text.status_code == 422
    assert not_text.json()["errors"][0]["path"] == "/translations/en/Σκοπός"

    partly = {"en": {k: v for k, v in EN.items() if k != "Δύο"}}
    saved = await _save(http, admin, key, partly)
    assert saved.status_code == 201, saved.text
    assert saved.json()["untranslated"] == {"en": ["Δύο", "Σημείωση"]}
    staff_view = await http.get(f"/api/forms/{key}", headers=bearer(token_for(uuid.uuid4())))
    assert staff_view.json()["translations"] == partly
    assert staff_view.json()["definition"] == FORM  # staff read it as written


async def test_a_citizen_gets_the_form_in_english_and_messages_that_name_its_labels(
    http: httpx.AsyncClient,
    public: httpx.AsyncClient,  # noqa: F811
    pool: asyncpg.Pool[asyncpg.Record],
    token_for: Callable[..., str],
    stack: StackSettings,
) -> None:
    admin = bearer(token_for(uuid.uuid4(), roles=("administrator",)))
    key = f"licence-{uuid.uuid4().hex[:8]}"
    assert (await _save(http, admin, key, {"en": EN})).status_code == 201
    procedure = await _procedure(pool, key)

    got = await get(public, f"{PATH}/{procedure}/form")
    assert got.status_code == 200, got.text
    assert got.headers["content-language"] == "en"
    form = got.json()
    assert (form["key"], form["version"], form["title"], form["lang"]) == (key, 1, "Licence application", "en")
    purpose, copies, note = form["definition"]["components"]
    assert (purpose["label"], purpose["placeholder"], purpose["key"]) == ("Purpose", "e.g. work", "purpose")
    assert copies["values"] == [{"label": "One", "value": "1"}, {"label": "Two", "value": "2"}]
    assert note["label"] == "Σημείωση"  # no translation: as written
    assert form["i18n"] == {"en": EN}  # for a Form.io renderer's own `i18n` option
    greek = (await get(public, f"{PATH}/{procedure}/form", params={"lang": "el"})).json()
    assert greek["definition"] == FORM
    assert greek["title"] == "Αίτηση άδειας"
    again = await get(public, f"{PATH}/{procedure}/form", headers={"If-None-Match": got.headers["etag"]})
    assert again.status_code == 304

    # a new version shows at once
    assert (await _save(http, admin, key, {"en": EN | {"Σημείωση": "Note"}})).status_code == 201
    newer = await get(public, f"{PATH}/{procedure}/form", headers={"If-None-Match": got.headers["etag"]})
    assert newer.status_code == 200
    assert newer.json()["version"] == 2
    assert newer.json()["definition"]["components"][2]["label"] == "Note"

    # nothing to fill: not offered through EUGO, no form, no such procedure
    for other in (await _procedure(pool, key, eugo=False), await _procedure(pool, None), uuid.uuid4()):
        missing = await get(public, f"{PATH}/{other}/form")
        assert missing.status_code == 404, (other, missing.text)
        assert missing.headers["content-type"].startswith("application/problem+json")

    # the citizen's data is checked against the English form: the messages name its labels
    citizen = next(c for c in TEST_CITIZENS if c.loa == "substantial")
    token = await citizen_token(stack, citizen)
    application = {"procedure_id": str(procedure), "form_data": {"purpose": "x" * 60}, "email": "c@example.eu"}
    resp = await http.post(
        "/api/eugo/applications", headers=bearer(token), data={"application": json.dumps(application)}
    )
    assert resp.status_code == 422, resp.text
    errors = {e["path"]: e["message"] for e in resp.json()["errors"]}
    assert set(errors) == {"/form_data/purpose", "/form_data/copies"}
    assert "Purpose" in errors["/form_data/purpose"]
    assert "Σκοπός" not in errors["/form_data/purpose"]
    assert "Copies" in errors["/form_data/copies"]

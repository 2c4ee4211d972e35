"""Administrators sync ΚΣΗΔΕ's org chart from the stack's double and search it through the API to pick recipients:
accents and case aside, in pages with a `Link` to the next; one unit by code; nobody else may."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx

from tests.helpers import bearer

UNITS = "/api/admin/kshde/units"


async def test_administrators_sync_the_chart_and_search_it_page_by_page(
    ray_app: dict[str, Any], http: httpx.AsyncClient, token_for: Callable[..., str]
) -> None:
    admin = bearer(token_for(uuid.uuid4(), roles=("administrator",)))
    resp = await http.post("/api/admin/kshde/sync", headers=admin)
    assert resp.status_code == 200, resp.text
    assert (resp.json()["version"], resp.json()["units"]) == (1, 4)
    again = await http.post("/api/admin/kshde/sync", headers=admin)
    assert (again.json()["applied"], again.json()["added"], again.json()["changed"]) == (False, 0, 0)

    async def found(**params: Any) -> list[str]:
        resp = await http.get(UNITS, params=params, headers=admin)
        assert resp.status_code == 200, resp.text
        return [u["code"] for u in resp.json()]

    assert await found(q="ΔΗΜΟΣ ΑΘΗΝΑΙΩΝ") == ["DHM-ATH"]
    assert await found(q="υπουργειο εσωτερικων") == ["MIN-INT"]
    assert await found(q="municipality of athens") == ["DHM-ATH"]
    assert await found(q="KEP-ATH") == ["KEP-ATH"]
    assert await found(q="Ελληνικό Δημόσιο") == []
    assert await found(q="Ελληνικό Δημόσιο", sddd="false") == ["GR"]

    first = await http.get(UNITS, params={"q": "Αθηναίων", "limit": 1}, headers=admin)
    assert [u["code"] for u in first.json()] == ["DHM-ATH"]
    assert first.json()[0]["departments"] == [{"code": "DHM-ATH-LX", "name": "Ληξιαρχείο"}]
    following = first.links["next"]["url"]
    second = await http.get(following, headers=admin)
    assert [u["code"] for u in second.json()] == ["KEP-ATH"]
    assert "link" not in second.headers

    unit = await http.get(f"{UNITS}/MIN-INT", headers=admin)
    assert (unit.status_code, unit.json()["name_en"], unit.json()["is_sddd"]) == (200, "Ministry of the Interior", True)
    missing = await http.get(f"{UNITS}/NO-SUCH-UNIT", headers=admin)
    assert (missing.status_code, missing.headers["content-type"]) == (404, "application/problem+json")


async def test_only_administrators_and_only_pages_this_api_gives(
    ray_app: dict[str, Any], http: httpx.AsyncClient, token_for: Callable[..., str]
) -> None:
    for roles in (("employee",), ("supervisor",), ("employee", "supervisor")):
        staff = bearer(token_for(uuid.uuid4(), roles=roles))
        assert (await http.get(UNITS, headers=staff)).status_code == 403
        assert (await http.get(f"{UNITS}/DHM-ATH", headers=staff)).status_code == 403
        assert (await http.post("/api/admin/kshde/sync", headers=staff)).status_code == 403
    assert (await http.get(UNITS)).status_code == 401

    admin = bearer(token_for(uuid.uuid4(), roles=("administrator",)))
    for params, pointer in (({"limit": 0}, "/limit"), ({"limit": 501}, "/limit"), ({"limit": "x"}, "/limit"),
                            ({"after": ""}, "/after"), ({"after": "NO-SUCH-UNIT"}, "/after"),
                            ({"sddd": "maybe"}, "/sddd"), ({"q": "α" * 201}, "/q")):  # fmt: skip
        resp = await http.get(UNITS, params=params, headers=admin)
        assert resp.status_code == 422, (params, resp.text)
        assert [e["path"] for e in resp.json()["errors"]] == [pointer], resp.text
    for params in ({"q": "\x00"}, {"after": "\x00"}):  # text PostgreSQL cannot hold
        assert (await http.get(UNITS, params=params, headers=admin)).status_code == 422


async def test_a_procedures_results_go_to_a_kshde_unit_that_receives_documents(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    token_for: Callable[..., str],
    make_procedure: Callable[..., Any],
) -> None:
    admin = bearer(token_for(uuid.uuid4(), roles=("administrator",)))
    assert (await http.post("/api/admin/kshde/sync", headers=admin)).status_code == 200
    url = f"/api/admin/procedures/{await make_procedure()}"
    for code, problem in (("NO-SUCH-UNIT", "kshde_unknown"), ("GR", "kshde_not_sddd")):
        refused = await http.patch(url, json={"delivery_recipient": code}, headers=admin)
        assert refused.status_code == 422, refused.text
        [error] = refused.json()["errors"]
        assert (error["path"], error["type"]) == ("/delivery_recipient", problem)
    assert (await http.get(url, headers=admin)).json()["delivery_recipient"] is None  # nothing changed
    malformed = await http.patch(url, json={"delivery_recipient": "ΔΗΜΟΣ ΑΘΗΝΑΙΩΝ"}, headers=admin)
    assert malformed.status_code == 422
    chosen = await http.patch(url, json={"delivery_recipient": "DHM-ATH", "reason": "διαβίβαση"}, headers=admin)
    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["delivery_recipient"] == "DHM-ATH"
    history = (await http.get(f"{url}/history", headers=admin)).json()
    assert {"delivery_recipient": "DHM-ATH"} in [entry["new"] for entry in history]  # audited
    back = await http.patch(url, json={"delivery_recipient": None}, headers=admin)
    assert back.json()["delivery_recipient"] is None  # to the citizen again

"""Administrators version a procedure's document templates: a template that cannot make a document is refused
with a pointer, a good one is previewed on a case and then used for the procedure's new documents."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import OfficeFactory
from tests.helpers import bearer, eventually

MARK = "Πρότυπο της διαδικασίας"
PAGE = '<!doctype html><html lang="el"><head><meta charset="utf-8"><title>t</title></head><body>{}</body></html>'


def text_of(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / f"{uuid.uuid4().hex}.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout


async def test_a_procedures_own_template_is_checked_previewed_and_then_used(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
    tmp_path: Path,
) -> None:
    admin = bearer(token_for(uuid.uuid4(), roles=("administrator",)))
    procedure = str(await make_procedure())
    url = f"/api/admin/templates/receipt/el?procedure_id={procedure}"

    bad = await http.post(url, json={"body": PAGE.format("{{ citizen.salary }}")}, headers=admin)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["path"] == "/body"
    assert "salary" in bad.json()["errors"][0]["message"]
    assert (await http.get(url, headers=admin)).json() == []  # nothing saved

    body = PAGE.format(f"<h1>{MARK}</h1><p>{{{{ case.number }}}} {{{{ citizen.last_name }}}}</p>")
    saved = await http.post(url, json={"body": body}, headers=admin)
    assert saved.status_code == 201, saved.text
    version = saved.json()
    assert (version["version"], version["procedure_id"]) == (1, procedure)

    office = await make_office()
    employee = bearer(token_for(office))
    citizen = {"afm": "090000045", "first_name": "Ελένη", "last_name": "Παπαδάκη"}
    case = (await http.post("/api/cases", json={"procedure_id": procedure, "citizen": citizen},
                            headers=employee)).json()  # fmt: skip

    preview = await http.get(f"/api/admin/templates/preview/{version['id']}", params={"case_id": case["id"]},
                             headers=admin)  # fmt: skip
    assert preview.status_code == 200, preview.text
    assert preview.headers["content-type"] == "application/pdf"
    shown = text_of(preview.content, tmp_path)
    assert MARK in shown
    assert case["number"] in shown
    documents = (await http.get(f"/api/cases/{case['id']}/documents", headers=employee)).json()
    assert documents == []  # a preview records nothing

    # the case's receipt now comes from the procedure's own template
    asked = await http.post(f"/api/cases/{case['id']}/documents/render", json={"kind": "receipt"}, headers=employee)
    assert asked.status_code == 202

    async def issued() -> bool:
        return bool((await http.get(f"/api/cases/{case['id']}/documents", headers=employee)).json())

    await eventually(issued, within=90)
    [receipt] = (await http.get(f"/api/cases/{case['id']}/documents", headers=employee)).json()
    assert receipt["template_id"] == version["id"]


async def test_only_administrators_manage_templates(
    ray_app: dict[str, Any], http: httpx.AsyncClient, make_office: OfficeFactory, token_for: Callable[..., str]
) -> None:
    supervisor = bearer(token_for(await make_office(), roles=("employee", "supervisor")))
    body = {"body": PAGE.format("{{ case.number }}")}
    assert (await http.post("/api/admin/templates/receipt/el", json=body, headers=supervisor)).status_code == 403
    assert (await http.get("/api/admin/templates/receipt/el", headers=supervisor)).status_code == 403

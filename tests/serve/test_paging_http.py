"""Lists that grow with use come in pages: following the `Link: rel="next"` headers from the first page gives every
item once, in order; the last page has no link; a page is at most 500 items."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx

from serve.paging import MAX_LIMIT
from tests.conftest import OfficeFactory
from tests.helpers import bearer
from tests.serve.test_documents_http import PDF, open_case
from tests.serve.test_forms_http import FORM


async def every_page(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> list[list[Any]]:
    """The pages from `url` on, following the next links."""
    pages: list[list[Any]] = []
    next_url: str | None = url
    while next_url is not None:
        resp = await http.get(next_url, headers=headers)
        assert resp.status_code == 200, resp.text
        pages.append(resp.json())
        next_url = resp.links.get("next", {}).get("url")
        assert len(pages) < 20, "the links do not end"
    return pages


async def test_a_timeline_and_its_csv_come_in_pages(
    http: httpx.AsyncClient,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
) -> None:
    headers = bearer(token_for(await make_office()))
    case = await open_case(http, headers, await make_procedure())
    for n in range(6):
        note = await http.post(f"/api/cases/{case['id']}/notes", json={"text": f"σημείωση {n}"}, headers=headers)
        assert note.status_code == 201, note.text
    url = f"/api/cases/{case['id']}/timeline"
    whole = (await http.get(url, headers=headers)).json()
    assert len(whole) == 7  # opened, and six notes

    pages = await every_page(http, f"{url}?limit=3", headers)
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [entry["id"] for p in pages for entry in p] == [entry["id"] for entry in whole]

    first_csv = await http.get(f"{url}.csv?limit=4", headers=headers)
    assert len(first_csv.text.splitlines()) == 1 + 4
    rest = await http.get(first_csv.links["next"]["url"], headers=headers)
    assert len(rest.text.splitlines()) == 1 + 3
    assert "next" not in rest.links

    for bad in ({"limit": MAX_LIMIT + 1}, {"limit": 0}, {"after": -1}, {"after": "x"}):
        assert (await http.get(url, params=bad, headers=headers)).status_code == 422, bad


async def test_documents_come_in_pages(
    http: httpx.AsyncClient,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
) -> None:
    headers = bearer(token_for(await make_office()))
    case = await open_case(http, headers, await make_procedure())
    url = f"/api/cases/{case['id']}/documents"
    for n in range(5):
        files = {"file": (f"{n}.pdf", PDF, "application/pdf")}
        assert (await http.post(url, files=files, data={"kind": "other"}, headers=headers)).status_code == 201
    whole = (await http.get(url, headers=headers)).json()
    pages = await every_page(http, f"{url}?limit=2", headers)
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [d["id"] for p in pages for d in p] == [d["id"] for d in whole]
    assert [d["filename"] for d in whole] == [f"{n}.pdf" for n in range(5)]


async def test_form_versions_come_in_pages(http: httpx.AsyncClient, token_for: Callable[..., str]) -> None:
    admin = bearer(token_for(uuid.uuid4(), roles=("administrator",)))
    key = f"paged-{uuid.uuid4().hex[:6]}"
    for _ in range(3):
        saved = await http.post("/api/admin/forms", json={"key": key, "title": "t", "definition": FORM}, headers=admin)
        assert saved.status_code == 201, saved.text
    pages = await every_page(http, f"/api/admin/forms/{key}?limit=2", admin)
    assert [[v["version"] for v in p] for p in pages] == [[3, 2], [1]]
    assert (await http.get(f"/api/admin/forms/no-{key}", headers=admin)).status_code == 404

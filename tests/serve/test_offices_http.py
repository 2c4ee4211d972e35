"""Offices and the org chart over HTTP with real tokens: administrators create, list, filter, page, export and
change any office; supervisors change only their own office's hours and contacts; employees only read; every
change audited; bad input changes nothing."""

from __future__ import annotations

import base64
import csv
import io
import json
import uuid
from collections.abc import Callable
from typing import Any, TypeAlias

import asyncpg
import httpx
import pytest

from serve.app import api
from tests.conftest import OfficeFactory
from tests.helpers import bearer

Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"
HOURS = {
    "mon": [{"opens": "08:00", "closes": "15:00"}],
    "tue": [{"opens": "08:00", "closes": "15:00"}, {"opens": "17:00", "closes": "20:00"}],
    "note": "Κλειστά τις αργίες",
}


def _tag() -> str:
    return f"OF{uuid.uuid4().hex[:6].upper()}"


def _subject(headers: dict[str, str]) -> str:
    payload = headers["Authorization"].split()[1].split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"])


@pytest.fixture
def admin(token_for: Callable[..., str]) -> dict[str, str]:
    return bearer(token_for(uuid.uuid4(), roles=("administrator",)))


async def _create(http: httpx.AsyncClient, admin: dict[str, str], **body: Any) -> dict[str, Any]:
    resp = await http.post("/api/admin/offices", json=body, headers=admin)
    assert resp.status_code == 201, resp.text
    assert resp.headers["Location"] == f"/api/offices/{resp.json()['id']}"
    result: dict[str, Any] = resp.json()
    return result


async def test_administrators_create_list_filter_page_and_export(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    tag = _tag()
    central = await _create(http, admin, code=f"{tag}-C", kind="central", name_el="Κεντρική Διοίκηση ΚΕΠ")
    for i in range(12):
        await _create(
            http,
            admin,
            code=f"{tag}-{i:02d}",
            kind="kep",
            name_el=f"ΚΕΠ Δήμου Πειραιώς {i:02d}" if i % 2 else f"ΚΕΠ Δήμου Αθηναίων {i:02d}",
            name_en=f"KEP {i:02d}",
            address="Λιοσίων 22",
            postal_code="104 38",
            municipality="Πειραιώς" if i % 2 else "Αθηναίων",
            regional_unit="Κεντρικού Τομέα Αθηνών",
            region="Αττική",
            phone="+30 210 1234567",
            email="kep@example.gr",
            website="https://www.kep.gov.gr",
            opening_hours=HOURS,
            parent_id=central["id"],
        )
    await _create(http, admin, code=f"{tag}-E", kind="eke", name_el="ΕΚΕ Αττικής", region="Αττική")

    page2 = await http.get("/api/offices", params={"q": tag, "page": 2, "size": 5}, headers=admin)
    assert page2.status_code == 200, page2.text
    body = page2.json()
    assert (body["total"], body["page"], body["size"]) == (14, 2, 5)
    assert [o["code"] for o in body["items"]] == [f"{tag}-{i:02d}" for i in range(5, 10)]

    # the words of `q` anywhere in code and names, accents, case and final sigma aside
    athens = await http.get("/api/offices", params={"q": f"{tag} ΑΘΗΝΑΙΩΝ", "size": 100}, headers=admin)
    assert athens.json()["total"] == 6
    by_place = await http.get(
        "/api/offices",
        params={"q": tag, "municipality": "ΠΕΙΡΑΙΩΣ", "kind": "kep", "sort": "code", "descending": True, "size": 2},
        headers=admin,
    )
    assert [o["code"] for o in by_place.json()["items"]] == [f"{tag}-11", f"{tag}-09"]
    assert by_place.json()["total"] == 6
    region = await http.get("/api/offices", params={"q": tag, "region": "αττικη", "kind": "eke"}, headers=admin)
    assert [o["code"] for o in region.json()["items"]] == [f"{tag}-E"]
    under = await http.get("/api/offices", params={"parent_id": central["id"], "size": 100}, headers=admin)
    assert under.json()["total"] == 12

    one = (await http.get(f"/api/offices/{under.json()['items'][0]['id']}", headers=admin)).json()
    assert (one["postal_code"], one["parent_code"], one["opening_hours"]["tue"][1]) == (
        "10438",
        f"{tag}-C",
        {"opens": "17:00", "closes": "20:00"},
    )

    exported = await http.get("/api/offices.csv", params={"q": tag, "size": 5}, headers=admin)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == 14  # every page of the filtered list
    kep = next(r for r in rows if r["code"] == f"{tag}-00")
    assert kep["parent_code"] == f"{tag}-C"
    assert kep["opening_hours"] == "mon 08:00–15:00; tue 08:00–15:00, 17:00–20:00; Κλειστά τις αργίες"

    tree = await http.get("/api/offices/tree", params={"root": central["id"]}, headers=admin)
    assert tree.status_code == 200, tree.text
    [top] = tree.json()
    assert top["code"] == f"{tag}-C"
    assert [c["code"] for c in top["children"]] == [f"{tag}-{i:02d}" for i in range(12)]
    children = await http.get(f"/api/offices/{central['id']}/children", headers=admin)
    assert len(children.json()) == 12
    whole = await http.get("/api/offices/tree", headers=admin)
    assert any(n["id"] == central["id"] for n in whole.json())


async def test_bad_parameters_are_refused_with_pointers(http: httpx.AsyncClient, admin: dict[str, str]) -> None:
    resp = await http.get("/api/offices", params={"size": 1000, "sort": "price", "kind": "bank"}, headers=admin)
    assert resp.status_code == 422
    assert {e["path"] for e in resp.json()["errors"]} == {"/size", "/sort", "/kind"}


async def test_a_cycle_a_duplicate_and_bad_input_change_nothing(
    http: httpx.AsyncClient, admin: dict[str, str], pool: Pool
) -> None:
    tag = _tag()
    top = await _create(http, admin, code=f"{tag}-A", kind="central", name_el="Α")
    mid = await _create(http, admin, code=f"{tag}-B", kind="kep", name_el="Β", parent_id=top["id"])
    leaf = await _create(http, admin, code=f"{tag}-C", kind="kep", name_el="Γ", parent_id=mid["id"])

    attempts: list[tuple[str, dict[str, Any], set[tuple[str, str]]]] = [
        (top["id"], {"parent_id": leaf["id"], "name_el": "Άλλο"}, {("/parent_id", "cycle")}),
        (mid["id"], {"parent_id": mid["id"]}, {("/parent_id", "cycle")}),
        (leaf["id"], {"parent_id": str(uuid.uuid4())}, {("/parent_id", "unknown_office")}),
        (leaf["id"], {"code": f"{tag}-A", "phone": "2101234567"}, {("/code", "duplicate")}),
        (mid["id"], {"active": False}, {("/active", "active_children")}),
    ]
    for office_id, change, expected in attempts:
        resp = await http.patch(f"/api/admin/offices/{office_id}", json=change, headers=admin)
        assert resp.status_code == 422, resp.text
        assert resp.headers["content-type"] == "application/problem+json"
        assert {(e["path"], e["type"]) for e in resp.json()["errors"]} == expected, change

    schema_errors: list[tuple[dict[str, Any], str]] = [
        ({"opening_hours": {"mon": [{"opens": "15:00", "closes": "08:00"}]}}, "/opening_hours/mon/0"),
        ({"opening_hours": {"wed": [{"opens": "08:00", "closes": "12:00"}, {"opens": "11:00", "closes": "14:00"}]}},
         "/opening_hours/wed"),
        ({"opening_hours": {"fri": [{"opens": "8:00", "closes": "12:00"}]}}, "/opening_hours/fri/0/opens"),
        ({"opening_hours": {"someday": []}}, "/opening_hours/someday"),
        ({"postal_code": "1043"}, "/postal_code"),
        ({"email": "not-an-address"}, "/email"),
        ({"website": "javascript:alert(1)"}, "/website"),
        ({"code": "lower case"}, "/code"),
        ({"kind": "bank"}, "/kind"),
        ({"name_el": None}, "/name_el"),
        ({"active": None}, "/active"),
        ({"colour": "red"}, "/colour"),
    ]  # fmt: skip
    for change, pointer in schema_errors:
        resp = await http.patch(f"/api/admin/offices/{leaf['id']}", json=change, headers=admin)
        assert resp.status_code == 422, (change, resp.text)
        assert [e["path"] for e in resp.json()["errors"]] == [pointer], change

    # an office under an unknown parent, or with a code taken, is not created
    for body, pointer in [
        ({"code": f"{tag}-D", "kind": "kep", "name_el": "Δ", "parent_id": str(uuid.uuid4())}, "/parent_id"),
        ({"code": f"{tag}-B", "kind": "kep", "name_el": "Δ"}, "/code"),
    ]:
        resp = await http.post("/api/admin/offices", json=body, headers=admin)
        assert resp.status_code == 422, resp.text
        assert [e["path"] for e in resp.json()["errors"]] == [pointer]
    assert await pool.fetchval("SELECT count(*) FROM offices WHERE code LIKE $1", f"{tag}-%") == 3

    for office in (top, mid, leaf):
        now = (await http.get(f"/api/offices/{office['id']}", headers=admin)).json()
        assert now == office
        history = (await http.get(f"/api/admin/offices/{office['id']}/history", headers=admin)).json()
        assert [h["action"] for h in history] == ["create"]


async def test_changes_are_audited_and_the_chart_moves(
    http: httpx.AsyncClient, admin: dict[str, str], pool: Pool
) -> None:
    tag = _tag()
    a = await _create(http, admin, code=f"{tag}-A", kind="central", name_el="Α")
    b = await _create(http, admin, code=f"{tag}-B", kind="central", name_el="Β")
    kep = await _create(http, admin, code=f"{tag}-K", kind="kep", name_el="Κ", parent_id=a["id"], phone="2101111111")

    request_id = f"req-{uuid.uuid4().hex[:8]}"
    moved = await http.patch(
        f"/api/admin/offices/{kep['id']}",
        json={"parent_id": b["id"], "phone": None, "name_en": "K", "reason": "νέα διάρθρωση"},
        headers=admin | {"X-Request-ID": request_id},
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["parent_code"], moved.json()["phone"]) == (f"{tag}-B", None)
    same = await http.patch(f"/api/admin/offices/{kep['id']}", json={"name_en": "K"}, headers=admin)
    assert same.status_code == 200

    off = await http.post(f"/api/admin/offices/{kep['id']}/deactivate", json={"reason": "έκλεισε"}, headers=admin)
    assert off.json()["active"] is False
    on = await http.post(f"/api/admin/offices/{kep['id']}/activate", headers=admin)
    assert on.json()["active"] is True

    history = (await http.get(f"/api/admin/offices/{kep['id']}/history", headers=admin)).json()
    assert [h["action"] for h in history] == ["create", "change", "deactivate", "activate"]
    change = history[1]
    assert change["old"] == {"parent_id": a["id"], "phone": "2101111111", "name_en": None}
    assert change["new"] == {"parent_id": b["id"], "phone": None, "name_en": "K"}
    assert (change["reason"], change["request_id"], change["actor"]) == ("νέα διάρθρωση", request_id, _subject(admin))
    assert history[2]["reason"] == "έκλεισε"
    rows = await pool.fetchval("SELECT count(*) FROM admin_audit WHERE entity = 'office' AND entity_id = $1", kep["id"])
    assert rows == 4


async def test_supervisors_change_only_their_own_offices_own_fields(
    http: httpx.AsyncClient, admin: dict[str, str], token_for: Callable[..., str]
) -> None:
    tag = _tag()
    own = await _create(http, admin, code=f"{tag}-OWN", kind="kep", name_el="Δικό μου")
    other = await _create(http, admin, code=f"{tag}-OTH", kind="kep", name_el="Άλλο")
    supervisor = bearer(token_for(uuid.UUID(own["id"]), roles=("employee", "supervisor")))

    mine = await http.patch(
        f"/api/offices/{own['id']}",
        json={"opening_hours": HOURS, "phone": "210 5555555", "email": "own@example.gr", "reason": "θερινό ωράριο"},
        headers=supervisor,
    )
    assert mine.status_code == 200, mine.text
    assert (mine.json()["phone"], mine.json()["opening_hours"]["note"]) == ("210 5555555", HOURS["note"])
    history = (await http.get(f"/api/admin/offices/{own['id']}/history", headers=admin)).json()
    assert [(h["action"], h["actor"], h["reason"]) for h in history[1:]] == [
        ("change", _subject(supervisor), "θερινό ωράριο")
    ]

    # another office's: 403, though it may be read
    theirs = await http.patch(f"/api/offices/{other['id']}", json={"phone": "2109999999"}, headers=supervisor)
    assert theirs.status_code == 403
    assert (await http.get(f"/api/offices/{other['id']}", headers=supervisor)).status_code == 200
    # fields that are the administrators': 422 with their pointers
    for field, value in [("code", f"{tag}-X"), ("name_el", "Νέο"), ("parent_id", other["id"]), ("active", False),
                         ("kind", "eke"), ("region", "Αττική")]:  # fmt: skip
        resp = await http.patch(
            f"/api/offices/{own['id']}", json={field: value, "phone": "2100000000"}, headers=supervisor
        )
        assert resp.status_code == 422, resp.text
        assert [e["path"] for e in resp.json()["errors"]] == [f"/{field}"]
    # and not through the administrators' routes either
    admins_only = [
        ("PATCH", f"/api/admin/offices/{own['id']}", {"code": "X1"}),
        ("POST", "/api/admin/offices", {"code": "X1", "kind": "kep", "name_el": "Χ"}),
    ]
    for method, path, body in admins_only:
        assert (await http.request(method, path, json=body, headers=supervisor)).status_code == 403, path
    after = (await http.get(f"/api/offices/{own['id']}", headers=supervisor)).json()
    assert (after["code"], after["phone"], after["active"]) == (f"{tag}-OWN", "210 5555555", True)
    other_now = (await http.get(f"/api/offices/{other['id']}", headers=admin)).json()
    assert other_now["phone"] is None


async def test_employees_read_the_directory_and_change_nothing(
    http: httpx.AsyncClient, admin: dict[str, str], token_for: Callable[..., str]
) -> None:
    tag = _tag()
    top = await _create(http, admin, code=f"{tag}-TOP", kind="central", name_el="Κεντρική")
    own = await _create(http, admin, code=f"{tag}-OWN", kind="kep", name_el="Δικό", parent_id=top["id"])
    shut = await _create(http, admin, code=f"{tag}-SHUT", kind="kep", name_el="Κλειστό", parent_id=top["id"])
    await http.post(f"/api/admin/offices/{shut['id']}/deactivate", headers=admin)
    employee = bearer(token_for(uuid.UUID(own["id"]), roles=("employee",)))

    assert (await http.get(f"/api/offices/{own['id']}", headers=employee)).status_code == 200
    assert (await http.get(f"/api/offices/{top['id']}", headers=employee)).status_code == 200
    # another office that is no longer active is not to be seen: 404 like a missing one
    for path in (f"/api/offices/{shut['id']}", f"/api/offices/{shut['id']}/children", f"/api/offices/{uuid.uuid4()}"):
        assert (await http.get(path, headers=employee)).status_code == 404, path
    listed = await http.get("/api/offices", params={"q": tag}, headers=employee)
    assert {o["code"] for o in listed.json()["items"]} == {f"{tag}-TOP", f"{tag}-OWN"}
    inactive = await http.get("/api/offices", params={"q": tag, "active": False}, headers=employee)
    assert inactive.json()["total"] == 0
    assert (await http.get("/api/offices", params={"q": tag}, headers=admin)).json()["total"] == 3
    exported = await http.get("/api/offices.csv", params={"q": tag}, headers=employee)
    assert {r["code"] for r in csv.DictReader(io.StringIO(exported.text))} == {f"{tag}-TOP", f"{tag}-OWN"}
    [chart] = (await http.get("/api/offices/tree", params={"root": top["id"]}, headers=employee)).json()
    assert [c["code"] for c in chart["children"]] == [f"{tag}-OWN"]

    refused = [
        ("PATCH", f"/api/offices/{own['id']}", {"phone": "2101234567"}),
        ("POST", "/api/admin/offices", {"code": f"{tag}-NEW", "kind": "kep", "name_el": "Νέο"}),
        ("PATCH", f"/api/admin/offices/{own['id']}", {"phone": "2101234567"}),
        ("POST", f"/api/admin/offices/{own['id']}/deactivate", None),
        ("GET", f"/api/admin/offices/{own['id']}/history", None),
    ]
    for method, path, body in refused:
        resp = await http.request(method, path, json=body, headers=employee)
        assert resp.status_code == 403, (method, path, resp.text)
    assert (await http.get(f"/api/offices/{own['id']}", headers=employee)).json() == own

    # an office that was deactivated is still its own staff's to see
    await http.patch(f"/api/admin/offices/{top['id']}", json={"phone": "2100000000"}, headers=admin)
    await http.post(f"/api/admin/offices/{own['id']}/deactivate", headers=admin)
    assert (await http.get(f"/api/offices/{own['id']}", headers=employee)).json()["active"] is False


async def test_a_token_without_a_role_of_ours_reads_nothing(
    http: httpx.AsyncClient, make_office: OfficeFactory, token_for: Callable[..., str]
) -> None:
    office = await make_office()
    nobody = bearer(token_for(office, roles=()))
    for path in ("/api/offices", f"/api/offices/{office}", "/api/offices/tree", "/api/offices.csv"):
        assert (await http.get(path, headers=nobody)).status_code == 403, path
    assert (await http.get("/api/offices")).status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/admin/offices", {"code": "KEP-X", "kind": "kep", "name_el": "Χ"}),
        ("PATCH", f"/api/admin/offices/{uuid.uuid4()}", {}),
        ("POST", f"/api/admin/offices/{uuid.uuid4()}/activate", None),
        ("POST", f"/api/admin/offices/{uuid.uuid4()}/deactivate", None),
        ("GET", f"/api/admin/offices/{uuid.uuid4()}/history", None),
    ],
)
async def test_admin_endpoints_are_for_administrators_only(
    http: httpx.AsyncClient, token_for: Callable[..., str], method: str, path: str, body: dict[str, str] | None
) -> None:
    supervisor = bearer(token_for(uuid.uuid4(), roles=("employee", "supervisor")))
    resp = await http.request(method, path, json=body, headers=supervisor)
    assert resp.status_code == 403, resp.text


# what a supervisor of another office gets on each route of one office: (the office active, the office inactive)
CROSS_OFFICE: dict[tuple[str, str], tuple[int, int]] = {
    ("GET", "/api/offices/{office_id}"): (200, 404),
    ("PATCH", "/api/offices/{office_id}"): (403, 404),
    ("GET", "/api/offices/{office_id}/children"): (200, 404),
    ("PATCH", "/api/admin/offices/{office_id}"): (403, 403),
    ("POST", "/api/admin/offices/{office_id}/activate"): (403, 403),
    ("POST", "/api/admin/offices/{office_id}/deactivate"): (403, 403),
    ("GET", "/api/admin/offices/{office_id}/history"): (403, 403),
    ("GET", "/api/offices/{office_id}/apps"): (403, 403),  # an office's applications: its supervisors only
}


def _office_routes() -> list[tuple[str, str]]:
    """Every route of one office as the API publishes it (OpenAPI)."""
    return sorted(
        (method.upper(), path)
        for path, operations in api.openapi()["paths"].items()
        if "/offices/{office_id}" in path
        for method in operations
    )


def test_every_office_route_is_covered() -> None:
    assert set(_office_routes()) == set(CROSS_OFFICE)


@pytest.mark.parametrize("active", [True, False])
@pytest.mark.parametrize(("method", "path"), _office_routes())
async def test_staff_of_another_office_change_nothing(
    http: httpx.AsyncClient,
    admin: dict[str, str],
    token_for: Callable[..., str],
    make_office: OfficeFactory,
    pool: Pool,
    method: str,
    path: str,
    active: bool,
) -> None:
    office = await _create(http, admin, code=_tag(), kind="kep", name_el="Γραφείο", active=active)

    async def state() -> tuple[Any, ...]:
        return (
            await pool.fetchrow("SELECT * FROM offices WHERE id = $1", uuid.UUID(office["id"])),
            await pool.fetchval(
                "SELECT count(*) FROM admin_audit WHERE entity = 'office' AND entity_id = $1", office["id"]
            ),
        )

    before = await state()
    url = path.replace("{office_id}", office["id"])
    body = {"phone": "2101234567"} if method == "PATCH" else None
    for roles in (("employee", "supervisor"), ("employee",)):
        intruder = bearer(token_for(await make_office(), roles=roles))
        # an employee changes no office at all: 403 whatever the office, which tells nothing of it
        expected = 403 if method != "GET" and "supervisor" not in roles else CROSS_OFFICE[(method, path)][not active]
        answer = await http.request(method, url, json=body, headers=intruder)
        assert answer.status_code == expected, (roles, answer.text)
    assert await state() == before

"""Service points over HTTP with real tokens: the nearest open ones to a point (by distance, within a radius, open at
a time, offering a procedure), supervisors limited to their own office, bad coordinates refused with pointers and
nothing changed, and the nearest query served by the GiST index of the locations."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeAlias

import asyncpg
import httpx
import pytest

from actors.service_points import store
from messages.service_points import NearestQuery
from tests.conftest import OfficeFactory
from tests.helpers import bearer

Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
MORNINGS = {d: [{"opens": "08:00", "closes": "15:00"}] for d in WEEKDAYS}
EVENINGS = {d: [{"opens": "15:00", "closes": "21:00"}] for d in WEEKDAYS}
SATURDAYS = {"sat": [{"opens": "09:00", "closes": "13:00"}]}
SYNTAGMA = {"lat": 37.9755, "lon": 23.7348}
OMONIA = {"lat": 37.9841, "lon": 23.7280}  # ~1.1 km from Syntagma
PIRAEUS = {"lat": 37.9420, "lon": 23.6465}  # ~8.5 km
THESSALONIKI = {"lat": 40.6321, "lon": 22.9408}  # ~300 km
MONDAY_10 = "2026-12-07T10:00:00+02:00"  # Greek winter time
MONDAY_1630_UTC = "2026-12-07T14:30:00Z"  # 16:30 in Athens


@pytest.fixture
def client(http: httpx.AsyncClient) -> httpx.AsyncClient:
    """The HTTP ingress the session's Serve deployment runs."""
    return http


@pytest.fixture
def admin(token_for: Callable[..., str]) -> dict[str, str]:
    return bearer(token_for(uuid.uuid4(), roles=("administrator",)))


async def _create(http: httpx.AsyncClient, who: dict[str, str], **body: Any) -> dict[str, Any]:
    body.setdefault("name_el", f"Σημείο {uuid.uuid4().hex[:6]}")
    body.setdefault("address", "Πανεπιστημίου 10, Αθήνα")
    resp = await http.post("/api/service-points", json=body, headers=who)
    assert resp.status_code == 201, resp.text
    assert resp.headers["Location"] == f"/api/service-points/{resp.json()['id']}"
    result: dict[str, Any] = resp.json()
    return result


async def _nearest(http: httpx.AsyncClient, who: dict[str, str], mine: set[str], **params: Any) -> list[str]:
    resp = await http.get("/api/service-points/nearest", params={"limit": 50, **params}, headers=who)
    assert resp.status_code == 200, resp.text
    found = resp.json()
    distances = [p["distance_m"] for p in found]
    assert distances == sorted(distances)
    return [p["name_el"] for p in found if p["id"] in mine]


async def test_nearest_by_distance_radius_hours_and_procedure(
    client: httpx.AsyncClient, admin: dict[str, str], make_office: OfficeFactory, make_procedure: Any, pool: Pool
) -> None:
    office = str(await make_office())
    procedure = await make_procedure()
    by_category = await make_procedure()
    category = f"Κατηγορία {uuid.uuid4().hex[:6]}"
    await pool.execute("UPDATE procedures SET categories = $2 WHERE id = $1", by_category, [category])
    tag = uuid.uuid4().hex[:6]
    made = [
        await _create(
            client, admin, office_id=office, name_el=f"{tag} Ομόνοια", location=OMONIA, opening_hours=EVENINGS
        ),
        await _create(
            client,
            admin,
            office_id=office,
            name_el=f"{tag} Σύνταγμα",
            location=SYNTAGMA,
            opening_hours=MORNINGS,
            procedure_ids=[str(procedure)],
        ),
        await _create(
            client,
            admin,
            office_id=office,
            kind="kiosk",
            name_el=f"{tag} Πειραιάς",
            location=PIRAEUS,
            opening_hours=MORNINGS | SATURDAYS,
            categories=[category],
        ),
        await _create(client, admin, office_id=office, name_el=f"{tag} Θεσσαλονίκη", location=THESSALONIKI),
    ]
    mine = {p["id"] for p in made}
    near_syntagma = {"lat": 37.9760, "lon": 23.7350}

    # nearest first; the radius leaves out what is farther
    assert await _nearest(client, admin, mine, **near_syntagma, radius_m=20_000) == [
        f"{tag} Σύνταγμα",
        f"{tag} Ομόνοια",
        f"{tag} Πειραιάς",
    ]
    assert await _nearest(client, admin, mine, **near_syntagma, radius_m=2_000) == [
        f"{tag} Σύνταγμα",
        f"{tag} Ομόνοια",
    ]
    one = await client.get("/api/service-points/nearest", params={**near_syntagma, "limit": 1}, headers=admin)
    assert one.status_code == 200
    assert len(one.json()) == 1
    assert one.json()[0]["distance_m"] < 100

    # open at a time, read in Greek time: a point closed then is left out
    assert await _nearest(client, admin, mine, **near_syntagma, radius_m=20_000, open_at=MONDAY_10) == [
        f"{tag} Σύνταγμα",
        f"{tag} Πειραιάς",
    ]
    assert await _nearest(client, admin, mine, **near_syntagma, radius_m=20_000, open_at=MONDAY_1630_UTC) == [
        f"{tag} Ομόνοια"
    ]
    saturday = "2026-12-12T11:00:00"  # no zone: Greek time
    assert await _nearest(client, admin, mine, **near_syntagma, radius_m=20_000, open_at=saturday) == [
        f"{tag} Πειραιάς"
    ]
    sunday = await _nearest(client, admin, mine, **near_syntagma, radius_m=20_000, open_at="2026-12-13T11:00:00")
    assert sunday == []

    # offering a procedure: by its id or by one of its categories
    assert await _nearest(client, admin, mine, **near_syntagma, radius_m=20_000, procedure_id=str(procedure)) == [
        f"{tag} Σύνταγμα"
    ]
    assert await _nearest(
        client, admin, mine, **near_syntagma, radius_m=20_000, procedure_id=str(by_category), open_at=saturday
    ) == [f"{tag} Πειραιάς"]

    # an inactive point is nobody's nearest
    gone = await client.post(
        f"/api/service-points/{made[1]['id']}/deactivate", json={"reason": "έκλεισε"}, headers=admin
    )
    assert gone.status_code == 200
    assert gone.json()["active"] is False
    assert await _nearest(client, admin, mine, **near_syntagma, radius_m=2_000) == [f"{tag} Ομόνοια"]

    # the list: folded search on names and addresses, by office, by procedure
    listed = await client.get("/api/service-points", params={"q": f"{tag} ΠΕΙΡΑΙΑΣ"}, headers=admin)
    assert [p["name_el"] for p in listed.json()["items"]] == [f"{tag} Πειραιάς"]
    assert listed.json()["items"][0]["location"] == PIRAEUS
    offering = await client.get("/api/service-points", params={"procedure_id": str(by_category)}, headers=admin)
    assert [p["id"] for p in offering.json()["items"]] == [made[2]["id"]]
    of_office = await client.get("/api/service-points", params={"office_id": office, "size": 100}, headers=admin)
    assert of_office.json()["total"] == 4


async def test_supervisors_write_only_their_own_offices_points_and_staff_read_active_ones(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    make_office: OfficeFactory,
    token_for: Callable[..., str],
    pool: Pool,
) -> None:
    own, other = await make_office(), await make_office()
    supervisor = bearer(token_for(own, roles=("supervisor",)))
    employee = bearer(token_for(own, roles=("employee",)))
    stranger = bearer(token_for(other, roles=("employee",)))

    mine = await _create(client, supervisor, office_id=str(own), location=SYNTAGMA, opening_hours=MORNINGS)
    theirs = await _create(client, admin, office_id=str(other), location=OMONIA)

    for_other = await client.post(
        "/api/service-points",
        json={"office_id": str(other), "name_el": "Ξένο", "address": "Αθήνα", "location": SYNTAGMA},
        headers=supervisor,
    )
    assert for_other.status_code == 403
    for method, path, body in [
        ("PATCH", f"/api/service-points/{theirs['id']}", {"name_el": "Αλλαγή"}),
        ("POST", f"/api/service-points/{theirs['id']}/deactivate", None),
        ("PATCH", f"/api/service-points/{mine['id']}", {"office_id": str(other)}),
        ("GET", f"/api/service-points/{theirs['id']}/history", None),
    ]:
        resp = await client.request(method, path, json=body, headers=supervisor)
        assert resp.status_code == 403, (method, path, resp.text)
    by_employee = await client.patch(f"/api/service-points/{mine['id']}", json={"name_el": "Χ"}, headers=employee)
    assert by_employee.status_code == 403
    unchanged = await client.get(f"/api/service-points/{theirs['id']}", headers=admin)
    assert unchanged.json()["name_el"] == theirs["name_el"]
    assert unchanged.json()["active"] is True

    changed = await client.patch(
        f"/api/service-points/{mine['id']}",
        json={"name_en": "Counter 1", "location": OMONIA, "reason": "μετακόμιση"},
        headers=supervisor,
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["name_en"], changed.json()["location"]) == ("Counter 1", OMONIA)
    off = await client.post(f"/api/service-points/{mine['id']}/deactivate", headers=supervisor)
    assert off.status_code == 200
    assert off.json()["active"] is False

    # staff read the active points of every office, and their own office's inactive ones
    assert (await client.get(f"/api/service-points/{theirs['id']}", headers=employee)).status_code == 200
    assert (await client.get(f"/api/service-points/{mine['id']}", headers=employee)).status_code == 200
    assert (await client.get(f"/api/service-points/{mine['id']}", headers=stranger)).status_code == 404
    listed = await client.get("/api/service-points", params={"office_id": str(own)}, headers=stranger)
    assert listed.json()["total"] == 0

    history = await client.get(f"/api/service-points/{mine['id']}/history", headers=supervisor)
    assert [e["action"] for e in history.json()] == ["create", "change", "deactivate"]
    assert history.json()[1]["reason"] == "μετακόμιση"
    assert history.json()[1]["old"]["location"] == SYNTAGMA
    assert history.json()[1]["new"] == {"name_en": "Counter 1", "location": OMONIA}
    rows = await pool.fetchval(
        "SELECT count(*) FROM admin_audit WHERE entity = 'service_point' AND entity_id = $1", mine["id"]
    )
    assert rows == 3


async def test_bad_coordinates_and_input_are_refused_with_pointers_and_change_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], make_office: OfficeFactory, pool: Pool
) -> None:
    office = str(await make_office())
    bad = await client.get(
        "/api/service-points/nearest",
        params={"lat": 95, "lon": -200, "radius_m": 200_000, "limit": 51},
        headers=admin,
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert {e["path"] for e in bad.json()["errors"]} == {"/lat", "/lon", "/radius_m", "/limit"}
    for params in (
        {"lat": "nan", "lon": 23.7},
        {"lon": 23.7},
        {"lat": 37.9, "lon": 23.7, "radius_m": 0},
        {"lat": 37.9, "lon": 23.7, "open_at": "9999-12-31T23:59:59-12:00"},
        {"lat": 37.9, "lon": 23.7, "open_at": "2026-12-07T10:00:00", "open_now": True},
    ):
        resp = await client.get("/api/service-points/nearest", params=params, headers=admin)
        assert resp.status_code == 422, params

    counts = "SELECT (SELECT count(*) FROM service_points), (SELECT count(*) FROM admin_audit)"
    before = tuple(await pool.fetchrow(counts))
    attempts: list[tuple[dict[str, Any], set[str]]] = [
        ({"location": {"lat": 48.85, "lon": 2.35}}, {"/location/lat", "/location/lon"}),  # Paris
        ({"location": {"lat": 37.9}}, {"/location/lon"}),
        ({"location": {"lat": 37.9, "lon": 23.7}, "procedure_ids": [str(uuid.uuid4())]}, {"/procedure_ids/0"}),
        ({"location": {"lat": 37.9, "lon": 23.7}, "office_id": str(uuid.uuid4())}, {"/office_id"}),
    ]
    for change, pointers in attempts:
        body = {"office_id": office, "name_el": "Σημείο", "address": "Αθήνα"} | change
        resp = await client.post("/api/service-points", json=body, headers=admin)
        assert resp.status_code == 422, resp.text
        assert {e["path"] for e in resp.json()["errors"]} == pointers, resp.text
    assert tuple(await pool.fetchrow(counts)) == before

    point = await _create(client, admin, office_id=office, location=SYNTAGMA)
    before = tuple(await pool.fetchrow(counts))
    for change, pointers in [
        ({"location": {"lat": 37.9, "lon": 200}}, {"/location/lon"}),
        ({"name_el": "Νέο", "location": None}, {"/location"}),
        ({"name_el": "Νέο", "procedure_ids": [str(uuid.uuid4())]}, {"/procedure_ids/0"}),
    ]:
        resp = await client.patch(f"/api/service-points/{point['id']}", json=change, headers=admin)
        assert resp.status_code == 422, resp.text
        assert {e["path"] for e in resp.json()["errors"]} == pointers, resp.text
    assert tuple(await pool.fetchrow(counts)) == before
    again = await client.get(f"/api/service-points/{point['id']}", headers=admin)
    assert (again.json()["name_el"], again.json()["location"]) == (point["name_el"], SYNTAGMA)


async def test_the_nearest_query_scans_the_gist_index(pool: Pool) -> None:
    """The query the endpoint runs, explained. The test database holds a handful of points, where a sequential
    scan is the planner's right choice; `SET LOCAL enable_seqscan = off` in this transaction makes it show the plan
    it takes on a table large enough: the KNN order (`<->`) and the radius by the GiST index."""
    q = NearestQuery(lat=37.976, lon=23.735, radius_m=5_000, open_at="2026-12-07T10:00:00+02:00", limit=5)
    sql, args = store.nearest_sql(q)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {sql}", *args))
    assert "service_points_location_gist" in plan, plan
    assert "Order By: (location <-> " in plan, plan  # the KNN order, from the index

"""Organisational positions over HTTP with real tokens: filled by one person at a time (the previous holder leaves),
vacated, who held each when with the vacant periods between, the open cases per position; supervisors limited to
their own office, another office's position 404 to staff; bad input 422 with pointers and nothing changed; the
table refuses overlapping assignments itself; a person moved to another office leaves their position."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeAlias

import asyncpg
import httpx
import pytest

from tests.conftest import OfficeFactory
from tests.helpers import bearer

Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"
JAN = "2026-01-01T08:00:00+00:00"
MAR = "2026-03-01T08:00:00+00:00"
JUN = "2026-06-01T08:00:00+00:00"


@pytest.fixture
def admin(token_for: Callable[..., str]) -> dict[str, str]:
    return bearer(token_for(uuid.uuid4(), roles=("administrator",)))


async def _user(pool: Pool, office: uuid.UUID, name: str | None = None) -> str:
    subject = f"emp-{uuid.uuid4().hex[:8]}"
    await pool.execute(
        "INSERT INTO users (id, subject, office_id, display_name, roles) VALUES ($1, $2, $3, $4, '{employee}')",
        uuid.uuid4(),
        subject,
        office,
        name or subject,
    )
    return subject


async def _create(http: httpx.AsyncClient, who: dict[str, str], office: uuid.UUID, **body: Any) -> dict[str, Any]:
    body = {"office_id": str(office), "title": f"Θέση {uuid.uuid4().hex[:6]}", "category": "ΠΕ", **body}
    resp = await http.post("/api/positions", json=body, headers=who)
    assert resp.status_code == 201, resp.text
    assert resp.headers["Location"] == f"/api/positions/{resp.json()['id']}"
    result: dict[str, Any] = resp.json()
    return result


async def _case(pool: Pool, office: uuid.UUID, procedure: uuid.UUID, assignee: str, status: str) -> None:
    seq = await pool.fetchval("SELECT coalesce(max(seq), 0) + 1 FROM cases WHERE office_id = $1", office)
    await pool.execute(
        """INSERT INTO cases (id, office_id, year, seq, number, procedure_id, procedure_title, status, citizen,
                              assignee, created_by)
           VALUES ($1, $2, 2026, $3, $4, $5, 'Διαδικασία', $6, '{}', $7, 'test')""",
        uuid.uuid4(),
        office,
        seq,
        f"T-{uuid.uuid4().hex[:12]}",
        procedure,
        status,
        assignee,
    )


async def test_fill_vacate_occupancy_and_workload(
    http: httpx.AsyncClient, admin: dict[str, str], make_office: OfficeFactory, make_procedure: Any, pool: Pool
) -> None:
    office = await make_office()
    first, second = await _user(pool, office, "Πρώτη"), await _user(pool, office, "Δεύτερος")
    position = await _create(http, admin, office, title="Προϊστάμενος", category="ΠΕ", grade="Α", branch="Διοικητικού")
    pid = position["id"]
    assert position["holder"] is None

    filled = await http.post(f"/api/positions/{pid}/fill", json={"subject": first, "from": JAN}, headers=admin)
    assert filled.status_code == 200, filled.text
    assert filled.json()["holder"]["subject"] == first
    assert filled.json()["holder"]["display_name"] == "Πρώτη"

    # the next holder from March: the first leaves then
    filled = await http.post(f"/api/positions/{pid}/fill", json={"subject": second, "from": MAR}, headers=admin)
    assert filled.status_code == 200, filled.text
    assert filled.json()["holder"]["subject"] == second

    # workload: the holder's open cases of the office, by status; the first's cases count nowhere
    procedure = await make_procedure()
    for status in ("submitted", "in_progress", "in_progress", "suspended", "completed"):
        await _case(pool, office, procedure, second, status)
    await _case(pool, office, procedure, first, "submitted")
    vacant = await _create(http, admin, office, title="Ζ κενή", category="ΔΕ")
    resp = await http.get("/api/positions/workload", params={"office_id": str(office)}, headers=admin)
    assert resp.status_code == 200, resp.text
    load = {w["position_id"]: w for w in resp.json()}
    assert load[pid]["subject"] == second
    assert (load[pid]["submitted"], load[pid]["in_progress"], load[pid]["suspended"], load[pid]["total"]) == (
        1,
        2,
        1,
        4,
    )
    assert load[vacant["id"]]["subject"] is None
    assert load[vacant["id"]]["total"] == 0

    vacated = await http.post(f"/api/positions/{pid}/vacate", json={"reason": "μετάταξη"}, headers=admin)
    assert vacated.status_code == 200, vacated.text
    assert vacated.json()["holder"] is None
    again = await http.post(f"/api/positions/{pid}/vacate", headers=admin)
    assert again.status_code == 422
    assert again.json()["errors"][0]["path"] == "/at"

    periods = (await http.get(f"/api/positions/{pid}/occupancy", headers=admin)).json()
    assert [p["subject"] for p in periods] == [first, second, None]
    assert periods[0]["from"].startswith("2026-01-01")
    assert periods[0]["to"] == periods[1]["from"]
    assert periods[1]["from"].startswith("2026-03-01")
    assert periods[1]["to"] == periods[2]["from"]
    assert periods[2]["to"] is None

    # a vacant period between two holders
    refill = await http.post(f"/api/positions/{pid}/fill", json={"subject": first}, headers=admin)
    assert refill.status_code == 200, refill.text
    periods = (await http.get(f"/api/positions/{pid}/occupancy", headers=admin)).json()
    assert [p["subject"] for p in periods] == [first, second, None, first]

    listed = await http.get("/api/positions", params={"office_id": str(office), "vacant": "true"}, headers=admin)
    assert [p["id"] for p in listed.json()["items"]] == [vacant["id"]]
    assert listed.json()["total"] == 1

    audit = (await http.get(f"/api/positions/{pid}/history", headers=admin)).json()
    assert [a["action"] for a in audit] == ["create", "fill", "fill", "vacate", "fill"]
    assert audit[2]["old"]["subject"] == first
    assert audit[3]["reason"] == "μετάταξη"


async def test_bad_input_is_422_with_pointers_and_changes_nothing(
    http: httpx.AsyncClient, admin: dict[str, str], make_office: OfficeFactory, pool: Pool
) -> None:
    office, other = await make_office(), await make_office()
    holder, stranger = await _user(pool, office), await _user(pool, other)
    one = await _create(http, admin, office)
    two = await _create(http, admin, office)
    ok = await http.post(f"/api/positions/{one['id']}/fill", json={"subject": holder, "from": JAN}, headers=admin)
    assert ok.status_code == 200, ok.text

    async def state() -> tuple[Any, ...]:
        return (
            await pool.fetchval(
                "SELECT count(*) FROM admin_audit WHERE entity = 'position' AND entity_id = ANY ($1)",
                [one["id"], two["id"]],
            ),
            tuple(
                await pool.fetch(
                    "SELECT position_id, subject, period FROM position_assignments WHERE office_id = $1 ORDER BY id",
                    office,
                )
            ),
        )

    before = await state()
    cases = [
        (two["id"], {"subject": "nobody-" + uuid.uuid4().hex[:6]}, "/subject", "unknown_user"),
        (two["id"], {"subject": stranger}, "/subject", "other_office"),
        (two["id"], {"subject": holder, "from": JUN, "to": MAR}, "/to", "backwards_range"),
        # the holder of one holds no second position of the office at once
        (two["id"], {"subject": holder, "from": MAR}, "/subject", "overlapping_assignment"),
        # someone before the current holder's start, overlapping them
        (one["id"], {"subject": holder, "from": JAN}, "/from", "overlapping_assignment"),
    ]
    for pid, body, path, kind in cases:
        resp = await http.post(f"/api/positions/{pid}/fill", json=body, headers=admin)
        assert resp.status_code == 422, (body, resp.text)
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert [(e["path"], e["type"]) for e in resp.json()["errors"]] == [(path, kind)], body
    resp = await http.post(
        "/api/positions", json={"office_id": str(office), "title": "x", "category": "ΧΧ"}, headers=admin
    )
    assert resp.status_code == 422
    assert any(e["path"] == "/category" for e in resp.json()["errors"])
    resp = await http.patch(f"/api/positions/{one['id']}", json={"active": False}, headers=admin)
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["path"] == "/active"
    assert await state() == before

    # the table itself refuses two holders of one position at once
    with pytest.raises(asyncpg.ExclusionViolationError):
        await pool.execute(
            """INSERT INTO position_assignments (id, position_id, office_id, subject, period)
               VALUES ($1, $2, $3, $4, tstzrange($5::timestamptz, NULL))""",
            uuid.uuid4(),
            uuid.UUID(one["id"]),
            office,
            await _user(pool, office),
            datetime(2026, 2, 1, tzinfo=UTC),
        )


async def test_supervisors_their_office_employees_read_and_another_office_404(
    http: httpx.AsyncClient, token_for: Callable[..., str], make_office: OfficeFactory, pool: Pool
) -> None:
    office, other = await make_office(), await make_office()
    boss = bearer(token_for(office, roles=("supervisor",)))
    clerk = bearer(token_for(office, roles=("employee",)))
    other_boss = bearer(token_for(other, roles=("supervisor",)))
    mine = await _create(http, boss, office, category="ΤΕ", grade="Β")
    theirs = await _create(http, other_boss, other)
    member = await _user(pool, office)

    assert (
        await http.post(f"/api/positions/{mine['id']}/fill", json={"subject": member}, headers=boss)
    ).status_code == 200
    assert (await http.patch(f"/api/positions/{mine['id']}", json={"title": "Νέος τίτλος"}, headers=boss)).json()[
        "title"
    ] == "Νέος τίτλος"
    resp = await http.post(
        "/api/positions", json={"office_id": str(other), "title": "x", "category": "ΥΕ"}, headers=boss
    )
    assert resp.status_code == 403

    # employees read their office's, change nothing
    assert (await http.get(f"/api/positions/{mine['id']}", headers=clerk)).status_code == 200
    assert (await http.get(f"/api/positions/{mine['id']}/occupancy", headers=clerk)).status_code == 200
    assert (await http.get("/api/positions/workload", headers=clerk)).status_code == 200
    listed = (await http.get("/api/positions", headers=clerk)).json()
    assert [p["id"] for p in listed["items"]] == [mine["id"]]
    assert (await http.patch(f"/api/positions/{mine['id']}", json={"title": "y"}, headers=clerk)).status_code == 403
    assert (await http.post(f"/api/positions/{mine['id']}/vacate", headers=clerk)).status_code == 403

    # another office's position is 404 to staff, and nothing changes
    before = await pool.fetchval(
        "SELECT count(*) FROM admin_audit WHERE entity = 'position' AND entity_id = $1", theirs["id"]
    )
    for who in (boss, clerk):
        for method, path, body in (
            ("GET", "", None),
            ("GET", "/occupancy", None),
            ("PATCH", "", {"title": "z"}),
            ("POST", "/fill", {"subject": member}),
            ("POST", "/vacate", None),
        ):
            resp = await http.request(method, f"/api/positions/{theirs['id']}{path}", json=body, headers=who)
            assert resp.status_code in ((403, 404) if who is clerk and method != "GET" else (404,)), (method, path)
    assert (await http.get(f"/api/positions/{theirs['id']}/history", headers=boss)).status_code == 404
    assert (
        await http.get("/api/positions/workload", params={"office_id": str(other)}, headers=boss)
    ).status_code == 403
    after = await pool.fetchval(
        "SELECT count(*) FROM admin_audit WHERE entity = 'position' AND entity_id = $1", theirs["id"]
    )
    assert after == before


async def test_a_person_moved_to_another_office_leaves_their_position(
    http: httpx.AsyncClient, admin: dict[str, str], make_office: OfficeFactory, pool: Pool
) -> None:
    office, other = await make_office(), await make_office()
    member = await _user(pool, office)
    position = await _create(http, admin, office)
    resp = await http.post(
        f"/api/positions/{position['id']}/fill", json={"subject": member, "from": JAN}, headers=admin
    )
    assert resp.json()["holder"]["subject"] == member

    await pool.execute("UPDATE users SET office_id = $2 WHERE subject = $1", member, other)

    now = (await http.get(f"/api/positions/{position['id']}", headers=admin)).json()
    assert now["holder"] is None
    periods = (await http.get(f"/api/positions/{position['id']}/occupancy", headers=admin)).json()
    assert [p["subject"] for p in periods] == [member, None]
    assert periods[0]["to"] is not None
    audit = (await http.get(f"/api/positions/{position['id']}/history", headers=admin)).json()
    assert audit[-1]["action"] == "vacate"
    assert audit[-1]["actor"] == "system:users"


async def test_a_deactivated_person_leaves_every_position_held_or_to_come(
    http: httpx.AsyncClient, admin: dict[str, str], make_office: OfficeFactory, pool: Pool
) -> None:
    office = await make_office()
    member, colleague = await _user(pool, office), await _user(pool, office)
    held, later, theirs = [await _create(http, admin, office) for _ in range(3)]
    half_year, year_ahead = ((datetime.now(UTC) + timedelta(days=d)).isoformat() for d in (180, 365))
    # (a person holds one position of an office at a time: the one held ends before the next begins)
    for position, body in (
        (held, {"subject": member, "from": JAN, "to": half_year}),
        (later, {"subject": member, "from": year_ahead}),
        (theirs, {"subject": colleague, "from": JAN}),
    ):
        filled = await http.post(f"/api/positions/{position['id']}/fill", json=body, headers=admin)
        assert filled.status_code == 200, filled.text

    await pool.execute("UPDATE users SET active = false WHERE subject = $1", member)

    assert (await http.get(f"/api/positions/{held['id']}", headers=admin)).json()["holder"] is None
    periods = (await http.get(f"/api/positions/{held['id']}/occupancy", headers=admin)).json()
    assert periods[0]["subject"] == member
    assert periods[0]["to"] is not None
    occupancy = (await http.get(f"/api/positions/{later['id']}/occupancy", headers=admin)).json()
    assert member not in {p["subject"] for p in occupancy}  # the assignment that had not begun is gone
    audit = (await http.get(f"/api/positions/{held['id']}/history", headers=admin)).json()
    assert (audit[-1]["action"], audit[-1]["actor"], audit[-1]["reason"]) == (
        "vacate",
        "system:users",
        "account deactivated",
    )
    # a colleague keeps theirs; reactivating gives nothing back by itself
    assert (await http.get(f"/api/positions/{theirs['id']}", headers=admin)).json()["holder"]["subject"] == colleague
    await pool.execute("UPDATE users SET active = true WHERE subject = $1", member)
    assert (await http.get(f"/api/positions/{held['id']}", headers=admin)).json()["holder"] is None

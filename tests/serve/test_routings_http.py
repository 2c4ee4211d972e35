"""Routings over HTTP with real tokens: administrators create, change, deactivate and delete rules, each audited;
bad input is 422 with pointers and changes nothing; a second active rule for one key is refused; the explanation
names the winning rule and why the others lost; the gaps report lists the regions no rule covers; staff only ask
the explanation, a token without a role nothing."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeAlias

import asyncpg
import httpx
import pytest
from typer.testing import CliRunner

from kepctl.main import app
from messages.routings import REGIONS
from tests.conftest import OfficeFactory
from tests.helpers import bearer

Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"
ADMIN = "/api/admin/routings"
ATTICA, CRETE = "Αττική", "Κρήτη"


@pytest.fixture
def admin(token_for: Callable[..., str]) -> dict[str, str]:
    return bearer(token_for(uuid.uuid4(), roles=("administrator",), subject=f"admin-{uuid.uuid4().hex[:6]}"))


async def _create(http: httpx.AsyncClient, who: dict[str, str], **body: Any) -> dict[str, Any]:
    resp = await http.post(ADMIN, json={k: str(v) if isinstance(v, uuid.UUID) else v for k, v in body.items()},
                           headers=who)  # fmt: skip
    assert resp.status_code == 201, resp.text
    assert resp.headers["Location"] == f"{ADMIN}/{resp.json()['id']}"
    result: dict[str, Any] = resp.json()
    return result


async def _explain(http: httpx.AsyncClient, who: dict[str, str], **params: Any) -> httpx.Response:
    return await http.get("/api/routings/explain", params={k: str(v) for k, v in params.items()}, headers=who)


async def _audit(pool: Pool, routing_id: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT action, actor, request_id, reason, old, new FROM admin_audit "
        "WHERE entity = 'routing' AND entity_id = $1 ORDER BY id",
        routing_id,
    )


async def test_rules_are_created_changed_and_deleted_with_their_audit(
    http: httpx.AsyncClient, admin: dict[str, str], make_office: OfficeFactory, make_procedure: Any, pool: Pool
) -> None:
    procedure, office, other = await make_procedure(), await make_office(), await make_office()
    # given: a default and a municipality rule, its region written as people write it
    default = await _create(http, admin, procedure_id=procedure, office_id=office, note="όλη η χώρα")
    assert (default["specificity"], default["region"], default["channel"]) == (0, None, None)
    athens = await _create(
        http, admin, procedure_id=procedure, office_id=other, municipality="Αθηναίων", region="ΑΤΤΙΚΗΣ",
        channel="eugo", reason="νέα ΕΚΕ",
    )  # fmt: skip
    assert (athens["region"], athens["specificity"], athens["office_id"]) == (ATTICA, 5, str(other))

    # when: changed, deactivated, reactivated, deleted
    headers = admin | {"X-Request-ID": "req-routing-1"}
    changed = await http.patch(
        f"{ADMIN}/{athens['id']}", json={"channel": None, "reason": "κάθε κανάλι"}, headers=headers
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["channel"], changed.json()["specificity"]) == (None, 4)
    same = await http.patch(f"{ADMIN}/{athens['id']}", json={"channel": None}, headers=admin)
    assert same.status_code == 200
    off = await http.patch(f"{ADMIN}/{athens['id']}", json={"active": False}, headers=admin)
    assert off.json()["active"] is False
    on = await http.patch(f"{ADMIN}/{athens['id']}", json={"active": True}, headers=admin)
    assert on.json()["active"] is True
    listed = await http.get(ADMIN, params={"procedure_id": str(procedure)}, headers=admin)
    assert [r["id"] for r in listed.json()["items"]] == [default["id"], athens["id"]]
    assert listed.json()["total"] == 2
    by_office = await http.get(ADMIN, params={"office_id": str(other), "region": "Attica"}, headers=admin)
    assert [r["id"] for r in by_office.json()["items"]] == [athens["id"]]
    gone = await http.request("DELETE", f"{ADMIN}/{athens['id']}", json={"reason": "λάθος"}, headers=admin)
    assert gone.status_code == 204, gone.text
    assert (await http.get(f"{ADMIN}/{athens['id']}", headers=admin)).status_code == 404

    # then: every change audited with old and new, actor, reason, request id
    rows = await _audit(pool, athens["id"])
    assert [r["action"] for r in rows] == ["create", "change", "deactivate", "activate", "delete"]
    assert (rows[0]["new"]["municipality"], rows[0]["reason"]) == ("Αθηναίων", "νέα ΕΚΕ")
    assert (rows[1]["old"], rows[1]["new"], rows[1]["request_id"]) == ({"channel": "eugo"}, {"channel": None},
                                                                         "req-routing-1")  # fmt: skip
    assert rows[1]["actor"].startswith("admin-")
    assert (rows[4]["old"]["office_id"], rows[4]["new"], rows[4]["reason"]) == (str(other), {}, "λάθος")
    history = await http.get(f"{ADMIN}/{athens['id']}/history", headers=admin)
    assert [h["action"] for h in history.json()] == ["create", "change", "deactivate", "activate", "delete"]


async def test_bad_input_is_422_with_pointers_and_changes_nothing(
    http: httpx.AsyncClient, admin: dict[str, str], make_office: OfficeFactory, make_procedure: Any, pool: Pool
) -> None:
    procedure, office, closed = await make_procedure(), await make_office(), await make_office()
    await pool.execute("UPDATE offices SET active = false WHERE id = $1", closed)
    rule = await _create(http, admin, procedure_id=procedure, office_id=office, region=CRETE)

    async def state() -> tuple[Any, ...]:
        return (
            await pool.fetchval("SELECT count(*) FROM admin_audit WHERE entity = 'routing'"),
            tuple(await pool.fetch("SELECT * FROM routings WHERE procedure_id = $1 ORDER BY id", procedure)),
        )

    before = await state()
    base = {"procedure_id": str(procedure), "office_id": str(office)}
    for body, path, kind in (
        (base | {"procedure_id": str(uuid.uuid4())}, "/procedure_id", "unknown_procedure"),
        (base | {"office_id": str(uuid.uuid4())}, "/office_id", "unknown_office"),
        (base | {"office_id": str(closed)}, "/office_id", "inactive_office"),
        (base | {"municipality": "Αθηναίων"}, "/region", "region_required"),
        (base | {"region": "Βαυαρία"}, "/region", "literal_error"),
        (base | {"channel": "fax"}, "/channel", "enum"),
        (base | {"municipality": "  "}, "/municipality", "string_too_short"),
        (base | {"colour": "red"}, "/colour", "extra_forbidden"),
        # a second active rule for one key: refused, the pointer at its most specific key
        (base | {"region": "κρήτη", "office_id": str(await make_office())}, "/region", "duplicate_rule"),
    ):
        resp = await http.post(ADMIN, json=body, headers=admin)
        assert resp.status_code == 422, (body, resp.text)
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert (path, kind) in [(e["path"], e["type"]) for e in resp.json()["errors"]], (body, resp.text)
    for change, path, kind in (
        ({"office_id": str(closed)}, "/office_id", "inactive_office"),
        ({"office_id": None}, "/office_id", "value_error"),
        ({"municipality": "Χανίων", "region": None}, "/region", "region_required"),
        ({"procedure_id": str(procedure)}, "/procedure_id", "extra_forbidden"),
    ):
        resp = await http.patch(f"{ADMIN}/{rule['id']}", json=change, headers=admin)
        assert resp.status_code == 422, (change, resp.text)
        assert (path, kind) in [(e["path"], e["type"]) for e in resp.json()["errors"]], (change, resp.text)
    assert (await http.patch(f"{ADMIN}/{uuid.uuid4()}", json={"note": "x"}, headers=admin)).status_code == 404
    assert (await http.request("DELETE", f"{ADMIN}/{uuid.uuid4()}", headers=admin)).status_code == 404
    assert await state() == before

    # an inactive rule may wait beside the active one; activating it would tie: refused
    waiting = await _create(http, admin, procedure_id=procedure, office_id=office, region=CRETE, active=False)
    resp = await http.patch(f"{ADMIN}/{waiting['id']}", json={"active": True}, headers=admin)
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["type"] == "duplicate_rule"
    assert rule["id"] in resp.json()["detail"]
    # the table itself refuses the tie, whoever writes
    with pytest.raises(asyncpg.UniqueViolationError):
        await pool.execute(
            "INSERT INTO routings (id, procedure_id, office_id, region) VALUES ($1, $2, $3, $4)",
            uuid.uuid4(), procedure, office, CRETE,
        )  # fmt: skip


async def test_precedence_and_explanation(
    http: httpx.AsyncClient,
    admin: dict[str, str],
    token_for: Callable[..., str],
    make_office: OfficeFactory,
    make_procedure: Any,
) -> None:
    procedure = await make_procedure()
    offices = [await make_office() for _ in range(6)]
    clerk = bearer(token_for(offices[0], roles=("employee",)))
    rules = {
        name: (await _create(http, admin, procedure_id=procedure, office_id=office, **keys))["id"]
        for (name, keys), office in zip(
            {
                "default": {},
                "eugo": {"channel": "eugo"},
                "attica": {"region": ATTICA},
                "attica_eugo": {"region": ATTICA, "channel": "eugo"},
                "athens": {"region": ATTICA, "municipality": "Αθηναίων"},
                "athens_eugo": {"region": ATTICA, "municipality": "Αθηναίων", "channel": "eugo"},
            }.items(),
            offices,
            strict=True,
        )
    }
    for asked, winner in (
        ({"municipality": "ΑΘΗΝΑΙΩΝ", "region": ATTICA, "channel": "eugo"}, "athens_eugo"),
        ({"municipality": "Αθηναίων", "region": ATTICA, "channel": "counter"}, "athens"),
        ({"municipality": "Πειραιώς", "region": ATTICA, "channel": "eugo"}, "attica_eugo"),
        ({"municipality": "Πειραιώς", "region": ATTICA}, "attica"),
        ({"region": CRETE, "channel": "eugo"}, "eugo"),
        ({"region": CRETE}, "default"),
        ({}, "default"),
    ):
        resp = await _explain(http, clerk, procedure_id=procedure, **asked)
        assert resp.status_code == 200, resp.text
        assert resp.json()["rule_id"] == rules[winner], (asked, resp.json()["explanation"])
    got = (await _explain(http, clerk, procedure_id=procedure, municipality="αθηναιων", channel="eugo")).json()
    assert got["office_id"] == str(offices[5])
    assert got["matched"] == ["municipality", "region", "channel"]
    assert got["explanation"].startswith(f"rule {rules['athens_eugo']} for procedure «")
    assert "most specific match" in got["explanation"]
    outcomes = {c["rule_id"]: c["outcome"] for c in got["considered"]}
    assert outcomes[rules["athens_eugo"]] == "matched"
    assert {outcomes[rules[n]] for n in ("athens", "attica_eugo", "attica", "eugo", "default")} == {"less_specific"}

    # the most specific rule's office closes: the next one answers, and says why
    await http.patch(f"{ADMIN}/{rules['athens_eugo']}", json={"active": False}, headers=admin)
    got = (await _explain(http, clerk, procedure_id=procedure, municipality="Αθηναίων", region=ATTICA,
                          channel="eugo")).json()  # fmt: skip
    assert got["rule_id"] == rules["athens"]
    assert {c["rule_id"]: c["outcome"] for c in got["considered"]}[rules["athens_eugo"]] == "inactive_rule"

    # no rule: 409, not a guess
    lonely = await make_procedure()
    resp = await _explain(http, clerk, procedure_id=lonely, region=CRETE)
    assert resp.status_code == 409
    assert resp.json()["title"] == "No competent office"
    assert "no default" in resp.json()["detail"]
    bad = await _explain(http, clerk, procedure_id=procedure, region="Atlantis", channel="fax")
    assert bad.status_code == 422
    assert {e["path"] for e in bad.json()["errors"]} == {"/region", "/channel"}


async def test_gaps_report_the_regions_no_rule_covers(
    http: httpx.AsyncClient, admin: dict[str, str], make_office: OfficeFactory, make_procedure: Any, pool: Pool
) -> None:
    covered, partly, bare = await make_procedure(), await make_procedure(), await make_procedure()
    office, closed = await make_office(), await make_office()
    await pool.execute("UPDATE offices SET active = false WHERE id = $1", closed)
    await _create(http, admin, procedure_id=covered, office_id=office)  # the default covers every region
    await _create(http, admin, procedure_id=partly, office_id=office, region=ATTICA)
    await _create(http, admin, procedure_id=partly, office_id=office, region=CRETE, channel="eugo")
    await _create(http, admin, procedure_id=partly, office_id=office, region="Θεσσαλία", municipality="Λαρισαίων")
    await pool.execute(
        "INSERT INTO routings (id, procedure_id, office_id, region) VALUES ($1, $2, $3, 'Ήπειρος')",
        uuid.uuid4(), partly, closed,
    )  # fmt: skip
    await pool.execute("UPDATE procedures SET eugo = true WHERE id = $1", bare)

    async def gaps(procedure: uuid.UUID, **params: Any) -> list[str]:
        resp = await http.get(f"{ADMIN}/gaps", params={"procedure_id": str(procedure), **params}, headers=admin)
        assert resp.status_code == 200, resp.text
        assert resp.json()["total"] == len(resp.json()["items"])
        return [g["region"] for g in resp.json()["items"]]

    assert await gaps(covered) == []
    # a municipality's rule covers only its municipality, a rule of an inactive office nothing
    assert await gaps(partly) == [r for r in REGIONS if r != ATTICA]
    assert await gaps(partly, channel="eugo") == [r for r in REGIONS if r not in (ATTICA, CRETE)]
    assert await gaps(bare) == list(REGIONS)
    assert await gaps(bare, eugo="true", region="κρητη") == [CRETE]
    assert await gaps(partly, eugo="true") == []
    page = await http.get(f"{ADMIN}/gaps", params={"procedure_id": str(bare), "size": 5, "page": 3}, headers=admin)
    assert [g["region"] for g in page.json()["items"]] == list(REGIONS[10:])
    assert (page.json()["items"][0]["procedure_id"], page.json()["items"][0]["eugo"]) == (str(bare), True)


async def test_staff_ask_the_explanation_and_change_nothing(
    http: httpx.AsyncClient,
    admin: dict[str, str],
    token_for: Callable[..., str],
    make_office: OfficeFactory,
    make_procedure: Any,
    pool: Pool,
) -> None:
    procedure, office = await make_procedure(), await make_office()
    rule = await _create(http, admin, procedure_id=procedure, office_id=office)
    before = await _audit(pool, rule["id"])
    nobody = bearer(token_for(office, roles=()))
    for who in (bearer(token_for(office, roles=("employee",))), bearer(token_for(office, roles=("supervisor",)))):
        assert (await _explain(http, who, procedure_id=procedure)).status_code == 200
        for method, path, body in (
            ("GET", "", None),
            ("GET", "/gaps", None),
            ("POST", "", {"procedure_id": str(procedure), "office_id": str(office), "region": CRETE}),
            ("GET", f"/{rule['id']}", None),
            ("GET", f"/{rule['id']}/history", None),
            ("PATCH", f"/{rule['id']}", {"active": False}),
            ("DELETE", f"/{rule['id']}", None),
        ):
            resp = await http.request(method, f"{ADMIN}{path}", json=body, headers=who)
            assert resp.status_code == 403, (method, path, resp.text)
    assert (await _explain(http, nobody, procedure_id=procedure)).status_code == 403
    assert (await http.get(ADMIN, headers=nobody)).status_code == 403
    assert (await _explain(http, {}, procedure_id=procedure)).status_code == 401
    assert await _audit(pool, rule["id"]) == before


@pytest.fixture
def _restore_environment() -> Iterator[None]:
    """The CLI fills in KEP_* defaults for the local stack; keep them out of the other tests."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.mark.usefixtures("_restore_environment")
async def test_the_cli_lists_the_gaps(database_url: str, make_procedure: Any, pool: Pool) -> None:
    procedure = await make_procedure()
    mitos_id = await pool.fetchval("SELECT mitos_id FROM procedures WHERE id = $1", procedure)
    os.environ["KEP_DATABASE_URL"] = database_url
    cli = ["routings", "gaps", "--procedure", str(procedure)]
    result = await asyncio.to_thread(CliRunner().invoke, app, [*cli, "--region", "ΚΡΗΤΗΣ"])
    assert result.exit_code == 0, result.output
    assert f"{mitos_id}\t{CRETE}\t" in result.output
    assert "1 (procedure, region) pairs without a competent office" in result.output
    refused = await asyncio.to_thread(CliRunner().invoke, app, [*cli, "--region", "Atlantis"])
    assert refused.exit_code == 2

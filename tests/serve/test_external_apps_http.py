"""External applications over HTTP against the real Keycloak: registering one creates its OIDC client (redirect URIs
under its URL, standard flow with PKCE only, the office mapper), a change updates it, deactivation disables it;
`/api/me/apps` by role and office; Keycloak refusing a client leaves no row and no client; employees 403 on
management, supervisors read only their own office's list."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeAlias

import asyncpg
import httpx
import pytest

from kepctl.stack import StackSettings
from tests.conftest import OfficeFactory
from tests.helpers import bearer
from tests.keycloak import KeycloakUsers

Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"
SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><circle cx="4" cy="4" r="3"/></svg>'


class Clients:
    """Keycloak's admin API for reading back the clients the tests register, and deleting them afterwards."""

    def __init__(self, kc: KeycloakUsers) -> None:
        self.kc = kc
        self.made: set[str] = set()

    def name(self) -> str:
        client_id = f"t-app-{uuid.uuid4().hex[:10]}"
        self.made.add(client_id)
        return client_id

    async def find(self, client_id: str) -> dict[str, Any] | None:
        found = (await self.kc.admin("GET", f"/clients?clientId={client_id}")).json()
        return found[0] if found else None

    async def get(self, client_id: str) -> dict[str, Any]:
        client = await self.find(client_id)
        assert client is not None, client_id
        return client

    async def default_scopes(self, client_id: str) -> set[str]:
        client = await self.get(client_id)
        return {
            s["name"] for s in (await self.kc.admin("GET", f"/clients/{client['id']}/default-client-scopes")).json()
        }


@pytest.fixture
async def clients(stack: StackSettings) -> AsyncIterator[Clients]:
    async with KeycloakUsers(stack) as kc:
        made = Clients(kc)
        try:
            yield made
        finally:
            for client_id in made.made:
                if (client := await made.find(client_id)) is not None:
                    await kc.admin("DELETE", f"/clients/{client['id']}")


@pytest.fixture
def admin(token_for: Callable[..., str]) -> dict[str, str]:
    return bearer(token_for(uuid.uuid4(), roles=("administrator",)))


async def _register(http: httpx.AsyncClient, admin: dict[str, str], **body: Any) -> dict[str, Any]:
    resp = await http.post("/api/admin/apps", json=body, headers=admin)
    assert resp.status_code == 201, resp.text
    assert resp.headers["Location"] == f"/api/admin/apps/{resp.json()['id']}"
    result: dict[str, Any] = resp.json()
    return result


async def test_registering_creates_the_client_a_change_updates_it_deactivation_disables_it(
    http: httpx.AsyncClient, admin: dict[str, str], clients: Clients
) -> None:
    client_id = clients.name()
    app = await _register(
        http,
        admin,
        client_id=client_id,
        name="Helpdesk",
        url="https://helpdesk.kep.example.gr/",
        description="Αιτήματα υποστήριξης",
        icon=SVG,
        roles=["employee", "supervisor"],
        scopes=["profile", "email"],
    )
    assert app["active"] is True
    assert app["icon"] == SVG
    assert app["office_ids"] == []
    client = await clients.get(client_id)
    assert client["enabled"] is True
    assert set(client["redirectUris"]) == {"https://helpdesk.kep.example.gr", "https://helpdesk.kep.example.gr/*"}
    assert client["webOrigins"] == ["https://helpdesk.kep.example.gr"]
    assert client["standardFlowEnabled"] is True
    assert client["implicitFlowEnabled"] is False
    assert client["directAccessGrantsEnabled"] is False
    assert client["serviceAccountsEnabled"] is False
    assert client["attributes"]["pkce.code.challenge.method"] == "S256"
    mappers = {m["name"]: m for m in client["protocolMappers"]}
    assert mappers["kep_office"]["protocolMapper"] == "oidc-usermodel-attribute-mapper"
    assert mappers["kep_office"]["config"]["user.attribute"] == "kep_office"
    assert mappers["kep_office"]["config"]["claim.name"] == "kep_office"
    assert mappers["kep_office"]["config"]["access.token.claim"] == "true"
    assert {"profile", "email"} <= await clients.default_scopes(client_id)

    resp = await http.patch(
        f"/api/admin/apps/{app['id']}",
        json={"url": "https://support.kep.example.gr", "name": "Υποστήριξη", "scopes": ["profile"]},
        headers=admin,
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["url"] == "https://support.kep.example.gr"
    client = await clients.get(client_id)
    assert set(client["redirectUris"]) == {"https://support.kep.example.gr", "https://support.kep.example.gr/*"}
    assert client["name"] == "Υποστήριξη"
    scopes = await clients.default_scopes(client_id)
    assert "profile" in scopes
    assert "email" not in scopes

    resp = await http.patch(f"/api/admin/apps/{app['id']}", json={"active": False}, headers=admin)
    assert resp.status_code == 200, resp.text
    assert resp.json()["active"] is False
    assert (await clients.get(client_id))["enabled"] is False
    # the mapper survives the updates
    assert "kep_office" in {m["name"] for m in (await clients.get(client_id))["protocolMappers"]}

    audit = (await http.get(f"/api/admin/apps/{app['id']}/audit", headers=admin)).json()
    assert [a["action"] for a in audit] == ["create", "update", "deactivate"]
    assert audit[2]["old"] == {"active": True}
    assert audit[2]["new"] == {"active": False}
    assert (await http.get(f"/api/admin/apps/{app['id']}", headers=admin)).json()["active"] is False


async def test_me_apps_by_role_and_office(
    http: httpx.AsyncClient,
    admin: dict[str, str],
    clients: Clients,
    make_office: OfficeFactory,
    token_for: Callable[..., str],
) -> None:
    here, there = await make_office(), await make_office()
    url = "https://apps.kep.example.gr/"
    everyone = await _register(http, admin, client_id=clients.name(), name="A everyone", url=url + "a")
    supervisors = await _register(
        http, admin, client_id=clients.name(), name="B supervisors", url=url + "b", roles=["supervisor"]
    )
    only_here = await _register(
        http,
        admin,
        client_id=clients.name(),
        name="C here",
        url=url + "c",
        office_ids=[str(here), str(await make_office())],
    )
    inactive = await _register(http, admin, client_id=clients.name(), name="D off", url=url + "d", active=False)
    assert (await clients.get(inactive["client_id"]))["enabled"] is False
    ours = {a["id"] for a in (everyone, supervisors, only_here, inactive)}

    async def seen(office: uuid.UUID, *roles: str) -> list[str]:
        resp = await http.get("/api/me/apps", headers=bearer(token_for(office, roles=roles)))
        assert resp.status_code == 200, resp.text
        return [a["name"] for a in resp.json() if a["id"] in ours]

    assert await seen(here, "employee") == ["A everyone", "C here"]
    assert await seen(there, "employee") == ["A everyone"]
    assert await seen(there, "employee", "supervisor") == ["A everyone", "B supervisors"]
    assert await seen(here, "supervisor") == ["A everyone", "B supervisors", "C here"]

    # supervisors read their own office's list (every role's, inactive ones too), not another's
    supervisor = bearer(token_for(there, roles=("supervisor",)))
    resp = await http.get(f"/api/offices/{there}/apps", headers=supervisor, params={"size": 100})
    assert resp.status_code == 200, resp.text
    listed = {a["id"] for a in resp.json()["items"]}
    assert {everyone["id"], supervisors["id"], inactive["id"]} <= listed
    assert only_here["id"] not in listed
    assert (await http.get(f"/api/offices/{here}/apps", headers=supervisor)).status_code == 403
    resp = await http.get("/api/admin/apps", headers=admin, params={"office_id": str(here), "size": 100})
    assert only_here["id"] in {a["id"] for a in resp.json()["items"]}


async def test_a_refusal_leaves_no_row_and_no_client(
    http: httpx.AsyncClient, admin: dict[str, str], clients: Clients, pool: Pool
) -> None:
    # Keycloak already has a client `kep-cli` (the realm's): it refuses, and nothing is written here
    before = await clients.get("kep-cli")
    resp = await http.post(
        "/api/admin/apps", json={"client_id": "kep-cli", "name": "X", "url": "https://x.example.gr"}, headers=admin
    )
    assert resp.status_code == 422, resp.text
    assert [(e["path"], e["type"]) for e in resp.json()["errors"]] == [("/client_id", "duplicate")]
    assert await pool.fetchval("SELECT count(*) FROM external_apps WHERE client_id = 'kep-cli'") == 0
    assert await clients.get("kep-cli") == before

    # a client id registered here already: 422 before Keycloak is asked, and its client is untouched
    client_id = clients.name()
    await _register(http, admin, client_id=client_id, name="First", url="https://first.example.gr")
    resp = await http.post(
        "/api/admin/apps",
        json={"client_id": client_id, "name": "Second", "url": "https://second.example.gr"},
        headers=admin,
    )
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["path"] == "/client_id"
    assert (await clients.get(client_id))["name"] == "First"

    # bad input: pointers, no row, no client
    bad = clients.name()
    for body, pointer in (
        ({"url": "ftp://x.example.gr"}, "/url"),
        ({"icon": '<svg onload="alert(1)"></svg>'}, "/icon"),
        ({"office_ids": [str(uuid.uuid4())]}, "/office_ids"),
        ({"scopes": ["offline_access"]}, "/scopes/0"),
        ({"roles": ["system"]}, "/roles/0"),
    ):
        resp = await http.post(
            "/api/admin/apps",
            json={"client_id": bad, "name": "Bad", "url": "https://bad.example.gr"} | body,
            headers=admin,
        )
        assert resp.status_code == 422, (body, resp.text)
        assert [e["path"] for e in resp.json()["errors"]] == [pointer], body
    assert await pool.fetchval("SELECT count(*) FROM external_apps WHERE client_id = $1", bad) == 0
    assert await clients.find(bad) is None

    # a change of an unknown application is 404, and null for a required field 422
    resp = await http.patch(f"/api/admin/apps/{uuid.uuid4()}", json={"name": "X"}, headers=admin)
    assert resp.status_code == 404


async def test_employees_and_supervisors_may_not_manage(
    http: httpx.AsyncClient,
    admin: dict[str, str],
    clients: Clients,
    make_office: OfficeFactory,
    token_for: Callable[..., str],
    pool: Pool,
) -> None:
    office = await make_office()
    app = await _register(http, admin, client_id=clients.name(), name="Forum", url="https://forum.example.gr")
    for roles in (("employee",), ("supervisor",)):
        staff = bearer(token_for(office, roles=roles))
        name = clients.name()
        body = {"client_id": name, "name": "X", "url": "https://x.example.gr"}
        assert (await http.post("/api/admin/apps", json=body, headers=staff)).status_code == 403
        assert await clients.find(name) is None
        resp = await http.patch(f"/api/admin/apps/{app['id']}", json={"active": False}, headers=staff)
        assert resp.status_code == 403
        assert (await http.get("/api/admin/apps", headers=staff)).status_code == 403
        assert (await http.get(f"/api/admin/apps/{app['id']}/audit", headers=staff)).status_code == 403
    employee = bearer(token_for(office, roles=("employee",)))
    assert (await http.get(f"/api/offices/{office}/apps", headers=employee)).status_code == 403
    assert await pool.fetchval("SELECT active FROM external_apps WHERE id = $1", uuid.UUID(app["id"])) is True
    assert (await clients.get(app["client_id"]))["enabled"] is True

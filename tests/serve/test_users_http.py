"""People over HTTP against the real Keycloak: an account created through the API is a Keycloak user (username,
names, e-mail, enabled, the office attribute, our realm roles) whose id is the row's subject; changes, moves,
deactivation and reactivation follow it there, each audited. A deactivated person's still-valid token is refused
at once and Keycloak gives them no new one. Bad input, a username or e-mail address taken (here or only in
Keycloak), Keycloak unreachable: nothing written in either place. Staff see only their own office's people and
change nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeAlias

import asyncpg
import httpx
import pytest

from actors.users import store
from actors.users.keycloak import KeycloakAccounts
from infra.settings import Settings
from kepctl.stack import StackSettings
from messages.errors import RetryableError
from messages.users import UserNew
from tests.conftest import OfficeFactory
from tests.helpers import bearer
from tests.keycloak import KeycloakError, KeycloakUsers

Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"
PASSWORD = "Kep-test-password-1"  # a test user's, set in the test


class Realm:
    """Keycloak's admin API (master realm's admin) to read back what the API made, and to delete it afterwards:
    the API's users outlive the session's database."""

    def __init__(self, kc: KeycloakUsers) -> None:
        self.kc = kc
        self.made: set[str] = set()

    def username(self) -> str:
        name = f"t-user-{uuid.uuid4().hex[:10]}"
        self.made.add(name)
        return name

    async def find(self, username: str) -> dict[str, Any] | None:
        found = (await self.kc.admin("GET", f"/users?username={username}&exact=true")).json()
        return found[0] if found else None

    async def get(self, username: str) -> dict[str, Any]:
        user = await self.find(username)
        assert user is not None, username
        return user

    async def roles(self, kc_id: str) -> set[str]:
        mapped = (await self.kc.admin("GET", f"/users/{kc_id}/role-mappings/realm")).json()
        return {r["name"] for r in mapped} & {"employee", "supervisor", "administrator"}

    async def make(self, username: str, email: str | None = None) -> str:
        """A Keycloak user that the API does not know (another system's, or left by hand)."""
        resp = await self.kc.admin("POST", "/users", {"username": username, "email": email, "enabled": True})
        return str(resp.headers["Location"].rsplit("/", 1)[1])


@pytest.fixture
async def realm(stack: StackSettings) -> AsyncIterator[Realm]:
    async with KeycloakUsers(stack) as kc:
        made = Realm(kc)
        try:
            yield made
        finally:
            for username in made.made:
                if (user := await made.find(username)) is not None:
                    await kc.admin("DELETE", f"/users/{user['id']}")


@pytest.fixture
def admin(token_for: Callable[..., str]) -> dict[str, str]:
    return bearer(token_for(uuid.uuid4(), roles=("administrator",)))


def _body(realm: Realm, office: uuid.UUID, **body: Any) -> dict[str, Any]:
    username = realm.username()
    return {
        "username": username,
        "given_name": "Μαρία",
        "family_name": "Παπαδοπούλου",
        "email": f"{username}@kep.example.gr",
        "office_id": str(office),
        "roles": ["employee"],
    } | body


async def _create(http: httpx.AsyncClient, admin: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    resp = await http.post("/api/admin/users", json=body, headers=admin)
    assert resp.status_code == 201, resp.text
    assert resp.headers["Location"] == f"/api/admin/users/{resp.json()['id']}"
    created: dict[str, Any] = resp.json()
    return created


async def _sign_in(realm: Realm, username: str) -> dict[str, Any]:
    """A password for the user (an administrator's doing in Keycloak) and a password grant: Keycloak's answer."""
    user = await realm.get(username)
    await realm.kc.admin(
        "PUT", f"/users/{user['id']}/reset-password", {"type": "password", "value": PASSWORD, "temporary": False}
    )
    return dict(await realm.kc.password_grant(username, PASSWORD))


async def test_an_account_is_made_changed_and_audited_in_keycloak_too(
    http: httpx.AsyncClient, admin: dict[str, str], realm: Realm, make_office: OfficeFactory, pool: Pool
) -> None:
    # given
    office = await make_office()
    body = _body(realm, office, email="Maria.P@KEP.example.gr", reason="new hire")
    username = body["username"]
    body["username"] = username.upper()  # Keycloak keeps usernames in lower case: so does the API
    # when
    user = await _create(http, admin, body)
    # then
    assert user["username"] == username
    assert user["email"] == "maria.p@kep.example.gr"
    assert user["display_name"] == "Μαρία Παπαδοπούλου"
    assert user["active"] is True
    kc_user = await realm.get(username)
    assert user["id"] == user["subject"] == kc_user["id"]
    assert kc_user["enabled"] is True
    assert (kc_user["firstName"], kc_user["lastName"]) == ("Μαρία", "Παπαδοπούλου")
    assert kc_user["email"] == "maria.p@kep.example.gr"
    assert kc_user["attributes"]["kep_office"] == [str(office)]
    assert kc_user["requiredActions"] == ["UPDATE_PASSWORD"]
    assert await realm.roles(kc_user["id"]) == {"employee"}

    resp = await http.patch(
        f"/api/admin/users/{user['id']}",
        json={"family_name": "Νικολάου", "roles": ["employee", "supervisor"], "email": None, "reason": "promoted"},
        headers=admin,
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["display_name"] == "Μαρία Νικολάου"
    assert resp.json()["email"] is None
    assert sorted(resp.json()["roles"]) == ["employee", "supervisor"]
    kc_user = await realm.get(username)
    assert kc_user["lastName"] == "Νικολάου"
    assert "email" not in kc_user
    assert kc_user["attributes"]["kep_office"] == [str(office)]  # the office survives a change of the rest
    assert await realm.roles(kc_user["id"]) == {"employee", "supervisor"}
    # the same values again write nothing
    resp = await http.patch(f"/api/admin/users/{user['id']}", json={"family_name": "Νικολάου"}, headers=admin)
    assert resp.status_code == 200, resp.text

    history = (await http.get(f"/api/admin/users/{user['id']}/history", headers=admin)).json()
    assert [h["action"] for h in history] == ["create", "change"]
    assert history[0]["old"] == {}
    assert history[0]["new"]["username"] == username
    assert history[0]["new"]["office_id"] == str(office)
    assert history[0]["reason"] == "new hire"
    assert history[1]["old"] == {
        "family_name": "Παπαδοπούλου",
        "email": "maria.p@kep.example.gr",
        "roles": ["employee"],
    }
    assert history[1]["new"] == {"family_name": "Νικολάου", "email": None, "roles": ["employee", "supervisor"]}
    assert history[1]["reason"] == "promoted"
    assert history[1]["request_id"]
    assert history[1]["actor"] != user["subject"]
    got = await http.get(f"/api/admin/users/{user['id']}", headers=admin)
    assert got.status_code == 200
    assert got.json() == resp.json()


async def test_a_deactivated_users_still_valid_token_is_refused_and_keycloak_ends_their_sessions(
    http: httpx.AsyncClient, admin: dict[str, str], realm: Realm, make_office: OfficeFactory
) -> None:
    # given: a person made through the API signs in to Keycloak and is served
    office = await make_office()
    user = await _create(http, admin, _body(realm, office))
    signed_in = await _sign_in(realm, user["username"])
    theirs = bearer(signed_in["access_token"])
    resp = await http.get("/api/users", headers=theirs)
    assert resp.status_code == 200, resp.text
    assert [u["id"] for u in resp.json()["items"]] == [user["id"]]
    assert len((await realm.kc.admin("GET", f"/users/{user['subject']}/sessions")).json()) == 1
    # when: an administrator deactivates them, their token still minutes from expiring
    resp = await http.post(f"/api/admin/users/{user['id']}/deactivate", json={"reason": "left"}, headers=admin)
    assert resp.status_code == 200, resp.text
    assert resp.json()["active"] is False
    assert resp.json()["deactivated_at"] is not None
    # then: the API refuses the same token at once (this replica dropped its confirmation; no waiting on the TTL)
    resp = await http.get("/api/users", headers=theirs)
    assert resp.status_code == 403, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert "deactivated" in resp.json()["detail"]
    # and Keycloak: disabled, the session gone (no refresh), no new token
    assert (await realm.get(user["username"]))["enabled"] is False
    assert (await realm.kc.admin("GET", f"/users/{user['subject']}/sessions")).json() == []
    async with httpx.AsyncClient() as client:
        refreshed = await client.post(
            realm.kc.stack.oidc_token_url,
            data={"grant_type": "refresh_token", "client_id": "kep-cli", "refresh_token": signed_in["refresh_token"]},
        )
    assert refreshed.status_code == 400, refreshed.text
    with pytest.raises(KeycloakError):
        await realm.kc.password_grant(user["username"], PASSWORD)

    # reactivated: a new sign-in is served again
    resp = await http.post(f"/api/admin/users/{user['id']}/reactivate", headers=admin)
    assert resp.status_code == 200, resp.text
    assert resp.json()["deactivated_at"] is None
    again = await realm.kc.password_grant(user["username"], PASSWORD)
    assert (await http.get("/api/users", headers=bearer(again["access_token"]))).status_code == 200
    history = (await http.get(f"/api/admin/users/{user['id']}/history", headers=admin)).json()
    assert [(h["action"], h["old"], h["new"]) for h in history[1:]] == [
        ("deactivate", {"active": True}, {"active": False}),
        ("reactivate", {"active": False}, {"active": True}),
    ]
    assert history[1]["reason"] == "left"


async def test_a_move_carries_the_office_to_keycloak_and_refuses_tokens_naming_the_old_one(
    http: httpx.AsyncClient, admin: dict[str, str], realm: Realm, make_office: OfficeFactory
) -> None:
    before, after = await make_office(), await make_office()
    user = await _create(http, admin, _body(realm, before))
    theirs = bearer((await _sign_in(realm, user["username"]))["access_token"])
    assert (await http.get("/api/users", headers=theirs)).status_code == 200

    resp = await http.post(
        f"/api/admin/users/{user['id']}/move", json={"office_id": str(after), "reason": "transfer"}, headers=admin
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["office_id"] == str(after)
    assert (await realm.get(user["username"]))["attributes"]["kep_office"] == [str(after)]
    resp = await http.get("/api/users", headers=theirs)
    assert resp.status_code == 403, resp.text
    assert "another office" in resp.json()["detail"]
    # a new token names the new office, and is served there
    fresh = bearer((await realm.kc.password_grant(user["username"], PASSWORD))["access_token"])
    resp = await http.get("/api/users", headers=fresh)
    assert resp.status_code == 200, resp.text
    assert {u["office_id"] for u in resp.json()["items"]} == {str(after)}

    history = (await http.get(f"/api/admin/users/{user['id']}/history", headers=admin)).json()
    assert history[-1]["action"] == "move"
    assert history[-1]["old"] == {"office_id": str(before)}
    assert history[-1]["new"] == {"office_id": str(after)}
    assert history[-1]["reason"] == "transfer"
    # an office that does not exist, or is inactive: 422, nothing moved
    closed = await make_office()
    await _deactivate_office(http, admin, closed)
    for office, kind in ((uuid.uuid4(), "unknown_office"), (closed, "inactive_office")):
        resp = await http.post(f"/api/admin/users/{user['id']}/move", json={"office_id": str(office)}, headers=admin)
        assert resp.status_code == 422, resp.text
        assert resp.json()["errors"] == [{"path": "/office_id", "message": resp.json()["detail"], "type": kind}]
    assert (await realm.get(user["username"]))["attributes"]["kep_office"] == [str(after)]


async def test_a_role_taken_away_is_refused_at_once_and_a_role_given_is_in_the_next_token(
    http: httpx.AsyncClient, admin: dict[str, str], realm: Realm, make_office: OfficeFactory
) -> None:
    office = await make_office()
    user = await _create(http, admin, _body(realm, office, roles=["employee", "supervisor"]))
    theirs = bearer((await _sign_in(realm, user["username"]))["access_token"])
    assert (await http.get("/api/incidents", headers=theirs)).status_code == 200  # a supervisor's list

    resp = await http.patch(f"/api/admin/users/{user['id']}", json={"roles": ["employee"]}, headers=admin)
    assert resp.status_code == 200, resp.text
    # the token still claims `supervisor`: refused everywhere, not only where a supervisor is needed
    for path in ("/api/incidents", "/api/users"):
        refused = await http.get(path, headers=theirs)
        assert refused.status_code == 403, refused.text
        assert "supervisor" in refused.json()["detail"]
    fresh = bearer((await realm.kc.password_grant(user["username"], PASSWORD))["access_token"])
    assert (await http.get("/api/users", headers=fresh)).status_code == 200
    assert (await http.get("/api/incidents", headers=fresh)).status_code == 403  # an employee now

    # a role given: the old token (without it) is still served as what it claims; the next one has it
    resp = await http.patch(f"/api/admin/users/{user['id']}", json={"roles": ["employee", "supervisor"]},
                            headers=admin)  # fmt: skip
    assert resp.status_code == 200, resp.text
    assert (await http.get("/api/users", headers=fresh)).status_code == 200
    newest = bearer((await realm.kc.password_grant(user["username"], PASSWORD))["access_token"])
    assert (await http.get("/api/incidents", headers=newest)).status_code == 200


async def _deactivate_office(http: httpx.AsyncClient, admin: dict[str, str], office: uuid.UUID) -> None:
    resp = await http.post(f"/api/admin/offices/{office}/deactivate", json={}, headers=admin)
    assert resp.status_code == 200, resp.text


BAD = [
    ({"email": "not-an-address"}, "/email"),
    ({"username": "a b"}, "/username"),
    ({"username": "x"}, "/username"),
    ({"given_name": "<script>"}, "/given_name"),
    ({"family_name": ""}, "/family_name"),
    ({"roles": []}, "/roles"),
    ({"roles": ["root"]}, "/roles/0"),
    ({"office_id": "nope"}, "/office_id"),
    ({"office_id": str(uuid.uuid4())}, "/office_id"),
    ({"password": "secret"}, "/password"),
]


@pytest.mark.parametrize(("change", "pointer"), BAD)
async def test_bad_input_is_422_with_its_pointer_and_nothing_is_made_anywhere(
    http: httpx.AsyncClient,
    admin: dict[str, str],
    realm: Realm,
    make_office: OfficeFactory,
    pool: Pool,
    change: dict[str, Any],
    pointer: str,
) -> None:
    body = _body(realm, await make_office(), **change)
    resp = await http.post("/api/admin/users", json=body, headers=admin)
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert pointer in [e["path"] for e in resp.json()["errors"]], resp.json()
    for username in realm.made:
        assert await realm.find(username) is None
        assert await pool.fetchval("SELECT count(*) FROM users WHERE username = $1", username) == 0


async def test_a_username_or_address_taken_is_refused_leaving_nothing_behind(
    http: httpx.AsyncClient, admin: dict[str, str], realm: Realm, make_office: OfficeFactory, pool: Pool
) -> None:
    office = await make_office()
    first = await _create(http, admin, _body(realm, office))
    # taken here: refused before Keycloak is asked
    again = _body(realm, office, username=first["username"])
    resp = await http.post("/api/admin/users", json=again, headers=admin)
    assert resp.status_code == 422, resp.text
    assert [e["path"] for e in resp.json()["errors"]] == ["/username"]
    # taken only in Keycloak (a user the API never made): Keycloak's 409, nothing left in either place
    foreign = realm.username()
    foreign_id = await realm.make(foreign, email=f"{foreign}@elsewhere.example.gr")
    resp = await http.post("/api/admin/users", json=_body(realm, office, username=foreign), headers=admin)
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["path"] == "/username"
    assert resp.json()["errors"][0]["type"] == "duplicate"
    assert (await realm.get(foreign))["id"] == foreign_id
    assert await pool.fetchval("SELECT count(*) FROM users WHERE username = $1", foreign) == 0
    # an address Keycloak has for someone else: 422 at /email, the new username made nowhere
    taken = _body(realm, office, email=f"{foreign}@elsewhere.example.gr")
    resp = await http.post("/api/admin/users", json=taken, headers=admin)
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["path"] == "/email"
    assert await realm.find(taken["username"]) is None
    assert await pool.fetchval("SELECT count(*) FROM users WHERE username = $1", taken["username"]) == 0
    # a change that Keycloak refuses (the same address) rolls the row and its audit back
    resp = await http.patch(
        f"/api/admin/users/{first['id']}", json={"email": f"{foreign}@elsewhere.example.gr"}, headers=admin
    )
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["path"] == "/email"
    row = await pool.fetchrow("SELECT email, updated_at FROM users WHERE id = $1", uuid.UUID(first["id"]))
    assert row is not None
    assert row["email"] == first["email"]
    assert (await realm.get(first["username"]))["email"] == first["email"]
    history = (await http.get(f"/api/admin/users/{first['id']}/history", headers=admin)).json()
    assert [h["action"] for h in history] == ["create"]


async def test_keycloak_unreachable_writes_nothing(
    settings: Settings, pool: Pool, make_office: OfficeFactory, realm: Realm
) -> None:
    away = KeycloakAccounts(settings.model_copy(update={"keycloak_admin_url": "http://127.0.0.1:9"}))
    new = UserNew.model_validate(_body(realm, await make_office()))
    try:
        async with pool.acquire() as conn:
            with pytest.raises(RetryableError):
                await store.create(conn=conn, keycloak=away, new=new, actor="test", request_id=None)
    finally:
        await away.aclose()
    assert await pool.fetchval("SELECT count(*) FROM users WHERE username = $1", new.username) == 0
    assert await pool.fetchval("SELECT count(*) FROM admin_audit WHERE entity = 'user' AND new->>'username' = $1",
                               new.username) == 0  # fmt: skip


async def test_filters_and_pages(
    http: httpx.AsyncClient, admin: dict[str, str], make_office: OfficeFactory, pool: Pool
) -> None:
    # rows only: reading needs no Keycloak user
    office, other = await make_office(), await make_office()
    tag = uuid.uuid4().hex[:6]
    people = [
        (office, f"a-{tag}-1", "Αλέξανδρος Ζαχαρίου", ["employee"], True),
        (office, f"a-{tag}-2", "Βασιλική Ψαρρού", ["employee", "supervisor"], True),
        (office, f"a-{tag}-3", "Γεώργιος Ωραιόπουλος", ["employee"], False),
        (other, f"a-{tag}-4", "Δέσποινα Ζαχαρίου", ["employee"], True),
    ]
    for office_id, username, name, roles, active in people:
        given, family = name.split()
        await pool.execute(
            """INSERT INTO users (id, subject, username, display_name, given_name, family_name, office_id, roles,
                                  active) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
            (row_id := uuid.uuid4()), str(row_id), username, name, given, family, office_id, roles, active,
        )  # fmt: skip

    async def names(**query: Any) -> tuple[list[str], int]:
        resp = await http.get("/api/admin/users", params=query, headers=admin)
        assert resp.status_code == 200, resp.text
        return [u["display_name"] for u in resp.json()["items"]], resp.json()["total"]

    assert await names(office_id=str(office)) == (
        ["Αλέξανδρος Ζαχαρίου", "Βασιλική Ψαρρού", "Γεώργιος Ωραιόπουλος"],
        3,
    )
    assert await names(office_id=str(office), active="true") == (["Αλέξανδρος Ζαχαρίου", "Βασιλική Ψαρρού"], 2)
    assert await names(office_id=str(office), role="supervisor") == (["Βασιλική Ψαρρού"], 1)
    # every word, case and accents aside
    assert await names(q=f"ζαχαριου {tag}") == (["Αλέξανδρος Ζαχαρίου", "Δέσποινα Ζαχαρίου"], 2)
    assert await names(q=f"A-{tag}-3") == (["Γεώργιος Ωραιόπουλος"], 1)
    assert await names(office_id=str(office), size=2, page=2) == (["Γεώργιος Ωραιόπουλος"], 3)
    assert await names(office_id=str(office), size=2, page=3) == ([], 3)
    for bad, pointer in (({"size": 0}, "/size"), ({"role": "root"}, "/role"), ({"page": 0}, "/page")):
        resp = await http.get("/api/admin/users", params=bad, headers=admin)
        assert resp.status_code == 422, resp.text
        assert resp.json()["errors"][0]["path"] == pointer


async def test_staff_see_their_own_office_and_change_nothing(
    http: httpx.AsyncClient,
    admin: dict[str, str],
    realm: Realm,
    make_office: OfficeFactory,
    token_for: Callable[..., str],
    pool: Pool,
) -> None:
    mine, theirs = await make_office(), await make_office()
    colleague = await _create(http, admin, _body(realm, mine))
    gone = await _create(http, admin, _body(realm, mine))
    assert (await http.post(f"/api/admin/users/{gone['id']}/deactivate", headers=admin)).status_code == 200
    stranger = await _create(http, admin, _body(realm, theirs))
    supervisor = bearer(token_for(mine, roles=("employee", "supervisor")))
    employee = bearer(token_for(mine, roles=("employee",)))

    listed = (await http.get("/api/users", headers=supervisor)).json()
    ids = {u["id"] for u in listed["items"]}
    assert {colleague["id"], gone["id"]} <= ids
    assert stranger["id"] not in ids
    assert {u["office_id"] for u in listed["items"]} == {str(mine)}
    listed = (await http.get("/api/users", headers=employee)).json()
    assert colleague["id"] in {u["id"] for u in listed["items"]}
    assert gone["id"] not in {u["id"] for u in listed["items"]}  # employees: the active directory only
    for who in (supervisor, employee):
        assert (await http.get(f"/api/users/{stranger['id']}", headers=who)).status_code == 404
        assert (await http.get("/api/users", params={"office_id": str(theirs)}, headers=who)).status_code == 403
        assert (await http.get(f"/api/users/{colleague['id']}", headers=who)).status_code == 200
        assert (await http.get("/api/admin/users", headers=who)).status_code == 403
        assert (await http.get(f"/api/admin/users/{colleague['id']}", headers=who)).status_code == 403
        resp = await http.post("/api/admin/users", json=_body(realm, mine), headers=who)
        assert resp.status_code == 403, resp.text
        for method, path, body in (
            ("PATCH", "", {"family_name": "Άλλος"}),
            ("POST", "/move", {"office_id": str(theirs)}),
            ("POST", "/deactivate", {}),
            ("POST", "/reactivate", {}),
        ):
            resp = await http.request(method, f"/api/admin/users/{colleague['id']}{path}", json=body, headers=who)
            assert resp.status_code == 403, resp.text
    assert (await http.get(f"/api/users/{gone['id']}", headers=supervisor)).status_code == 200
    assert (await http.get(f"/api/users/{gone['id']}", headers=employee)).status_code == 404
    assert (await http.get(f"/api/users/{colleague['id']}/history", headers=supervisor)).status_code == 200
    assert (await http.get(f"/api/users/{colleague['id']}/history", headers=employee)).status_code == 403
    assert (await http.get(f"/api/users/{stranger['id']}/history", headers=supervisor)).status_code == 404
    # nothing changed by any of that
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM admin_audit WHERE entity = 'user' AND entity_id = $1", colleague["id"]
        )
        == 1
    )
    assert (await realm.get(colleague["username"]))["enabled"] is True


async def test_an_administrator_keeps_their_own_access(
    http: httpx.AsyncClient, realm: Realm, make_office: OfficeFactory, token_for: Callable[..., str], pool: Pool
) -> None:
    subject = str(uuid.uuid4())
    me = bearer(token_for(await make_office(), roles=("administrator",), subject=subject))
    my_id = await pool.fetchval("SELECT id FROM users WHERE subject = $1", subject)
    resp = await http.post(f"/api/admin/users/{my_id}/deactivate", headers=me)
    assert resp.status_code == 422, resp.text
    resp = await http.patch(f"/api/admin/users/{my_id}", json={"roles": ["employee"]}, headers=me)
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["path"] == "/roles"
    assert await pool.fetchval("SELECT active FROM users WHERE subject = $1", subject) is True

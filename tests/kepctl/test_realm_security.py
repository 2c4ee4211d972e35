"""The production realm, as Keycloak itself takes it: imported under a name of its own into the local Keycloak, it
asks every new user for a one-time code before any token, locks an account out after repeated failures, and keeps
the office attribute to administrators."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from kepctl.realm import (
    APPS_ADMIN_CLIENT,
    CLI_CLIENT,
    OFFICE_ATTRIBUTE,
    PRODUCTION_REALM_FILE,
    WEB_CLIENT,
    production_realm,
    realm,
    render,
)
from kepctl.stack import StackSettings
from tests.keycloak import KeycloakUsers

PASSWORD = "correct horse battery"  # long enough for the production policy


def test_the_production_realm_file_is_generated() -> None:
    assert PRODUCTION_REALM_FILE.read_text(encoding="utf-8") == render(production=True), (
        "stale: run .venv/bin/python -m kepctl.realm"
    )
    prod = production_realm()
    # no demo users, no public password: only the API's service account, whose secret Keycloak takes from its
    # environment at import
    assert [u.get("serviceAccountClientId") for u in prod["users"]] == [APPS_ADMIN_CLIENT]
    assert "credentials" not in prod["users"][0]
    assert [c["clientId"] for c in prod["clients"]] == [WEB_CLIENT, APPS_ADMIN_CLIENT]
    assert not any(c["directAccessGrantsEnabled"] for c in prod["clients"])  # no password grant
    assert prod["clients"][1]["secret"] == "${KEP_KEYCLOAK_ADMIN_CLIENT_SECRET}"
    assert prod["bruteForceProtected"]
    assert not prod["permanentLockout"]
    [totp] = [a for a in prod["requiredActions"] if a["alias"] == "CONFIGURE_TOTP"]
    assert totp["enabled"]
    assert totp["defaultAction"]
    for each in (prod, realm()):
        profile = json.loads(each["components"]["org.keycloak.userprofile.UserProfileProvider"][0]["config"][
            "kc.user.profile.config"][0])  # fmt: skip
        [office] = [a for a in profile["attributes"] if a["name"] == OFFICE_ATTRIBUTE]
        assert office["permissions"] == {"view": ["admin"], "edit": ["admin"]}


@pytest.fixture
async def production(stack: StackSettings) -> AsyncIterator[tuple[KeycloakUsers, str]]:
    """The production realm in the local Keycloak as `kep-prod-<random>`, with a password-grant client added for
    the test (production has none), deleted afterwards."""
    name = f"kep-prod-{uuid.uuid4().hex[:8]}"
    representation = production_realm() | {"realm": name}
    representation["clients"] = [
        *representation["clients"],
        {"clientId": CLI_CLIENT, "publicClient": True, "directAccessGrantsEnabled": True, "enabled": True},
    ]
    admin = KeycloakUsers(stack)
    base = f"{stack.keycloak_url}/admin/realms"
    resp = await admin._http.post(base, json=representation, headers=await admin._auth())
    assert resp.status_code == 201, resp.text
    try:
        yield admin, name
    finally:
        await admin._http.delete(f"{base}/{name}", headers=await admin._auth())
        await admin.aclose()


async def _user(admin: KeycloakUsers, realm_name: str, username: str, **extra: Any) -> str:
    base = f"{admin.stack.keycloak_url}/admin/realms/{realm_name}"
    body = {
        "username": username,
        "enabled": True,
        "attributes": {OFFICE_ATTRIBUTE: [str(uuid.uuid4())]},
        "credentials": [{"type": "password", "value": PASSWORD, "temporary": False}],
    } | extra
    resp = await admin._http.post(f"{base}/users", json=body, headers=await admin._auth())
    assert resp.status_code == 201, resp.text
    return resp.headers["location"].rsplit("/", 1)[1]


async def _grant(admin: KeycloakUsers, realm_name: str, username: str, password: str) -> httpx.Response:
    return await admin._http.post(
        f"{admin.stack.keycloak_url}/realms/{realm_name}/protocol/openid-connect/token",
        data={"grant_type": "password", "client_id": CLI_CLIENT, "username": username, "password": password},
    )


async def test_no_token_before_the_one_time_code_is_set_up(production: tuple[KeycloakUsers, str]) -> None:
    admin, name = production
    await _user(admin, name, "newcomer")
    resp = await _grant(admin, name, "newcomer", PASSWORD)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error_description"] == "Account is not fully set up"


async def test_repeated_failures_lock_the_account_out(production: tuple[KeycloakUsers, str]) -> None:
    admin, name = production
    user_id = await _user(admin, name, "guessed")
    # with the one-time code step taken off this user, the password alone gets a token
    cleared = await admin._http.put(
        f"{admin.stack.keycloak_url}/admin/realms/{name}/users/{user_id}",
        json={"requiredActions": []},
        headers=await admin._auth(),
    )
    assert cleared.status_code == 204, cleared.text
    assert (await _grant(admin, name, "guessed", PASSWORD)).status_code == 200
    for _ in range(5):
        assert (await _grant(admin, name, "guessed", "wrong guess 123")).status_code in (400, 401)
    status = await admin._http.get(
        f"{admin.stack.keycloak_url}/admin/realms/{name}/attack-detection/brute-force/users/{user_id}",
        headers=await admin._auth(),
    )
    assert status.json()["disabled"] is True
    # locked out for a while: the right password does not get a token either
    assert (await _grant(admin, name, "guessed", PASSWORD)).status_code != 200

"""The local Keycloak: the realm file, the service kepctl runs, `kep token`, and the tests' user helper."""

from __future__ import annotations

import json
import socket
import uuid
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from kepctl import services
from kepctl.main import app
from kepctl.realm import ACCESS_TOKEN_LIFESPAN_S, CLI_CLIENT, OFFICE_ATTRIBUTE, REALM_FILE, WEB_CLIENT, render
from kepctl.seed import USERS, sid
from kepctl.stack import StackSettings
from tests.keycloak import KeycloakError, KeycloakUsers


def test_the_realm_file_is_generated_from_the_demo_data() -> None:
    assert REALM_FILE.read_text(encoding="utf-8") == render(), "stale: run .venv/bin/python -m kepctl.realm"
    realm = json.loads(REALM_FILE.read_text(encoding="utf-8"))
    assert realm["accessTokenLifespan"] == ACCESS_TOKEN_LIFESPAN_S == 300
    users = {u["username"]: u for u in realm["users"]}
    for demo in USERS:
        user = users[demo.subject]
        assert user["id"] == str(sid("user", demo.subject))
        assert user["realmRoles"] == list(demo.roles)
        assert demo.office is not None
        assert user["attributes"][OFFICE_ATTRIBUTE] == [str(sid("office", demo.office))]
    clients = {c["clientId"]: c for c in realm["clients"]}
    web, cli = clients[WEB_CLIENT], clients[CLI_CLIENT]
    assert web["publicClient"]
    assert web["standardFlowEnabled"]
    assert not web["directAccessGrantsEnabled"]
    assert web["attributes"]["pkce.code.challenge.method"] == "S256"
    assert cli["directAccessGrantsEnabled"]
    assert not cli["standardFlowEnabled"]
    for client in (web, cli):
        mappers = {m["protocolMapper"]: m["config"] for m in client["protocolMappers"]}
        assert mappers["oidc-audience-mapper"]["included.client.audience"] == WEB_CLIENT
        assert mappers["oidc-usermodel-attribute-mapper"]["claim.name"] == OFFICE_ATTRIBUTE


def test_keycloak_serves_the_realm_with_the_configured_issuer(stack: StackSettings) -> None:
    keycloak = services.Keycloak("keycloak", stack)
    assert keycloak.ready()
    discovery = httpx.get(f"{stack.oidc_issuer}/.well-known/openid-configuration", timeout=10).json()
    # Keycloak's hostname is fixed, so `iss` does not follow the Host header a client happened to use.
    assert discovery["issuer"] == stack.oidc_issuer == stack.app_env()["KEP_OIDC_ISSUER"]
    assert discovery["jwks_uri"] == stack.oidc_jwks_url == stack.app_env()["KEP_OIDC_JWKS_URL"]
    via_localhost = stack.oidc_issuer.replace("127.0.0.1", "localhost")
    assert httpx.get(f"{via_localhost}/.well-known/openid-configuration", timeout=10).json()["issuer"] == (
        stack.oidc_issuer
    )
    health = httpx.get(f"http://127.0.0.1:{stack.keycloak_mgmt_port}/health/ready", timeout=10).json()
    assert health["status"] == "UP"
    assert (keycloak.data_dir / "h2" / "keycloakdb.mv.db").exists()


def test_starting_a_running_keycloak_changes_nothing(stack: StackSettings) -> None:
    keycloak = services.Keycloak("keycloak", stack, progress=lambda _: None)
    before = keycloak.pid()
    keycloak.start()
    assert keycloak.pid() == before is not None


def test_a_changed_realm_file_resets_the_development_database(tmp_path: Path) -> None:
    keycloak = services.Keycloak("keycloak", StackSettings(state_dir=tmp_path), progress=lambda _: None)
    db = keycloak.data_dir / "h2"
    db.mkdir(parents=True)
    keycloak._import_current_realm()  # no stamp yet: which realm this database holds is unknown
    assert not db.exists()
    db.mkdir()
    keycloak._import_current_realm()  # the stamp now matches: the database stays
    assert db.exists()
    (keycloak.data_dir / "realm-kep.sha256").write_text("an older realm\n")
    keycloak._import_current_realm()
    assert not db.exists()
    assert (keycloak.HOME / "data" / "import" / REALM_FILE.name).read_bytes() == REALM_FILE.read_bytes()


def test_kep_token_says_when_keycloak_is_not_there(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        monkeypatch.setenv("KEP_KEYCLOAK_PORT", str(s.getsockname()[1]))
        result = CliRunner().invoke(app, ["token", USERS[0].subject])
    assert result.exit_code == 1
    assert "Keycloak issued no token" in result.output


async def test_the_helper_deletes_its_users_when_closed(stack: StackSettings) -> None:
    async with KeycloakUsers(stack) as keycloak:
        user = await keycloak.user(uuid.uuid4(), ("employee",), f"emp-{uuid.uuid4().hex[:8]}")
        assert (await keycloak.admin("GET", f"/users/{user.id}")).json()["username"] == user.username
    async with KeycloakUsers(stack) as other:
        with pytest.raises(KeycloakError, match="404"):
            await other.admin("GET", f"/users/{user.id}")


@pytest.mark.parametrize(
    ("roles", "subject"),
    [(("employee",), str(sid("user", USERS[0].subject))), (("employee",), "x" * 37), (("citizen",), None)],
)
async def test_the_helper_refuses_demo_ids_long_subjects_and_unknown_roles(
    stack: StackSettings, roles: tuple[str, ...], subject: str | None
) -> None:
    async with KeycloakUsers(stack) as keycloak:
        with pytest.raises(ValueError, match=r"demo user|roles"):
            await keycloak.user(uuid.uuid4(), roles, subject)

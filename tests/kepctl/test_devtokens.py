"""Development tokens: the local Keycloak's through Authlib's OAuth 2.0 client, and the tests' own key pair."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from authlib.integrations.httpx_client import OAuth2Client  # type: ignore[import-untyped]

from kepctl.devtokens import KID, NoToken, ensure_keys, keycloak_token
from kepctl.realm import DEMO_PASSWORD, WEB_CLIENT
from kepctl.seed import sid
from kepctl.stack import StackSettings
from serve.security import JwksSource, TokenVerifier


async def test_the_password_grant_runs_through_authlib(stack: StackSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    # given: a spy on Authlib's client
    grants: list[dict[str, object]] = []
    fetch_token = OAuth2Client.fetch_token

    def spy(self: OAuth2Client, url: str, **kw: object) -> object:
        grants.append({"url": url, "client_id": self.client_id, **kw})
        return fetch_token(self, url, **kw)

    monkeypatch.setattr(OAuth2Client, "fetch_token", spy)

    # when
    token = keycloak_token(stack, "maria.papadopoulou", DEMO_PASSWORD)

    # then: one password grant of kep-cli at the realm's token endpoint, and a token the services accept
    assert [(g["url"], g["client_id"], g["grant_type"]) for g in grants] == [
        (stack.oidc_token_url, "kep-cli", "password")
    ]
    principal = await TokenVerifier(stack.oidc_issuer, WEB_CLIENT, JwksSource(stack.oidc_jwks_url)).verify(token)
    assert principal.subject == str(sid("user", "maria.papadopoulou"))
    assert principal.roles == frozenset({"employee"})


def test_a_wrong_password_is_refused_with_keycloaks_reason(stack: StackSettings) -> None:
    with pytest.raises(NoToken, match="invalid_grant"):
        keycloak_token(stack, "maria.papadopoulou", "not-the-password")


def test_no_keycloak_is_no_token(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        nobody = StackSettings(state_dir=tmp_path, keycloak_port=s.getsockname()[1])
        with pytest.raises(NoToken, match="/protocol/openid-connect/token"):
            keycloak_token(nobody, "maria.papadopoulou", DEMO_PASSWORD)


def test_the_test_keys_are_made_once(tmp_path: Path) -> None:
    jwks = ensure_keys(tmp_path / "keys")
    first = (tmp_path / "keys" / "private.json").read_text()

    assert ensure_keys(tmp_path / "keys") == jwks
    assert (tmp_path / "keys" / "private.json").read_text() == first
    assert [k["kid"] for k in json.loads(jwks.read_text())["keys"]] == [KID]
    assert "d" not in json.loads(jwks.read_text())["keys"][0]

"""Development tokens: the local Keycloak's, for `kep token`, and an RSA key of our own for the tests that forge them.

`keycloak_token` runs the OAuth 2.0 password grant of the public client `kep-cli` with Authlib's client.
`ensure_keys` makes the key pair tests/serve/test_security.py signs its attacks with; the services verify tokens
with exactly the code that verifies Keycloak's (JWKS, issuer, audience, expiry).
"""

from __future__ import annotations

import json
from pathlib import Path

from joserfc.jwk import KeySet, RSAKey

from kepctl.realm import CLI_CLIENT
from kepctl.stack import StackSettings

KID = "kep-dev-1"
TOKEN_TIMEOUT_S = 10.0


class NoToken(Exception):
    """Keycloak gave no token: it could not be reached, or it refused the grant (its error says why)."""


def keycloak_token(stack: StackSettings, username: str, password: str, client_id: str = CLI_CLIENT) -> str:
    """An access token from the local Keycloak by the password grant (development and tests only)."""
    # Imported here: only `kep token` needs an OAuth client, not every `kep` command.
    import httpx2
    from authlib.integrations.base_client import OAuthError  # type: ignore[import-untyped]
    from authlib.integrations.httpx_client import OAuth2Client  # type: ignore[import-untyped]

    # a public client: Authlib sends client_id in the form body and no secret ("none" is no password)
    auth_method = "none"
    with OAuth2Client(client_id=client_id, token_endpoint_auth_method=auth_method, timeout=TOKEN_TIMEOUT_S) as client:
        try:
            token = client.fetch_token(
                stack.oidc_token_url, grant_type="password", username=username, password=password
            )
        except OAuthError as exc:
            raise NoToken(f"{exc.error}: {exc.description}") from exc
        except httpx2.HTTPError as exc:
            raise NoToken(f"{stack.oidc_token_url}: {exc}") from exc
    return str(token["access_token"])


def _key(keys_dir: Path) -> RSAKey:
    private = keys_dir / "private.json"
    if private.exists():
        return RSAKey.import_key(json.loads(private.read_text()))
    keys_dir.mkdir(parents=True, exist_ok=True)
    key = RSAKey.generate_key(2048, parameters={"kid": KID, "use": "sig", "alg": "RS256"})
    private.write_text(json.dumps(key.as_dict(private=True)))
    private.chmod(0o600)
    (keys_dir / "jwks.json").write_text(json.dumps(KeySet([key]).as_dict(private=False)))
    return key


def ensure_keys(keys_dir: Path) -> Path:
    """`private.json` and `jwks.json` under `keys_dir`, made once."""
    _key(keys_dir)
    return keys_dir / "jwks.json"

"""A development token issuer: an RSA key under the state folder and the tokens it signs.

Stands in for Keycloak in the tests of the HTTP layer (`token_for`, `keys_dir` in tests/conftest.py; the forged
tokens of tests/serve/test_security.py) until they take real tokens from tests/keycloak.py; the services verify
these tokens with exactly the code that verifies Keycloak's (JWKS, issuer, audience, expiry). `kep token` asks the
local Keycloak.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

KID = "kep-dev-1"


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
    _key(keys_dir)
    return keys_dir / "jwks.json"


def mint(
    keys_dir: Path,
    *,
    subject: str,
    office_id: uuid.UUID | None,
    roles: list[str],
    issuer: str,
    audience: str,
    ttl: int = 3600,
    name: str | None = None,
) -> str:
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "realm_access": {"roles": roles},
    }
    if office_id is not None:
        claims["kep_office"] = str(office_id)
    if name:
        claims["name"] = name
    return jwt.encode({"alg": "RS256", "kid": KID}, claims, _key(keys_dir))

"""Token attacks are refused: only asymmetric signatures from the issuer's keys, for our audience, in time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from infra.settings import Settings
from kepctl import devtokens
from messages.errors import Unauthorized
from serve.security import JwksSource, TokenVerifier
from tests.helpers import bearer


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(settings: Settings, **over: Any) -> dict[str, Any]:
    now = int(time.time())
    c = {
        "iss": settings.oidc_issuer,
        "aud": settings.oidc_audience,
        "sub": "mallory",
        "exp": now + 600,
        "nbf": now,
        "iat": now,
        "realm_access": {"roles": ["employee"]},
        "kep_office": str(uuid.uuid4()),
        "typ": "Bearer",
    }
    c.update(over)
    return c


def _hs256(secret: bytes, claims: dict[str, Any]) -> str:
    """Built by hand: joserfc itself refuses to use a public key as an HMAC secret, as an attacker's tool would not."""
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': devtokens.KID})}.{_b64(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def _signed(keys_dir: Path, claims: dict[str, Any], kid: str = devtokens.KID) -> str:
    key = RSAKey.import_key(json.loads((keys_dir / "private.json").read_text()))
    return jwt.encode({"alg": "RS256", "kid": kid}, claims, key)


def _attacks(settings: Settings, keys_dir: Path) -> dict[str, str]:
    now = int(time.time())
    public_pem = RSAKey.import_key(json.loads((keys_dir / "jwks.json").read_text())["keys"][0]).as_pem()
    return {
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(settings))}.",
        "HS256 signed with the public key": _hs256(public_pem, _claims(settings)),
        "expired": _signed(keys_dir, _claims(settings, exp=now - 3600, nbf=now - 7200)),
        "not yet valid": _signed(keys_dir, _claims(settings, nbf=now + 3600)),
        "wrong audience": _signed(keys_dir, _claims(settings, aud="someone-else")),
        "wrong issuer": _signed(keys_dir, _claims(settings, iss="https://evil.example/realms/kep")),
        "no expiry": _signed(keys_dir, {k: v for k, v in _claims(settings).items() if k != "exp"}),
        "foreign key": jwt.encode(
            {"alg": "RS256", "kid": "other"}, _claims(settings), RSAKey.generate_key(2048, parameters={"kid": "other"})
        ),
        "tampered payload": ".".join(
            [
                _signed(keys_dir, _claims(settings)).split(".")[0],
                _b64(_claims(settings, realm_access={"roles": ["administrator"]})),
                _signed(keys_dir, _claims(settings)).split(".")[2],
            ]
        ),
        "garbage": "not.a.token",
        "our audience only as azp": _signed(keys_dir, _claims(settings, aud="account", azp=settings.oidc_audience)),
        "no typ": _signed(keys_dir, {k: v for k, v in _claims(settings).items() if k != "typ"}),
        "an ID token": _signed(keys_dir, _claims(settings, typ="ID")),
    }


@pytest.mark.parametrize(
    "attack",
    [
        "alg none",
        "HS256 signed with the public key",
        "expired",
        "not yet valid",
        "wrong audience",
        "wrong issuer",
        "no expiry",
        "foreign key",
        "tampered payload",
        "garbage",
        "our audience only as azp",
        "no typ",
        "an ID token",
    ],
)
async def test_token_attacks_are_rejected_by_the_verifier(settings: Settings, keys_dir: Path, attack: str) -> None:
    """Against a verifier that trusts the forger's key set, so each token fails for its own flaw, not its key."""
    verifier = TokenVerifier(settings.oidc_issuer, settings.oidc_audience, JwksSource(f"file://{keys_dir}/jwks.json"))
    honest = await verifier.verify(_signed(keys_dir, _claims(settings)))
    assert honest.subject == "mallory"  # the same key and claims, untampered, pass
    with pytest.raises(Unauthorized):
        await verifier.verify(_attacks(settings, keys_dir)[attack])


async def test_token_attacks_are_rejected_over_http(
    http: httpx.AsyncClient, settings: Settings, keys_dir: Path
) -> None:
    for attack, token in _attacks(settings, keys_dir).items():
        resp = await http.get(f"/api/cases/{uuid.uuid4()}", headers=bearer(token))
        assert resp.status_code == 401, attack
        assert resp.json()["title"] == "Unauthorized"


async def test_a_valid_token_passes(http: httpx.AsyncClient, token_for: Callable[..., str]) -> None:
    resp = await http.get(f"/api/cases/{uuid.uuid4()}", headers=bearer(token_for(uuid.uuid4())))
    assert resp.status_code == 404  # authenticated, and the case does not exist in the caller's office


async def test_roles_come_from_the_realm_roles_only(settings: Settings, keys_dir: Path) -> None:
    """A top-level `roles` claim (a mapper or client scope could add one) grants nothing."""
    verifier = TokenVerifier(settings.oidc_issuer, settings.oidc_audience, JwksSource(f"file://{keys_dir}/jwks.json"))
    token = _signed(keys_dir, _claims(settings, roles=["administrator", "supervisor"]))
    assert (await verifier.verify(token)).roles == frozenset({"employee"})

"""The API's token verifier against the real local Keycloak: its tokens pass, forgeries and misfits do not."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import html
import json
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from infra.settings import load_settings
from kepctl.realm import DEMO_PASSWORD, WEB_CLIENT, api_claims_mappers
from kepctl.seed import USERS, DemoUser, sid
from kepctl.stack import StackSettings
from messages.errors import Unauthorized
from messages.roles import Role
from serve.context import Context
from serve.security import JwksSource, TokenVerifier
from tests.keycloak import KeycloakError, KeycloakUsers

SHORT_LIVED_CLIENT = "kep-test-short-lived"
FOREIGN_CLIENT = "kep-test-no-audience"


@pytest.fixture(scope="module")
async def keycloak(stack: StackSettings) -> AsyncIterator[KeycloakUsers]:
    async with KeycloakUsers(stack) as users:
        yield users


class CountingJwks(JwksSource):
    """The real JWKS source, counting how often it fetches the keys."""

    def __init__(self, url: str, client: httpx.AsyncClient) -> None:
        super().__init__(url, client)
        self.fetches = 0

    async def _load(self) -> Any:
        self.fetches += 1
        return await super()._load()


@pytest.fixture
async def jwks(stack: StackSettings) -> AsyncIterator[CountingJwks]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield CountingJwks(stack.oidc_jwks_url, client)


@pytest.fixture
def verifier(stack: StackSettings, jwks: CountingJwks) -> TokenVerifier:
    """As serve/context.py builds it from `kep env`: the realm's issuer, our audience, its JWKS."""
    return TokenVerifier(stack.oidc_issuer, WEB_CLIENT, jwks)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _part(token: str, index: int) -> dict[str, Any]:
    segment = token.split(".")[index]
    return dict(json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))))


async def _rejected(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(Unauthorized) as err:
        await verifier.verify(token)
    return str(err.value)


@pytest.mark.parametrize("demo", USERS, ids=lambda u: u.subject)
async def test_a_demo_users_token_names_them_their_roles_and_office(
    keycloak: KeycloakUsers, verifier: TokenVerifier, demo: DemoUser
) -> None:
    body = await keycloak.password_grant(demo.subject, DEMO_PASSWORD)
    principal = await verifier.verify(body["access_token"])
    assert principal.subject == str(sid("user", demo.subject))  # the seed's user id, imported as Keycloak's id
    assert principal.roles == frozenset(demo.roles)
    assert principal.office_id == (sid("office", demo.office) if demo.office else None)
    assert principal.name == demo.name


async def test_the_apps_context_set_up_by_kep_env_accepts_keycloak_tokens(
    stack: StackSettings, keycloak: KeycloakUsers, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in stack.app_env().items():
        monkeypatch.setenv(name, value)
    context = await Context.open(load_settings())  # opens no connection: only its verifier is used here
    try:
        office, subject = uuid.uuid4(), f"emp-{uuid.uuid4().hex[:8]}"
        principal = await context.verifier.verify(await keycloak.token(office, subject=subject))
        assert (principal.subject, principal.office_id) == (subject, office)
    finally:
        await context.close()


async def test_a_helper_made_user_carries_the_requested_subject_office_and_roles(
    keycloak: KeycloakUsers, verifier: TokenVerifier
) -> None:
    office, subject = uuid.uuid4(), f"sup-{uuid.uuid4().hex[:8]}"
    principal = await verifier.verify(await keycloak.token(office, ("employee", "supervisor"), subject))
    assert principal.subject == subject
    assert principal.office_id == office
    assert principal.roles & {r.value for r in Role} == {"employee", "supervisor"}
    principal.require(Role.SUPERVISOR)


async def test_helper_users_are_made_once_per_tuple(keycloak: KeycloakUsers, verifier: TokenVerifier) -> None:
    office = uuid.uuid4()
    first, again = await keycloak.user(office), await keycloak.user(office)
    assert first is again
    first_token, second_token = await keycloak.token(office), await keycloak.token(office)
    assert first_token != second_token  # a fresh token each time, for the same user
    assert (await verifier.verify(second_token)).subject == first.id
    nowhere = await verifier.verify(await keycloak.token(None, ("administrator",)))
    assert nowhere.office_id is None
    assert nowhere.subject not in {first.id, ""}


async def test_one_subject_in_two_offices_gets_the_office_it_asks_for(
    keycloak: KeycloakUsers, verifier: TokenVerifier
) -> None:
    subject, athens, patras = f"emp-{uuid.uuid4().hex[:8]}", uuid.uuid4(), uuid.uuid4()
    for office in (athens, patras, athens):
        principal = await verifier.verify(await keycloak.token(office, subject=subject))
        assert (principal.subject, principal.office_id) == (subject, office)


async def test_the_web_client_signs_in_with_pkce_and_its_id_token_is_no_access_token(
    stack: StackSettings, keycloak: KeycloakUsers, verifier: TokenVerifier
) -> None:
    demo = USERS[0]
    tokens = await _sign_in_with_pkce(stack, demo.subject, DEMO_PASSWORD)
    access = await verifier.verify(tokens["access_token"])
    assert access.subject == str(sid("user", demo.subject))
    assert _part(tokens["access_token"], 1)["azp"] == WEB_CLIENT
    # Same issuer, same key, our client as audience: only its `typ` tells the ID token apart.
    id_token = tokens["id_token"]
    assert _part(id_token, 1)["aud"] == WEB_CLIENT
    assert "not an access token" in await _rejected(verifier, id_token)


async def test_the_web_client_gives_no_token_for_a_bare_password(keycloak: KeycloakUsers) -> None:
    with pytest.raises(KeycloakError, match="unauthorized_client"):
        await keycloak.password_grant(USERS[0].subject, DEMO_PASSWORD, client_id=WEB_CLIENT)


async def test_a_token_of_another_client_without_our_audience_is_rejected(
    stack: StackSettings, keycloak: KeycloakUsers, verifier: TokenVerifier
) -> None:
    await keycloak.ensure_client(
        {
            "clientId": FOREIGN_CLIENT,
            "publicClient": True,
            "standardFlowEnabled": False,
            "directAccessGrantsEnabled": True,
        }
    )
    user = await keycloak.user(uuid.uuid4())
    token = (await keycloak.password_grant(user.username, user.password, client_id=FOREIGN_CLIENT))["access_token"]
    assert _part(token, 1)["iss"] == stack.oidc_issuer  # signed by our realm's key: only the audience is wrong
    assert "wrong audience" in await _rejected(verifier, token)


async def test_a_token_of_another_realm_is_rejected(stack: StackSettings, verifier: TokenVerifier) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        resp = await client.post(
            f"{stack.keycloak_url}/realms/master/protocol/openid-connect/token",
            data={
                "grant_type": "password",
                "client_id": "admin-cli",
                "username": stack.keycloak_admin_user,
                "password": stack.keycloak_admin_password.get_secret_value(),
            },
        )
    resp.raise_for_status()
    await _rejected(verifier, resp.json()["access_token"])


async def test_the_issuer_must_match_exactly(stack: StackSettings, keycloak: KeycloakUsers, jwks: CountingJwks) -> None:
    """The same realm reached as `localhost` is another issuer: KEP_OIDC_ISSUER must be the token's `iss`."""
    token = await keycloak.token(uuid.uuid4())
    elsewhere = TokenVerifier(stack.oidc_issuer.replace("127.0.0.1", "localhost"), WEB_CLIENT, jwks)
    assert "iss" in await _rejected(elsewhere, token)


async def test_a_key_keycloak_does_not_publish_is_rejected_after_one_refetch_per_interval(
    keycloak: KeycloakUsers, verifier: TokenVerifier, jwks: CountingJwks
) -> None:
    genuine = await keycloak.token(uuid.uuid4())
    await verifier.verify(genuine)
    assert jwks.fetches == 1
    claims, kid = _part(genuine, 1), _part(genuine, 0)["kid"]
    mallory = RSAKey.generate_key(2048, parameters={"kid": "rotated-in-by-mallory"})
    unknown_kid = jwt.encode({"alg": "RS256", "kid": "rotated-in-by-mallory"}, claims, mallory)
    await _rejected(verifier, unknown_kid)
    assert jwks.fetches == 2  # an unknown kid may be a rotation: fetched once more, still unknown
    for i in range(20):  # a stream of made-up kids is not a stream of requests to the issuer
        await _rejected(verifier, jwt.encode({"alg": "RS256", "kid": f"made-up-{i}"}, claims, mallory))
    assert jwks.fetches == 2
    their_kid = jwt.encode({"alg": "RS256", "kid": kid}, claims, mallory)
    await _rejected(verifier, their_kid)
    assert jwks.fetches == 2  # a known kid is not a reason to fetch


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
async def test_an_unsigned_copy_of_a_keycloak_token_is_rejected(
    keycloak: KeycloakUsers, verifier: TokenVerifier, alg: str
) -> None:
    genuine = await keycloak.token(uuid.uuid4(), ("administrator",))
    header = _part(genuine, 0) | {"alg": alg}
    forged = f"{_b64(json.dumps(header).encode())}.{genuine.split('.')[1]}."
    await _rejected(verifier, forged)


async def test_hs256_signed_with_keycloaks_public_key_is_rejected(
    stack: StackSettings, keycloak: KeycloakUsers, verifier: TokenVerifier
) -> None:
    genuine = await keycloak.token(uuid.uuid4())
    kid = _part(genuine, 0)["kid"]
    async with httpx.AsyncClient(timeout=10) as client:
        published = (await client.get(stack.oidc_jwks_url)).json()["keys"]
    public = RSAKey.import_key(next(k for k in published if k["kid"] == kid))
    claims = _part(genuine, 1) | {"realm_access": {"roles": ["administrator"]}}
    signing_input = f"{_b64(json.dumps({'alg': 'HS256', 'typ': 'JWT', 'kid': kid}).encode())}."
    signing_input += _b64(json.dumps(claims).encode())
    # Built by hand: joserfc refuses an RSA key as an HMAC secret, as an attacker's script would not.
    for secret in (public.as_pem(), json.dumps(public.as_dict()).encode()):
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        await _rejected(verifier, f"{signing_input}.{_b64(mac)}")


async def test_an_expired_keycloak_token_is_rejected(keycloak: KeycloakUsers, verifier: TokenVerifier) -> None:
    await keycloak.ensure_client(
        {
            "clientId": SHORT_LIVED_CLIENT,
            "publicClient": True,
            "standardFlowEnabled": False,
            "directAccessGrantsEnabled": True,
            "attributes": {"access.token.lifespan": "1"},
            "protocolMappers": api_claims_mappers(),
        }
    )
    user = await keycloak.user(uuid.uuid4())
    token = (await keycloak.password_grant(user.username, user.password, client_id=SHORT_LIVED_CLIENT))["access_token"]
    exp = _part(token, 1)["exp"]
    await asyncio.sleep(max(0.0, exp + 1.1 - time.time()))  # Keycloak runs on this machine: one clock
    strict = TokenVerifier(verifier.issuer, verifier.audience, verifier.jwks, leeway=0)
    assert "expired" in await _rejected(strict, token)
    # Only its age is wrong: with leeway enough to cover it, the same token passes.
    lenient = TokenVerifier(verifier.issuer, verifier.audience, verifier.jwks, leeway=3600)
    assert (await lenient.verify(token)).subject == user.id


async def test_tampered_roles_in_a_keycloak_token_are_rejected(
    keycloak: KeycloakUsers, verifier: TokenVerifier
) -> None:
    header, _, signature = (await keycloak.token(uuid.uuid4())).split(".")
    claims = _part(await keycloak.token(uuid.uuid4()), 1) | {"realm_access": {"roles": ["administrator"]}}
    await _rejected(verifier, f"{header}.{_b64(json.dumps(claims).encode())}.{signature}")


async def _sign_in_with_pkce(stack: StackSettings, username: str, password: str) -> Any:
    """The web app's sign-in: authorization code flow with PKCE, the login form filled in as a browser would."""
    verifier = secrets.token_urlsafe(48)
    challenge = _b64(hashlib.sha256(verifier.encode()).digest())
    redirect = "http://127.0.0.1:8000/callback"
    state = secrets.token_urlsafe(8)
    query = {
        "client_id": WEB_CLIENT,
        "response_type": "code",
        "redirect_uri": redirect,
        "scope": "openid",
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    async with httpx.AsyncClient(timeout=10) as browser:
        page = await browser.get(f"{stack.oidc_issuer}/protocol/openid-connect/auth?{urlencode(query)}")
        page.raise_for_status()
        form = re.search(r'<form id="kc-form-login"[^>]*action="([^"]+)"', page.text)
        assert form, "no login form"
        # Keycloak's cookies are `Secure`: browsers send them to http://127.0.0.1 (a secure context), httpx's
        # cookie jar does not, so they are passed on by hand.
        cookies = "; ".join(f"{c.name}={c.value}" for c in browser.cookies.jar)
        signed_in = await browser.post(
            html.unescape(form.group(1)),
            data={"username": username, "password": password, "credentialId": ""},
            headers={"Cookie": cookies},
        )
        assert signed_in.status_code == 302, signed_in.text[:500]
        back = urlsplit(signed_in.headers["location"])
        params = parse_qs(back.query)
        assert f"{back.scheme}://{back.netloc}{back.path}" == redirect
        assert params["state"] == [state]
        resp = await browser.post(
            f"{stack.oidc_issuer}/protocol/openid-connect/token",
            data={
                "grant_type": "authorization_code",
                "client_id": WEB_CLIENT,
                "code": params["code"][0],
                "redirect_uri": redirect,
                "code_verifier": verifier,
            },
        )
        resp.raise_for_status()
        return resp.json()

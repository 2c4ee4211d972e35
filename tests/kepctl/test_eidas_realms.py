"""eIDAS sign-in through the real local Keycloak: the citizens' realm brokers to the eIDAS node double over SAML.

A browser's round trip, without a browser: the authorization code flow (PKCE) of the citizens' web client with
`kc_idp_hint=eidas`, the signed AuthnRequest to the node, the node's login form, the auto-submitting form that posts
the signed SAMLResponse back to the broker, the account made at the first sign-in with no form, the code exchanged
for tokens; then the token's claims. The level of assurance travels as eIDAS has it, the assertion's
AuthnContextClassRef (our provider's two mappers, deployments/keycloak/eidas-loa), and as no attribute.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import urllib.request
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import lxml.html
import pytest
from lxml import etree

from kepctl.eidas_keycloak import ensure_eidas_realms, sign_in_admin
from kepctl.eidas_realms import (
    CITIZEN_CLIENT,
    CITIZENS_REALM,
    CITIZENS_REALM_FILE,
    IDP_ALIAS,
    LOA_PREFIX,
    LOA_USER_ATTRIBUTE,
    NODE_PASSWORD,
    NODE_REALM,
    NODE_REALM_FILE,
    TEST_CITIZENS,
    NodeCitizen,
    broker_endpoint,
    citizens_issuer,
    node_url,
    render,
)
from kepctl.stack import StackSettings
from messages.errors import Unauthorized
from serve.citizens import citizen_from_claims

REDIRECT = "http://127.0.0.1:8000/eugo/callback"
SAML = {"saml": "urn:oasis:names:tc:SAML:2.0:assertion", "samlp": "urn:oasis:names:tc:SAML:2.0:protocol"}
CLASS_REF = "//saml:Assertion/saml:AuthnStatement/saml:AuthnContext/saml:AuthnContextClassRef"


class SignInRefused(AssertionError):
    """The round trip stopped before a code came back; the message says where."""


@dataclass
class RoundTrip:
    tokens: dict[str, Any]
    authn_request_query: dict[str, list[str]]  # the redirect to the node: SAMLRequest, SigAlg, Signature
    saml_response: str  # the XML the node posted back (base64-decoded)

    def authn_request(self) -> etree._Element:
        """The AuthnRequest of the redirect binding: base64 of raw DEFLATE."""
        raw = zlib.decompress(base64.b64decode(self.authn_request_query["SAMLRequest"][0]), -15)
        return etree.fromstring(raw, parser=etree.XMLParser(resolve_entities=False, no_network=True))

    def class_refs(self) -> list[str]:
        """The AuthnContextClassRef of the assertion's AuthnStatements."""
        doc = etree.fromstring(self.saml_response.encode(), etree.XMLParser(resolve_entities=False, no_network=True))
        return [str(t).strip() for t in doc.xpath(f"{CLASS_REF}/text()", namespaces=SAML)]


def claims(token: str) -> dict[str, Any]:
    segment = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))))


def _cookies(browser: httpx.AsyncClient, url: str) -> dict[str, str]:
    """The cookies a browser would send to `url`. Keycloak's are `Secure`, which browsers send to http://127.0.0.1
    (a secure context) and httpx does not; the jar picks them by domain and path for the same URL in https."""
    request = urllib.request.Request(url.replace("http://", "https://", 1))  # noqa: S310 - never opened
    browser.cookies.jar.add_cookie_header(request)
    header = request.get_header("Cookie")
    return {"Cookie": header} if header else {}


async def _get(browser: httpx.AsyncClient, url: str) -> httpx.Response:
    return await browser.get(url, headers=_cookies(browser, url))


async def _post(browser: httpx.AsyncClient, url: str, data: dict[str, str]) -> httpx.Response:
    return await browser.post(url, data=data, headers=_cookies(browser, url))


def _form(page: httpx.Response, form_id: str | None = None) -> tuple[str, dict[str, str]]:
    """A page's form: its action and its fields, read by an HTML parser."""
    doc = lxml.html.fromstring(page.text)
    forms = [f for f in doc.forms if form_id is None or f.get("id") == form_id]
    if not forms:
        raise SignInRefused(f"no form {form_id or ''} in the page: {page.status_code} {page.text[:300]}")
    form = forms[0]
    fields = {str(i.get("name")): str(i.get("value") or "") for i in form.inputs if i.get("name")}
    return str(form.get("action")), fields


async def sign_in(
    stack: StackSettings,
    citizen: NodeCitizen,
    tamper: Callable[[str], str] | None = None,
    password: str = NODE_PASSWORD,
) -> RoundTrip:
    """A citizen's eIDAS sign-in, as a browser makes it; `tamper` changes the SAMLResponse on its way back."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(8)
    query = {
        "client_id": CITIZEN_CLIENT,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "kc_idp_hint": IDP_ALIAS,
    }
    issuer = citizens_issuer(stack.keycloak_url)
    async with httpx.AsyncClient(timeout=15) as browser:
        # the citizens' realm hands over to the broker, the broker redirects to the node with a signed AuthnRequest
        page = await _get(browser, f"{issuer}/protocol/openid-connect/auth?{urlencode(query)}")
        authn_request: dict[str, list[str]] = {}
        for _ in range(5):
            if page.status_code not in (302, 303):
                break
            location = page.headers["location"]
            if location.startswith(f"{node_url(stack.keycloak_url)}/protocol/saml?"):
                authn_request = parse_qs(urlsplit(location).query)
            page = await _get(browser, location)
        if not authn_request:
            raise SignInRefused("the broker sent no AuthnRequest to the node")
        action, _ = _form(page, "kc-form-login")
        posted = await _post(browser, action, {"username": citizen.username, "password": password, "credentialId": ""})
        # the node's answer: a form that a browser's script submits at once, the SAMLResponse in a hidden field
        action, fields = _form(posted)
        if "SAMLResponse" not in fields:
            raise SignInRefused(f"the node sent no SAMLResponse: {posted.text[:300]}")
        xml = base64.b64decode(fields["SAMLResponse"]).decode()
        if tamper:
            changed = tamper(xml)
            assert changed != xml, "the tampering changed nothing"
            fields["SAMLResponse"] = base64.b64encode(changed.encode()).decode()
        page = await _post(browser, action, fields)
        # first-broker-login (the account is made, no form) and back to the web client with a code
        for _ in range(5):
            if page.status_code not in (302, 303) or page.headers["location"].startswith(REDIRECT):
                break
            page = await _get(browser, page.headers["location"])
        if page.status_code not in (302, 303):
            raise SignInRefused(f"no code: {page.status_code} {page.text[:300]}")
        back = parse_qs(urlsplit(page.headers["location"]).query)
        if back.get("state") != [state] or "code" not in back:
            raise SignInRefused(f"no code: {page.headers['location']}")
        resp = await browser.post(
            f"{issuer}/protocol/openid-connect/token",
            data={
                "grant_type": "authorization_code",
                "client_id": CITIZEN_CLIENT,
                "code": back["code"][0],
                "redirect_uri": REDIRECT,
                "code_verifier": verifier,
            },
        )
        resp.raise_for_status()
        return RoundTrip(resp.json(), authn_request, xml)


async def citizen_token(stack: StackSettings, citizen: NodeCitizen) -> str:
    return str((await sign_in(stack, citizen)).tokens["access_token"])


def _citizen(country: str) -> NodeCitizen:
    return next(c for c in TEST_CITIZENS if c.person_identifier.startswith(f"{country}/"))


# ---------------------------------------------------------------------------------------------------------------


def test_the_realm_files_are_generated() -> None:
    assert CITIZENS_REALM_FILE.read_text(encoding="utf-8") == render(CITIZENS_REALM), (
        "stale: run .venv/bin/python -m kepctl.eidas_realms"
    )
    assert NODE_REALM_FILE.read_text(encoding="utf-8") == render(NODE_REALM), (
        "stale: run .venv/bin/python -m kepctl.eidas_realms"
    )
    countries = {c.person_identifier.split("/")[0] for c in TEST_CITIZENS}
    assert len(countries) >= 3
    assert {c.loa for c in TEST_CITIZENS} == {"low", "substantial", "high"}


@pytest.mark.parametrize("citizen", TEST_CITIZENS, ids=lambda c: c.person_identifier.split("/")[0])
async def test_a_citizen_signs_in_through_eidas_and_the_token_names_them(
    stack: StackSettings, citizen: NodeCitizen
) -> None:
    trip = await sign_in(stack, citizen)
    access = claims(trip.tokens["access_token"])
    assert access["iss"] == citizens_issuer(stack.keycloak_url)
    assert CITIZEN_CLIENT in ([access["aud"]] if isinstance(access["aud"], str) else access["aud"])
    assert access["typ"] == "Bearer"
    assert access["eidas_person_identifier"] == citizen.person_identifier
    assert access["family_name"] == citizen.family_name
    assert access["given_name"] == citizen.given_name
    assert access["birthdate"] == citizen.date_of_birth
    assert access["eidas_loa"] == LOA_PREFIX + citizen.loa
    # the account is keyed on the PersonIdentifier (prefixed by the provider's alias), never on a Greek ΑΦΜ
    assert access["preferred_username"] == f"{IDP_ALIAS}.{citizen.person_identifier}".lower()
    # what went over the wire: a signed AuthnRequest, the eIDAS attributes by URI in a signed assertion
    assert {"SAMLRequest", "SigAlg", "Signature"} <= set(trip.authn_request_query)
    assert "urn:oasis:names:tc:SAML:2.0:attrname-format:uri" in trip.saml_response
    assert "http://eidas.europa.eu/attributes/naturalperson/PersonIdentifier" in trip.saml_response
    assert "<dsig:Signature" in trip.saml_response or "<ds:Signature" in trip.saml_response
    # the level of assurance where a real node states it, the AuthnContextClassRef, and in no attribute
    assert trip.class_refs() == [LOA_PREFIX + citizen.loa]
    assert "LevelOfAssurance" not in trip.saml_response
    assert "urn:kep:eidas-node-double" not in trip.saml_response
    # the broker asked for at least `low`, as eIDAS wants a RequestedAuthnContext in every AuthnRequest
    [requested] = trip.authn_request().xpath("samlp:RequestedAuthnContext", namespaces=SAML)
    assert requested.get("Comparison") == "minimum"
    assert requested.xpath("saml:AuthnContextClassRef/text()", namespaces=SAML) == [LOA_PREFIX + "low"]


async def test_a_second_sign_in_is_the_same_user(stack: StackSettings) -> None:
    citizen = _citizen("DE")
    first = claims((await sign_in(stack, citizen)).tokens["access_token"])
    again = claims((await sign_in(stack, citizen)).tokens["access_token"])
    assert first["sub"] == again["sub"]
    assert again["eidas_person_identifier"] == citizen.person_identifier


async def test_the_low_assurance_citizen_is_told_apart(stack: StackSettings) -> None:
    levels = {c.loa: claims(await citizen_token(stack, c))["eidas_loa"] for c in TEST_CITIZENS}
    assert levels == {"low": LOA_PREFIX + "low", "substantial": LOA_PREFIX + "substantial", "high": LOA_PREFIX + "high"}


async def test_an_assertion_changed_on_its_way_back_is_refused(stack: StackSettings) -> None:
    citizen = _citizen("ES")
    with pytest.raises(SignInRefused):
        await sign_in(stack, citizen, tamper=lambda xml: xml.replace(citizen.person_identifier, "ES/EL/99999999R"))


def _class_ref(replacement: str) -> Callable[[str], str]:
    """A change of the assertion's AuthnContextClassRef element (the whole element, with its prefix)."""
    pattern = re.compile(r"<(\w+:)?AuthnContextClassRef>[^<]*</(\w+:)?AuthnContextClassRef>")

    def change(xml: str) -> str:
        assert len(pattern.findall(xml)) == 1
        return pattern.sub(lambda m: replacement.format(p=m.group(1) or ""), xml)

    return change


@pytest.mark.parametrize(
    "change",
    [
        _class_ref(f"<{{p}}AuthnContextClassRef>{LOA_PREFIX}high</{{p}}AuthnContextClassRef>"),  # low made high
        _class_ref(""),  # the level removed
    ],
    ids=["raised", "removed"],
)
async def test_the_level_of_assurance_cannot_be_forged_on_its_way_back(
    stack: StackSettings, change: Callable[[str], str]
) -> None:
    """The class ref is inside the node's signed assertion: a changed or removed one breaks the signature."""
    citizen = _citizen("IT")
    assert citizen.loa == "low"
    with pytest.raises(SignInRefused):
        await sign_in(stack, citizen, tamper=change)


async def test_a_wrong_password_at_the_node_gives_no_saml_response(stack: StackSettings) -> None:
    with pytest.raises(SignInRefused):
        await sign_in(stack, _citizen("IT"), password=f"wrong-{uuid.uuid4().hex[:6]}")


async def test_the_citizens_realm_has_no_password_sign_in(stack: StackSettings) -> None:
    """Without a hint, the citizens' realm still sends the browser to eIDAS: there is no login form of its own."""
    query = {
        "client_id": CITIZEN_CLIENT,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
    }
    auth = f"{citizens_issuer(stack.keycloak_url)}/protocol/openid-connect/auth"
    async with httpx.AsyncClient(timeout=15) as browser:
        without_pkce = await browser.get(auth, params={k: v for k, v in query.items() if "challenge" not in k})
        resp = await browser.get(auth, params=query)
    assert "code_challenge" in without_pkce.headers["location"]  # a public client: PKCE or nothing
    assert resp.status_code in (302, 303)
    assert f"/broker/{IDP_ALIAS}/login" in resp.headers["location"]


def test_ensuring_the_realms_again_changes_nothing(stack: StackSettings) -> None:
    def realm_ids() -> list[str]:
        with httpx.Client(timeout=15) as http:
            return [
                http.get(f"{stack.keycloak_url}/realms/{name}/protocol/saml/descriptor").text
                for name in (CITIZENS_REALM, NODE_REALM)
            ]

    before = realm_ids()
    ensure_eidas_realms(stack)
    assert realm_ids() == before  # same realms, same keys: not recreated
    with httpx.Client(timeout=15) as http:
        descriptor = http.get(f"{broker_endpoint(stack.keycloak_url)}/descriptor")
    assert descriptor.status_code == 200
    assert 'AuthnRequestsSigned="true"' in descriptor.text


async def test_a_citizen_cannot_change_what_the_node_asserted(stack: StackSettings) -> None:
    """Through the account API of their realm, a citizen changes neither their identifier, their level of
    assurance nor their names: only the broker writes them."""
    citizen = _citizen("IT")
    token = await citizen_token(stack, citizen)
    account = f"{citizens_issuer(stack.keycloak_url)}/account"
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    async with httpx.AsyncClient(timeout=15) as http:
        mine = (await http.get(account, headers=headers)).raise_for_status().json()
        assert mine["attributes"]["eidas_person_identifier"] == [citizen.person_identifier]
        for change in (
            {"attributes": mine["attributes"] | {"eidas_person_identifier": ["ES/EL/12345678Z"]}},
            {"attributes": mine["attributes"] | {"eidas_loa": [LOA_PREFIX + "high"]}},
            {"lastName": "Someone Else"},
        ):
            refused = await http.post(account, json=mine | change, headers=headers)
            assert refused.status_code == 400, refused.text
            assert "read-only" in refused.text
    after = claims(await citizen_token(stack, citizen))
    assert (after["eidas_person_identifier"], after["eidas_loa"], after["family_name"]) == (
        citizen.person_identifier,
        LOA_PREFIX + citizen.loa,
        citizen.family_name,
    )


# ---------------------------------------------------------------------------------------------------------------
# A node that states no eIDAS level: citizens of the node made for one test (the node's realm is made anew from
# its definition by `kep services start`, so none outlives it for long), their loa_uri set through the admin API.


def _admin(stack: StackSettings) -> httpx.Client:
    http = httpx.Client(base_url=f"{stack.keycloak_url}/admin/realms", timeout=30)
    sign_in_admin(http, stack)
    return http


@dataclass
class NodeUser:
    citizen: NodeCitizen
    set_loa_uri: Callable[[str | None], None]


NodeUserFactory = Callable[[str | None], NodeUser]


@pytest.fixture
def node_user(stack: StackSettings) -> Iterator[NodeUserFactory]:
    """Citizens of the node made for one test, whose `loa_uri` the test sets (None: the attribute is absent); they
    and the accounts their sign-ins made in the citizens' realm are removed afterwards."""
    made: list[tuple[str, NodeCitizen]] = []
    admin = _admin(stack)

    def make(loa_uri: str | None) -> NodeUser:
        tag = uuid.uuid4().hex[:10].upper()
        citizen = NodeCitizen(f"fr-t{tag.lower()}", f"FR/EL/T{tag}", "Jeanne", "Testeuse", "1990-02-03", "none")
        attributes = {"person_identifier": [citizen.person_identifier], "date_of_birth": [citizen.date_of_birth]}
        body = {
            "username": citizen.username,
            "enabled": True,
            "firstName": citizen.given_name,
            "lastName": citizen.family_name,
            "attributes": attributes | _loa(loa_uri),
            "credentials": [{"type": "password", "value": NODE_PASSWORD, "temporary": False}],
        }
        created = admin.post(f"/{NODE_REALM}/users", json=body).raise_for_status()
        user_id = created.headers["location"].rsplit("/", 1)[1]
        made.append((user_id, citizen))

        def set_loa_uri(value: str | None) -> None:
            user = admin.get(f"/{NODE_REALM}/users/{user_id}").raise_for_status().json()
            kept = {k: v for k, v in (user.get("attributes") or {}).items() if k != "loa_uri"}
            admin.put(
                f"/{NODE_REALM}/users/{user_id}", json=user | {"attributes": kept | _loa(value)}
            ).raise_for_status()

        return NodeUser(citizen, set_loa_uri)

    yield make
    try:
        for user_id, citizen in made:
            admin.delete(f"/{NODE_REALM}/users/{user_id}")
            username = f"{IDP_ALIAS}.{citizen.person_identifier}".lower()
            for account in admin.get(f"/{CITIZENS_REALM}/users", params={"username": username, "exact": "true"}).json():
                admin.delete(f"/{CITIZENS_REALM}/users/{account['id']}")
    finally:
        admin.close()


def _loa(value: str | None) -> dict[str, list[str]]:
    return {} if value is None else {"loa_uri": [value]}


def _no_loa_is_refused_by_our_api(access: dict[str, Any]) -> None:
    """The API reads no citizen from a token without a level: refused before any require_loa could pass it."""
    with pytest.raises(Unauthorized, match="no eIDAS level of assurance"):
        citizen_from_claims(access["sub"], access)


@pytest.mark.parametrize(
    "loa_uri",
    [
        None,  # the node's Keycloak writes its own `unspecified`
        "http://eidas.europa.eu/LoA/NotNotified/substantial",  # a scheme's level that is no eIDAS level
        "http://eidas.europa.eu/LoA/medium",
    ],
    ids=["unspecified", "not-notified", "unknown"],
)
async def test_an_assertion_with_no_eidas_level_gives_no_level(
    stack: StackSettings, node_user: NodeUserFactory, loa_uri: str | None
) -> None:
    user = node_user(loa_uri)
    trip = await sign_in(stack, user.citizen)
    assert trip.class_refs() == [loa_uri or "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified"]
    access = claims(trip.tokens["access_token"])
    assert access["eidas_person_identifier"] == user.citizen.person_identifier  # signed in, but with no level
    assert LOA_USER_ATTRIBUTE not in access
    _no_loa_is_refused_by_our_api(access)


async def test_a_later_sign_in_with_no_level_takes_the_earlier_level_away(
    stack: StackSettings, node_user: NodeUserFactory
) -> None:
    """Every sign-in brings its own level (sync mode FORCE): none now is none, not the one of last time."""
    user = node_user(LOA_PREFIX + "high")
    first = claims((await sign_in(stack, user.citizen)).tokens["access_token"])
    assert first[LOA_USER_ATTRIBUTE] == LOA_PREFIX + "high"
    user.set_loa_uri(LOA_PREFIX + "substantial")
    lower = claims((await sign_in(stack, user.citizen)).tokens["access_token"])
    assert (lower["sub"], lower[LOA_USER_ATTRIBUTE]) == (first["sub"], LOA_PREFIX + "substantial")
    user.set_loa_uri("http://eidas.europa.eu/LoA/unknown")
    gone = claims((await sign_in(stack, user.citizen)).tokens["access_token"])
    assert gone["sub"] == first["sub"]
    assert LOA_USER_ATTRIBUTE not in gone
    _no_loa_is_refused_by_our_api(gone)


async def test_our_api_refuses_a_citizen_the_node_gave_no_eidas_level(
    stack: StackSettings, node_user: NodeUserFactory, http: httpx.AsyncClient
) -> None:
    """Through HTTP: a real token of the citizens' realm, signed and valid, but with no level, opens nothing."""
    user = node_user("http://eidas.europa.eu/LoA/NotNotified/high")
    token = (await sign_in(stack, user.citizen)).tokens["access_token"]
    resp = await http.get("/api/eugo/me", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert "no eIDAS level of assurance" in resp.json()["detail"]

"""EU citizens' tokens through HTTP: a citizen signed in through eIDAS (the real local Keycloak and its eIDAS node
double) is who `GET /api/eugo/me` says; a staff token is no citizen's, and a citizen's token opens no staff route."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from kepctl.eidas_realms import TEST_CITIZENS, NodeCitizen
from kepctl.stack import StackSettings
from messages.errors import Unauthorized
from serve.citizens import Citizen, Loa, LoaTooLow, citizen_from_claims, require_loa
from serve.problems import error_response
from tests.conftest import OfficeFactory
from tests.helpers import bearer
from tests.kepctl.test_eidas_realms import citizen_token


def _by_country(country: str) -> NodeCitizen:
    return next(c for c in TEST_CITIZENS if c.person_identifier.startswith(f"{country}/"))


@pytest.fixture(scope="module")
def tokens() -> dict[str, str]:
    return {}


@pytest.fixture
async def token_of(stack: StackSettings, tokens: dict[str, str]) -> Callable[..., Any]:
    async def get(country: str) -> str:
        if country not in tokens:  # one sign-in per citizen and module: tokens live five minutes
            tokens[country] = await citizen_token(stack, _by_country(country))
        return tokens[country]

    return get


def _is_problem(resp: httpx.Response) -> bool:
    return resp.headers.get("content-type", "").startswith("application/problem+json")


@pytest.mark.parametrize("country", ["ES", "DE", "IT"])
async def test_a_citizen_sees_their_own_eidas_identity(
    http: httpx.AsyncClient, token_of: Callable[..., Any], country: str
) -> None:
    citizen = _by_country(country)
    resp = await http.get("/api/eugo/me", headers=bearer(await token_of(country)))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["country"] == country
    assert body["person_identifier"] == citizen.person_identifier
    assert body["person_id"] == citizen.person_identifier.split("/", 2)[2]
    assert (body["family_name"], body["given_name"]) == (citizen.family_name, citizen.given_name)
    assert body["birthdate"] == citizen.date_of_birth
    assert body["loa"] == citizen.loa
    assert body["subject"]


async def test_two_citizens_are_two_people(http: httpx.AsyncClient, token_of: Callable[..., Any]) -> None:
    es = (await http.get("/api/eugo/me", headers=bearer(await token_of("ES")))).json()
    de = (await http.get("/api/eugo/me", headers=bearer(await token_of("DE")))).json()
    assert es["subject"] != de["subject"]
    assert (es["country"], es["person_id"]) != (de["country"], de["person_id"])


async def test_no_token_or_a_staff_token_is_no_citizen(
    http: httpx.AsyncClient, token_for: Callable[..., str], make_office: OfficeFactory
) -> None:
    staff = token_for(await make_office(), roles=("administrator",))
    for headers in ({}, bearer("not.a.token"), bearer(staff)):
        resp = await http.get("/api/eugo/me", headers=headers)
        assert resp.status_code == 401, resp.text
        assert _is_problem(resp)


async def test_a_citizen_token_opens_no_staff_route(http: httpx.AsyncClient, token_of: Callable[..., Any]) -> None:
    token = await token_of("ES")
    for path in ("/api/cases", "/api/offices", "/api/procedures/search?q=birth"):
        resp = await http.get(path, headers=bearer(token))
        assert resp.status_code == 401, (path, resp.text)
        assert _is_problem(resp)
    opened = await http.post("/api/cases", headers=bearer(token), json={"procedure_id": str(uuid.uuid4())})
    assert opened.status_code == 401, opened.text


async def test_a_body_to_the_citizens_routes_passes_the_guard_with_a_citizens_token_only(
    http: httpx.AsyncClient, token_of: Callable[..., Any], token_for: Callable[..., str], make_office: OfficeFactory
) -> None:
    """The guard checks the token before it reads a body: under /api/eugo/ it is a citizen's it wants."""
    staff = token_for(await make_office(), roles=("administrator",))
    for headers in ({}, bearer(staff)):
        refused = await http.post("/api/eugo/me", headers=headers, json={})
        assert refused.status_code == 401, refused.text
        assert _is_problem(refused)
    passed = await http.post("/api/eugo/me", headers=bearer(await token_of("ES")), json={})
    assert passed.status_code == 405, passed.text  # through the guard to the route, which takes no body


async def test_a_citizen_token_with_changed_claims_is_refused(
    http: httpx.AsyncClient, token_of: Callable[..., Any]
) -> None:
    header, payload, signature = (await token_of("IT")).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["eidas_loa"] = "http://eidas.europa.eu/LoA/high"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    resp = await http.get("/api/eugo/me", headers=bearer(f"{header}.{forged}.{signature}"))
    assert resp.status_code == 401, resp.text


# ---------------------------------------------------------------------------------------------------------------
# the level of assurance, and the claims a citizen token must carry


def _citizen(loa: Loa) -> Citizen:
    return citizen_from_claims(
        "sub-1",
        {"eidas_person_identifier": "ES/EL/12345678Z", "eidas_loa": loa.uri, "birthdate": "1985-04-12"},
    )


@pytest.mark.parametrize(
    ("has", "minimum", "allowed"),
    [
        (Loa.LOW, "low", True),
        (Loa.LOW, "substantial", False),
        (Loa.LOW, Loa.HIGH, False),
        (Loa.SUBSTANTIAL, "http://eidas.europa.eu/LoA/substantial", True),
        (Loa.SUBSTANTIAL, "high", False),
        (Loa.HIGH, "substantial", True),
        (Loa.HIGH, Loa.HIGH, True),
    ],
)
def test_require_loa(has: Loa, minimum: Loa | str, allowed: bool) -> None:
    if allowed:
        require_loa(_citizen(has), minimum)
    else:
        with pytest.raises(LoaTooLow):
            require_loa(_citizen(has), minimum)


def test_a_level_too_low_is_a_clear_problem() -> None:
    with pytest.raises(LoaTooLow) as refused:
        require_loa(_citizen(Loa.LOW), "substantial")
    resp = error_response(refused.value, "/api/eugo/applications")
    assert resp.status_code == 403
    assert resp.media_type == "application/problem+json"
    body = json.loads(bytes(resp.body))
    assert body["detail"] == "level of assurance substantial required, got low"
    assert body["title"] == "Level of assurance too low"


@pytest.mark.parametrize(
    "claims",
    [
        {"eidas_loa": "http://eidas.europa.eu/LoA/low"},  # no PersonIdentifier
        {"eidas_person_identifier": "12345678Z", "eidas_loa": "http://eidas.europa.eu/LoA/low"},
        {"eidas_person_identifier": "ES/DE/12345678Z", "eidas_loa": "http://eidas.europa.eu/LoA/low"},  # not for EL
        {"eidas_person_identifier": "ES/EL/12345678Z"},  # no level of assurance
        {"eidas_person_identifier": "ES/EL/12345678Z", "eidas_loa": "http://eidas.europa.eu/LoA/medium"},
    ],
)
def test_a_token_without_a_valid_eidas_identity_is_no_citizen(claims: dict[str, Any]) -> None:
    with pytest.raises(Unauthorized):
        citizen_from_claims("sub-1", claims)


def test_a_citizen_is_keyed_on_country_and_person_id() -> None:
    citizen = citizen_from_claims(
        "sub-1", {"eidas_person_identifier": "DE/EL/T22000129", "eidas_loa": "http://eidas.europa.eu/LoA/high"}
    )
    assert citizen.key == ("DE", "T22000129")
    assert citizen.loa is Loa.HIGH

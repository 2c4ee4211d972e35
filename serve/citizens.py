"""EU citizens who signed in through eIDAS (the citizens' realm, kepctl/eidas_realms.py): their tokens checked, the
citizen they name, and the level of assurance a procedure may require.

A citizen is keyed on (country, person identifier) from the eIDAS PersonIdentifier, never on a Greek ΑΦΜ. Their
tokens are checked by the same code as the staff's (serve/security.py: JWKS, issuer, audience, expiry, access token
only) with the citizens' realm as issuer: a staff token is no citizen's, and a citizen token is refused by every staff
route (another issuer).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from enum import IntEnum
from typing import Annotated, Any

from fastapi import Depends, Header

from infra.settings import Settings
from messages.errors import Forbidden, Unauthorized
from serve import deps
from serve.context import Context
from serve.security import JwksSource, TokenVerifier

LOA_PREFIX = "http://eidas.europa.eu/LoA/"
SP_COUNTRY = "EL"  # the middle part of a PersonIdentifier meant for a Greek service provider
# `<citizen country>/<SP country>/<id>`; the id is the member state's (letters, digits, and more in some)
_PERSON_IDENTIFIER = re.compile(r"([A-Z]{2})/([A-Z]{2})/([^\s]{1,256})")
_BIRTHDATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class Loa(IntEnum):
    """The eIDAS levels of assurance, in order."""

    LOW = 1
    SUBSTANTIAL = 2
    HIGH = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def uri(self) -> str:
        return LOA_PREFIX + self.label

    @classmethod
    def parse(cls, value: str) -> Loa:
        """`low`, `substantial`, `high`, or their eIDAS URIs."""
        try:
            return cls[value.removeprefix(LOA_PREFIX).upper()]
        except KeyError:
            raise ValueError(f"not an eIDAS level of assurance: {value!r}") from None


class LoaTooLow(Forbidden):
    """The citizen signed in at a lower level of assurance than the action requires."""

    title = "Level of assurance too low"


@dataclass(frozen=True)
class Citizen:
    subject: str  # the citizens' realm's id of the account
    country: str  # ISO 3166 alpha-2 of the member state that identified them (ES, DE, …)
    person_id: str  # that state's identifier of them
    person_identifier: str  # as eIDAS gives it: `<country>/EL/<person_id>`
    family_name: str | None
    given_name: str | None
    birthdate: str | None  # YYYY-MM-DD
    loa: Loa
    expires_at: float | None = None

    @property
    def key(self) -> tuple[str, str]:
        """What identifies the citizen in our records."""
        return self.country, self.person_id


def require_loa(citizen: Citizen, minimum: Loa | str) -> None:
    """Refuses (403, problem+json) a citizen who signed in below `minimum`."""
    needed = minimum if isinstance(minimum, Loa) else Loa.parse(minimum)
    if citizen.loa < needed:
        raise LoaTooLow(
            f"level of assurance {needed.label} required, got {citizen.loa.label}",
            required=needed.label,
            got=citizen.loa.label,
        )


def _payload(token: str) -> dict[str, Any]:
    segment = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))))


def citizen_from_claims(subject: str, claims: dict[str, Any], expires_at: float | None = None) -> Citizen:
    identifier = claims.get("eidas_person_identifier")
    match = _PERSON_IDENTIFIER.fullmatch(identifier) if isinstance(identifier, str) else None
    if match is None:
        raise Unauthorized("invalid citizen token: no eIDAS PersonIdentifier (<country>/EL/<id>)")
    country, sp_country, person_id = match.groups()
    if sp_country != SP_COUNTRY:
        raise Unauthorized(f"invalid citizen token: the PersonIdentifier is meant for {sp_country}, not {SP_COUNTRY}")
    try:
        loa = Loa.parse(str(claims.get("eidas_loa", "")))
    except ValueError:
        raise Unauthorized("invalid citizen token: no eIDAS level of assurance") from None
    birthdate = claims.get("birthdate")
    return Citizen(
        subject=subject,
        country=country,
        person_id=person_id,
        person_identifier=str(identifier),
        family_name=claims.get("family_name"),
        given_name=claims.get("given_name"),
        birthdate=birthdate if isinstance(birthdate, str) and _BIRTHDATE.fullmatch(birthdate) else None,
        loa=loa,
        expires_at=expires_at,
    )


class CitizenVerifier:
    """A citizens' realm token: checked as any token (TokenVerifier, which remembers it while it is valid), then
    read for the citizen it names."""

    def __init__(self, tokens: TokenVerifier) -> None:
        self.tokens = tokens

    @classmethod
    def from_settings(cls, settings: Settings, ctx: Context) -> CitizenVerifier:
        issuer = settings.citizen_oidc_issuer
        jwks = JwksSource(settings.citizen_oidc_jwks_url or f"{issuer}/protocol/openid-connect/certs", ctx.http)
        return cls(TokenVerifier(issuer, settings.citizen_oidc_audience, jwks))

    async def verify(self, token: str) -> Citizen:
        principal = await self.tokens.verify(token)  # signature, issuer, audience, expiry: only then read it
        return citizen_from_claims(principal.subject, _payload(token), principal.expires_at)


@dataclass
class _Verifiers:
    ctx: Context | None = None
    verifier: CitizenVerifier | None = None


_replica = _Verifiers()


async def citizen_verifier() -> CitizenVerifier:
    ctx = await deps.get_context()
    if _replica.verifier is None or _replica.ctx is not ctx:
        _replica.ctx, _replica.verifier = ctx, CitizenVerifier.from_settings(ctx.settings, ctx)
    return _replica.verifier


async def get_citizen(authorization: Annotated[str | None, Header()] = None) -> Citizen:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthorized("a bearer access token of the citizens' realm is required")
    return await (await citizen_verifier()).verify(authorization[7:].strip())


CitizenCaller = Annotated[Citizen, Depends(get_citizen)]

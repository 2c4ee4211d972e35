"""Who is calling: OIDC access tokens checked against the issuer's JWKS; roles and office from the claims."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cachetools import TTLCache
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

from messages.errors import Forbidden, Unauthorized
from messages.roles import Role

# Asymmetric only: an HS256 token signed with a public key, or `alg: none`, never verifies.
ALGORITHMS = ["RS256", "PS256", "ES256"]
OFFICE_CLAIM = "kep_office"
JWKS_MAX_AGE = 300.0
UNKNOWN_KID_REFETCH_S = 30.0
VERIFIED_TTL_S = 60.0  # at most this long after the signing keys changed is a verified token trusted without them
TOKEN_ROLES = frozenset({Role.EMPLOYEE.value, Role.SUPERVISOR.value, Role.ADMINISTRATOR.value})


@dataclass(frozen=True)
class Principal:
    # The token's `sub`: the issuer's own, permanent id of the user (Keycloak: the user's UUID), which audit
    # records name. Not `preferred_username`: a realm may let usernames change, and a deleted account's
    # name can be given to someone else. The username stays in `name` when the token has no full name.
    subject: str
    office_id: uuid.UUID | None
    roles: frozenset[str]
    name: str | None = None
    expires_at: float | None = None  # the token's `exp`: long-lived responses (SSE) end there

    def require(self, *roles: Role) -> None:
        if not self.roles.intersection(r.value for r in roles):
            raise Forbidden(f"requires one of the roles: {', '.join(r.value for r in roles)}")

    def require_office(self) -> uuid.UUID:
        if self.office_id is None:
            raise Forbidden("the caller belongs to no office")
        return self.office_id


class JwksSource:
    """The issuer's signing keys, cached for JWKS_MAX_AGE. A token with an unknown `kid` may come after a key
    rotation: it triggers a refetch, at most one per UNKNOWN_KID_REFETCH_S whatever the kids (a stream of forged
    kids must not become a stream of requests to the issuer). The lock is taken only to fetch: checking a token
    against cached keys waits for nobody."""

    def __init__(self, url: str, client: httpx.AsyncClient | None = None) -> None:
        self.url = url
        self.client = client
        self._keys: KeySet | None = None
        self._fetched = 0.0
        self._refetched_for_kid = -UNKNOWN_KID_REFETCH_S
        self._lock = asyncio.Lock()

    async def _load(self) -> KeySet:
        if self.url.startswith("file://"):
            data: dict[str, Any] = json.loads(await asyncio.to_thread(Path(self.url[7:]).read_text))
        else:
            client = self.client or httpx.AsyncClient(timeout=5)
            resp = await client.get(self.url)
            resp.raise_for_status()
            data = resp.json()
        return KeySet.import_key_set(data)  # type: ignore[arg-type]

    def _usable(self, kid: str | None, now: float) -> KeySet | None:
        keys = self._keys
        if keys is None or now - self._fetched > JWKS_MAX_AGE:
            return None
        if kid is None or _has_kid(keys, kid) or now - self._refetched_for_kid < UNKNOWN_KID_REFETCH_S:
            return keys
        return None

    async def keys(self, kid: str | None) -> KeySet:
        keys = self._usable(kid, time.monotonic())
        if keys is not None:
            return keys
        async with self._lock:
            now = time.monotonic()
            keys = self._usable(kid, now)  # another caller may have fetched meanwhile
            if keys is not None:
                return keys
            if self._keys is not None and now - self._fetched <= JWKS_MAX_AGE:
                self._refetched_for_kid = now  # only an unknown kid brings us here with fresh keys
            try:
                self._keys = await self._load()
                self._fetched = time.monotonic()
            except (httpx.HTTPError, OSError, ValueError) as exc:
                if self._keys is None:
                    raise Unauthorized("the token issuer's keys cannot be fetched") from exc
                # the issuer is away: the keys we have serve on, and it is asked again in a while, not per token
                self._fetched = time.monotonic() - JWKS_MAX_AGE + UNKNOWN_KID_REFETCH_S
            return self._keys


def _has_kid(keys: KeySet, kid: str) -> bool:
    return any(k.kid == kid for k in keys.keys)


class TokenVerifier:
    """Checks a token's signature and claims once; the caller it names is then remembered until the token expires
    (a client sends the same token with every request for minutes: the signature check was the costliest part of
    serving a read)."""

    def __init__(self, issuer: str, audience: str, jwks: JwksSource, leeway: int = 30) -> None:
        self.issuer = issuer
        self.audience = audience
        self.jwks = jwks
        self.leeway = leeway
        self._verified: TTLCache[str, Principal] = TTLCache(maxsize=10_000, ttl=VERIFIED_TTL_S)
        self.registry = jwt.JWTClaimsRegistry(
            leeway=leeway,
            iss={"essential": True, "value": issuer},
            exp={"essential": True},
            sub={"essential": True},
        )

    async def verify(self, token: str) -> Principal:
        known = self._verified.get(token)
        if known is not None and known.expires_at is not None and time.time() < known.expires_at + self.leeway:
            return known
        principal = await self._verify(token)
        self._verified[token] = principal
        return principal

    async def _verify(self, token: str) -> Principal:
        try:
            header = extract_compact(token.encode()).protected
            keys = await self.jwks.keys(header.get("kid"))
            decoded = jwt.decode(token, keys, algorithms=ALGORITHMS)
            self.registry.validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise Unauthorized(f"invalid access token: {exc}") from None
        claims = decoded.claims
        aud = claims.get("aud")
        audiences = {aud} if isinstance(aud, str) else set(aud or [])
        # our audience in `aud` (the realm's audience mappers put it there); a token merely issued to a client of
        # that name (`azp`) is not one meant for this API
        if self.audience not in audiences:
            raise Unauthorized("invalid access token: wrong audience")
        # Keycloak signs its ID tokens (`typ: ID`) with the same key, and the web client's carry our audience:
        # only an access token (`typ: Bearer`, which Keycloak always sets) is a credential for the API.
        if str(claims.get("typ", "")).lower() != "bearer":
            raise Unauthorized("invalid access token: not an access token")
        return _principal(claims)


def _principal(claims: dict[str, Any]) -> Principal:
    # realm roles only, where Keycloak puts them: not a top-level `roles` claim, which any mapper or client scope
    # could add. Keycloak adds roles of its own (offline_access, default-roles-kep); only ours count.
    claimed = set((claims.get("realm_access") or {}).get("roles") or [])
    roles = {role for role in claimed if role in TOKEN_ROLES}
    office = claims.get(OFFICE_CLAIM)
    try:
        office_id = uuid.UUID(str(office)) if office else None
    except ValueError:
        raise Unauthorized(f"invalid access token: {OFFICE_CLAIM} is not a UUID") from None
    return Principal(
        subject=str(claims["sub"]),
        office_id=office_id,
        roles=frozenset(roles),
        name=claims.get("name") or claims.get("preferred_username"),
        expires_at=float(claims["exp"]) if "exp" in claims else None,
    )

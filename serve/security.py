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
    """The issuer's signing keys, cached; an unknown `kid` triggers one refetch (key rotation)."""

    def __init__(self, url: str, client: httpx.AsyncClient | None = None) -> None:
        self.url = url
        self.client = client
        self._keys: KeySet | None = None
        self._fetched = 0.0
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

    async def keys(self, kid: str | None) -> KeySet:
        async with self._lock:
            stale = time.monotonic() - self._fetched > JWKS_MAX_AGE
            unknown = kid is not None and self._keys is not None and not _has_kid(self._keys, kid)
            if self._keys is None or stale or unknown:
                try:
                    self._keys = await self._load()
                    self._fetched = time.monotonic()
                except (httpx.HTTPError, OSError, ValueError) as exc:
                    if self._keys is None:
                        raise Unauthorized("the token issuer's keys cannot be fetched") from exc
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
        if self.audience not in audiences and claims.get("azp") != self.audience:
            raise Unauthorized("invalid access token: wrong audience")
        # Keycloak signs its ID tokens (`typ: ID`) with the same key, and the web client's carry our audience:
        # only an access token is a credential for the API. Issuers without a `typ` claim are not affected.
        if str(claims.get("typ", "Bearer")).lower() != "bearer":
            raise Unauthorized("invalid access token: not an access token")
        return _principal(claims)


def _principal(claims: dict[str, Any]) -> Principal:
    claimed = set(claims.get("roles") or [])
    claimed.update((claims.get("realm_access") or {}).get("roles") or [])
    # Keycloak adds roles of its own (offline_access, default-roles-kep); only ours count, and never the process's
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

"""The caller must be an active user of the office its token names.

A token's `kep_office` claim comes from a user attribute in the identity provider; the `users` table is the
system's own record. Each request's caller is checked against it: a subject without a row, a deactivated account,
a token naming another office than the row's, or claiming a role the row no longer has, is refused (403), whatever
the token says (a role taken away counts from now, not from the token's expiry; a role given is in the next token).
A confirmed (subject, office, roles) is remembered for MEMBERSHIP_TTL_S per replica: a change takes effect within
that time, without a query per request; on the replica that made the change (which forgets the person's
confirmations) at once.
"""

from __future__ import annotations

import uuid

import asyncpg
from cachetools import TTLCache

from actors.users import members
from messages.errors import Forbidden
from serve.security import Principal

MEMBERSHIP_TTL_S = 30.0


class Membership:
    def __init__(self, pool: asyncpg.Pool[asyncpg.Record], ttl_s: float = MEMBERSHIP_TTL_S) -> None:
        self._pool = pool
        # only confirmations are remembered: a refusal is asked again, so a fixed account works at once
        self._confirmed: TTLCache[tuple[str, uuid.UUID | None, frozenset[str]], bool] = TTLCache(
            maxsize=10_000, ttl=ttl_s
        )

    async def check(self, principal: Principal) -> None:
        key = (principal.subject, principal.office_id, principal.roles)
        if key in self._confirmed:
            return
        member = await members.find(self._pool, principal.subject)
        if member is None:
            raise Forbidden("the caller is not a user of KEP Backoffice")
        if not member.active:
            raise Forbidden("the caller's account is deactivated")
        if member.office_id != principal.office_id:
            raise Forbidden("the access token names another office than the caller's")
        if taken := principal.roles - member.roles:
            raise Forbidden(f"the caller no longer has the role {', '.join(sorted(taken))}; sign in again")
        self._confirmed[key] = True

    def forget(self, subject: str) -> None:
        """Drop the subject's confirmations: their next request is checked again (after a deactivation or a move)."""
        for key in [k for k in list(self._confirmed) if k[0] == subject]:
            self._confirmed.pop(key, None)

"""The staff's accounts in Keycloak, through its Admin REST API (actors/keycloak_admin.py; the service account's
manage-users, view-users and query-users): username, names, e-mail, enabled, the office attribute `kep_office`
(which the realm's user profile lets only administrators see or change) and the realm roles of ours. Realm roles
that are not ours (default-roles-kep) are left as Keycloak gives them."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from actors.keycloak_admin import OFFICE_ATTRIBUTE, IdentityProviderRefused, KeycloakAdmin, said
from messages.errors import Conflict, FieldError, InvalidInput, KepError

ROLES = frozenset({"employee", "supervisor", "administrator"})
# Keycloak's names of the user profile's fields -> where they are in what the API was sent
_POINTERS = {
    "username": "/username",
    "email": "/email",
    "firstName": "/given_name",
    "lastName": "/family_name",
    OFFICE_ATTRIBUTE: "/office_id",
}


@dataclass(frozen=True)
class Account:
    """What Keycloak holds of a person. Names are None for accounts made before user administration: left as
    Keycloak has them."""

    username: str | None
    given_name: str | None
    family_name: str | None
    email: str | None
    office_id: uuid.UUID | None
    roles: frozenset[str]
    enabled: bool

    def representation(self) -> dict[str, Any]:
        rep: dict[str, Any] = {
            "enabled": self.enabled,
            "email": self.email or "",  # an empty string clears it; left out, Keycloak would keep the old one
            "attributes": {OFFICE_ATTRIBUTE: [str(self.office_id)] if self.office_id else []},
        }
        if self.given_name is not None:
            rep["firstName"] = self.given_name
        if self.family_name is not None:
            rep["lastName"] = self.family_name
        return rep


def _refused(resp: httpx.Response, subject: str) -> KepError:
    why = said(resp)
    if resp.status_code == 409:
        if "email" in why.lower():
            return InvalidInput.at("/email", "Keycloak has another user with this e-mail address", "duplicate")
        return InvalidInput.at("/username", "Keycloak has another user with this username", "duplicate")
    if resp.status_code == 400:
        return InvalidInput(f"Keycloak refused the account: {why}", _field_errors(resp, why))
    if resp.status_code == 404:
        return Conflict(f"Keycloak has no user {subject}: the account is not one Keycloak knows")
    return IdentityProviderRefused(f"Keycloak refused the account {subject}: {resp.status_code} {why}")


def _field_errors(resp: httpx.Response, why: str) -> list[FieldError]:
    """The user profile's validation errors, one per field (Keycloak sends one alone, or a list of them)."""
    with contextlib.suppress(ValueError):
        body = resp.json()
        found = body.get("errors", [body]) if isinstance(body, dict) else []
        errors = [
            FieldError(_POINTERS.get(str(e.get("field")), ""), str(e.get("errorMessage")), "keycloak")
            for e in found
            if isinstance(e, dict) and e.get("field")
        ]
        if errors:
            return errors
    return [FieldError("", why, "keycloak")]


class KeycloakAccounts(KeycloakAdmin):
    async def create(self, account: Account) -> str:
        """The new user's Keycloak id (the `sub` of their tokens); no password: Keycloak asks for one at the first
        sign-in. A user made but not given its roles is deleted again."""
        body = account.representation() | {"username": account.username, "requiredActions": ["UPDATE_PASSWORD"]}
        resp = await self.call("POST", "/users", body)
        if resp.status_code != 201:
            raise _refused(resp, str(account.username))
        kc_id = resp.headers["Location"].rstrip("/").rsplit("/", 1)[1]
        try:
            await self.set_roles(kc_id, account.roles)
        except BaseException:
            await self.delete(kc_id)
            raise
        return kc_id

    async def update(self, kc_id: str, account: Account) -> None:
        """Profile, office, enabled and roles as `account` has them (Keycloak keeps what the body leaves out)."""
        resp = await self.call("PUT", f"/users/{kc_id}", account.representation())
        if resp.status_code != 204:
            raise _refused(resp, kc_id)
        await self.set_roles(kc_id, account.roles)

    async def set_roles(self, kc_id: str, roles: frozenset[str]) -> None:
        """The user's realm roles of ours exactly `roles`. The roles' representations come from the user's own
        mappings (available, or held): reading the realm's roles would need view-realm, which the account lacks."""
        held = await self._roles(kc_id, "")
        have = {r["name"]: r for r in held if r["name"] in ROLES}
        if drop := [r for name, r in have.items() if name not in roles]:
            resp = await self.call("DELETE", f"/users/{kc_id}/role-mappings/realm", drop)
            if resp.is_error:
                raise _refused(resp, kc_id)
        if missing := roles - have.keys():
            available = {r["name"]: r for r in await self._roles(kc_id, "/available")}
            if unknown := missing - available.keys():
                raise IdentityProviderRefused(f"realm {self.realm} has no roles {sorted(unknown)}")
            resp = await self.call(
                "POST", f"/users/{kc_id}/role-mappings/realm", [available[name] for name in sorted(missing)]
            )
            if resp.is_error:
                raise _refused(resp, kc_id)

    async def _roles(self, kc_id: str, which: str) -> list[dict[str, Any]]:
        resp = await self.call("GET", f"/users/{kc_id}/role-mappings/realm{which}")
        if resp.status_code != 200:
            raise _refused(resp, kc_id)
        found: list[dict[str, Any]] = resp.json()
        return found

    async def logout(self, kc_id: str) -> None:
        """Ends every session of the user: their refresh tokens stop working at once (an access token already
        handed out stays valid until it expires: the API's membership check refuses it)."""
        resp = await self.call("POST", f"/users/{kc_id}/logout")
        if resp.status_code != 204:
            raise _refused(resp, kc_id)

    async def delete(self, kc_id: str) -> None:
        """Undo a creation (best effort: a failure here leaves a user that a retry's username reports)."""
        with contextlib.suppress(KepError):
            await self.call("DELETE", f"/users/{kc_id}")

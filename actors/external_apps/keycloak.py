"""The external applications' OIDC clients in Keycloak, through its Admin REST API (actors/keycloak_admin.py: the
confidential client `kep-apps-admin`, whose service account holds realm-management's manage-clients and
view-clients for this). Each application's client: public, standard flow only (no implicit, no password grant, no
service account), PKCE (S256) required, redirect URIs under the application's URL, the realm's scopes it asks for,
and the user's office attribute as the `kep_office` claim (as the API's own client has it)."""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import urlsplit

import httpx

from actors.keycloak_admin import OFFICE_ATTRIBUTE, IdentityProviderRefused, KeycloakAdmin, said
from messages.errors import InvalidInput, KepError


def office_mapper() -> dict[str, Any]:
    return {
        "name": OFFICE_ATTRIBUTE,
        "protocol": "openid-connect",
        "protocolMapper": "oidc-usermodel-attribute-mapper",
        "config": {
            "user.attribute": OFFICE_ATTRIBUTE,
            "claim.name": OFFICE_ATTRIBUTE,
            "jsonType.label": "String",
            "access.token.claim": "true",
            "id.token.claim": "true",
            "userinfo.token.claim": "true",
            "introspection.token.claim": "true",
        },
    }


def representation(*, client_id: str, name: str, url: str, description: str | None, active: bool) -> dict[str, Any]:
    base = url.rstrip("/")
    parts = urlsplit(url)
    return {
        "clientId": client_id,
        "name": name,
        "description": description or "",
        "enabled": active,
        "protocol": "openid-connect",
        "publicClient": True,
        "standardFlowEnabled": True,
        "implicitFlowEnabled": False,
        "directAccessGrantsEnabled": False,
        "serviceAccountsEnabled": False,
        "rootUrl": url,
        "baseUrl": url,
        "redirectUris": [base, f"{base}/*"],
        "webOrigins": [f"{parts.scheme}://{parts.netloc}"],
        "attributes": {"pkce.code.challenge.method": "S256", "post.logout.redirect.uris": f"{base}/*"},
    }


class KeycloakClients(KeycloakAdmin):
    @staticmethod
    def _refused(resp: httpx.Response, client_id: str) -> KepError:
        why = said(resp)
        if resp.status_code == 409:
            return InvalidInput.at("/client_id", f"Keycloak already has a client {client_id}", "duplicate")
        if resp.status_code == 400:
            where = "/url" if "redirect" in why.lower() or "url" in why.lower() else ""
            return InvalidInput.at(where, f"Keycloak refused the client: {why}", "keycloak")
        return IdentityProviderRefused(f"Keycloak refused the client {client_id}: {resp.status_code} {why}")

    async def create(self, rep: dict[str, Any], scopes: list[str]) -> str:
        """The new client's Keycloak id (with the office mapper and the default scopes asked for)."""
        body = rep | {"protocolMappers": [office_mapper()], "defaultClientScopes": scopes, "optionalClientScopes": []}
        resp = await self.call("POST", "/clients", body)
        if resp.status_code != 201:
            raise self._refused(resp, rep["clientId"])
        kc_id = resp.headers["Location"].rstrip("/").rsplit("/", 1)[1]
        try:
            await self.set_scopes(kc_id, scopes, rep["clientId"])
        except BaseException:
            await self.delete(kc_id)
            raise
        return kc_id

    async def update(self, kc_id: str, rep: dict[str, Any], scopes: list[str]) -> None:
        resp = await self.call("PUT", f"/clients/{kc_id}", rep)
        if resp.status_code != 204:
            raise self._refused(resp, rep["clientId"])
        await self.set_scopes(kc_id, scopes, rep["clientId"])

    async def set_scopes(self, kc_id: str, scopes: list[str], client_id: str) -> None:
        """The client's default scopes exactly `scopes` (Keycloak ignores them on a client's update)."""
        realm_scopes = await self.call("GET", "/client-scopes")
        if realm_scopes.status_code != 200:
            raise self._refused(realm_scopes, client_id)
        ids = {s["name"]: s["id"] for s in realm_scopes.json()}
        now = await self.call("GET", f"/clients/{kc_id}/default-client-scopes")
        if now.status_code != 200:
            raise self._refused(now, client_id)
        have = {s["name"] for s in now.json()}
        for name in have - set(scopes):
            if name in ids:
                resp = await self.call("DELETE", f"/clients/{kc_id}/default-client-scopes/{ids[name]}")
                if resp.is_error:
                    raise self._refused(resp, client_id)
        for name in set(scopes) - have:
            if name not in ids:
                raise InvalidInput.at("/scopes", f"realm {self.realm} has no client scope {name}", "keycloak")
            resp = await self.call("PUT", f"/clients/{kc_id}/default-client-scopes/{ids[name]}")
            if resp.is_error:
                raise self._refused(resp, client_id)

    async def find(self, client_id: str) -> str | None:
        """Keycloak's id of the client `client_id`, if it has one."""
        resp = await self.call("GET", f"/clients?clientId={client_id}")
        if resp.status_code != 200:
            raise self._refused(resp, client_id)
        found = resp.json()
        return str(found[0]["id"]) if found else None

    async def delete(self, kc_id: str) -> None:
        """Undo a creation (best effort: a failure here leaves a client that the next attempt reports)."""
        with contextlib.suppress(KepError):
            await self.call("DELETE", f"/clients/{kc_id}")

"""Keycloak's Admin REST API as the API's own confidential client `kep-apps-admin` (client credentials): its token,
kept until shortly before it lapses, and calls to realm `kep`'s admin endpoints. Its service account holds
realm-management's manage-clients and view-clients (external applications) and manage-users, view-users and
query-users (people); the clients of each domain (actors/external_apps/keycloak.py, actors/users/keycloak.py) build
on it. Keycloak unreachable is retryable (503); Keycloak refusing the API's own credentials is not (502)."""

from __future__ import annotations

import time
from typing import Any

import httpx

from infra.settings import Settings
from messages.errors import ConfigurationError, KepError, RetryableError

OFFICE_ATTRIBUTE = "kep_office"
# the local realm's development secret of `kep-apps-admin` (kepctl/realm.py); never used in production
DEV_SECRET = "kep-apps-admin-dev-secret"  # noqa: S105
TIMEOUT_S = 15.0


class IdentityProviderRefused(KepError):
    """Keycloak refused a change for a reason that is not the input's."""

    status = 502
    title = "Keycloak refused the change"


def said(resp: httpx.Response) -> str:
    """What Keycloak said about a refusal, in its own words (its error bodies differ by endpoint)."""
    try:
        body = resp.json()
    except ValueError:
        return resp.text
    if isinstance(body, dict):
        return str(body.get("errorMessage") or body.get("error_description") or body.get("error") or resp.text)
    return resp.text


class KeycloakAdmin:
    def __init__(self, settings: Settings, http: httpx.AsyncClient | None = None) -> None:
        issuer_base, _, issuer_realm = settings.oidc_issuer.rpartition("/realms/")
        self.url = (settings.keycloak_admin_url or issuer_base).rstrip("/")
        self.realm = settings.keycloak_admin_realm or issuer_realm
        secret = settings.keycloak_admin_client_secret
        if secret is None and settings.env == "production":
            raise ConfigurationError("KEP_KEYCLOAK_ADMIN_CLIENT_SECRET is not set")
        self.client_id = settings.keycloak_admin_client_id
        self.secret = secret.get_secret_value() if secret else DEV_SECRET
        self._http = http or httpx.AsyncClient(timeout=TIMEOUT_S)
        self._token = ""
        self._renew_at = 0.0

    @property
    def admin(self) -> str:
        return f"{self.url}/admin/realms/{self.realm}"

    async def _auth(self) -> dict[str, str]:
        if time.monotonic() >= self._renew_at:
            try:
                resp = await self._http.post(
                    f"{self.url}/realms/{self.realm}/protocol/openid-connect/token",
                    data={
                        "grant_type": "client_credentials",
                        "client_id": self.client_id,
                        "client_secret": self.secret,
                    },
                )
            except httpx.HTTPError as exc:
                raise RetryableError(f"Keycloak cannot be reached: {exc}") from exc
            if resp.status_code != 200:
                raise IdentityProviderRefused(f"Keycloak refused the API's credentials: {resp.status_code}")
            body = resp.json()
            self._token = body["access_token"]
            self._renew_at = time.monotonic() + max(float(body.get("expires_in", 60)) - 15, 1)
        return {"Authorization": f"Bearer {self._token}"}

    async def call(
        self, method: str, path: str, json: Any = None, params: dict[str, Any] | None = None
    ) -> httpx.Response:
        """One call below the realm's admin root (`/users/…`, `/clients/…`); unreachable is RetryableError."""
        try:
            return await self._http.request(
                method, f"{self.admin}{path}", json=json, params=params, headers=await self._auth()
            )
        except httpx.HTTPError as exc:
            raise RetryableError(f"Keycloak cannot be reached: {exc}") from exc

    async def aclose(self) -> None:
        await self._http.aclose()

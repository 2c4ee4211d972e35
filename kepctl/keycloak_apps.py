"""The API's service-account client (`kep-apps-admin`) in a Keycloak that already runs.

`--import-realm` reads the realm file only into an empty database; a Keycloak started before the client was added
to the realm gets it here, through the master realm's admin API, at every `kep services start` (idempotent: a
client that exists is left as it is, the service account's roles are added when missing).
"""

from __future__ import annotations

from typing import Any

import httpx

from kepctl.realm import APPS_ADMIN_CLIENT, APPS_ADMIN_ROLES, apps_admin_client
from kepctl.stack import REALM, StackSettings


def ensure_apps_admin_client(stack: StackSettings) -> None:
    base = f"{stack.keycloak_url}/admin/realms/{REALM}"
    with httpx.Client(timeout=30) as http:
        token = http.post(
            f"{stack.keycloak_url}/realms/master/protocol/openid-connect/token",
            data={
                "grant_type": "password",
                "client_id": "admin-cli",
                "username": stack.keycloak_admin_user,
                "password": stack.keycloak_admin_password.get_secret_value(),
            },
        )
        token.raise_for_status()
        http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

        def client_id(client: str) -> str | None:
            found: list[dict[str, Any]] = (
                http.get(f"{base}/clients", params={"clientId": client}).raise_for_status().json()
            )
            return str(found[0]["id"]) if found else None

        ours = client_id(APPS_ADMIN_CLIENT)
        if ours is None:
            http.post(f"{base}/clients", json=apps_admin_client()).raise_for_status()
            ours = client_id(APPS_ADMIN_CLIENT)
        account = http.get(f"{base}/clients/{ours}/service-account-user").raise_for_status().json()
        management = client_id("realm-management")
        mapped = http.get(f"{base}/users/{account['id']}/role-mappings/clients/{management}").raise_for_status().json()
        missing = set(APPS_ADMIN_ROLES) - {r["name"] for r in mapped}
        if missing:
            roles = [
                http.get(f"{base}/clients/{management}/roles/{name}").raise_for_status().json()
                for name in sorted(missing)
            ]
            http.post(f"{base}/users/{account['id']}/role-mappings/clients/{management}", json=roles).raise_for_status()

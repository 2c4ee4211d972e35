"""Real access tokens from the local Keycloak for tests: users of realm `kep` made on demand (admin REST API).

    async with KeycloakUsers(stack) as keycloak:
        token = await keycloak.token(office_id, ("employee",), subject="emp-1234")

A user is made once per (office, roles, subject) and then reused. Its Keycloak id, and so the `sub` of its
tokens, is `subject` when one is given (tests name the actors they expect in audit records and assignments),
otherwise a fresh UUID. Two tuples with the same subject share one Keycloak user, rewritten when the other tuple
asks for a token; give each test its own subjects. `aclose()` deletes the users and clients made here.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from kepctl.realm import CLI_CLIENT, OFFICE_ATTRIBUTE, ROLES
from kepctl.seed import USERS, sid
from kepctl.stack import REALM, StackSettings

Key = tuple[uuid.UUID | None, tuple[str, ...], str | None]
# Never overwrite a demo user (their ids are the seed's user ids).
_DEMO_IDS = frozenset(str(sid("user", u.subject)) for u in USERS)
_USERNAMES = uuid.UUID("0b6f3c1e-7a52-4a8e-b7d1-3f0c9e25a611")


class KeycloakError(RuntimeError):
    """The admin API or the token endpoint refused a request; the message has Keycloak's answer."""


@dataclass(frozen=True)
class RealmUser:
    id: str  # the `sub` of the user's tokens
    username: str
    password: str
    office_id: uuid.UUID | None
    roles: tuple[str, ...]


class KeycloakUsers:
    def __init__(self, stack: StackSettings, http: httpx.AsyncClient | None = None) -> None:
        self.stack = stack
        self._http = http or httpx.AsyncClient(timeout=30)
        self._owns_http = http is None
        self._admin_token = ""
        self._admin_renew_at = 0.0
        self._users: dict[Key, RealmUser] = {}
        self._wears: dict[str, Key] = {}  # subject -> the tuple its Keycloak user carries now
        self._client_ids: dict[str, str] = {}  # clientId -> Keycloak's id, for clients made here
        self._password = secrets.token_urlsafe(18)  # one per helper: these users live only as long as it does
        # One user change and token request at a time: a shared subject must not be rewritten mid-request.
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> KeycloakUsers:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def token(
        self, office_id: uuid.UUID | None, roles: tuple[str, ...] = ("employee",), subject: str | None = None
    ) -> str:
        """A fresh access token for the user of this tuple, made the first time it is asked for."""
        async with self._lock:
            user = await self._ensure(office_id, tuple(roles), subject)
            body = await self.password_grant(user.username, user.password)
        return str(body["access_token"])

    async def user(
        self, office_id: uuid.UUID | None, roles: tuple[str, ...] = ("employee",), subject: str | None = None
    ) -> RealmUser:
        async with self._lock:
            return await self._ensure(office_id, tuple(roles), subject)

    async def password_grant(self, username: str, password: str, client_id: str = CLI_CLIENT, **extra: str) -> Any:
        """Keycloak's whole token response (access token, refresh token, with `scope=openid` an ID token)."""
        resp = await self._http.post(
            self.stack.oidc_token_url,
            data={"grant_type": "password", "client_id": client_id, "username": username, "password": password} | extra,
        )
        if resp.status_code != 200:
            raise KeycloakError(f"token for {username} via {client_id}: {resp.status_code} {resp.text}")
        return resp.json()

    async def ensure_client(self, representation: dict[str, Any]) -> None:
        """Create (or replace) a client of realm `kep`, deleted again by `aclose()`."""
        body = await self._import({"clients": [representation]})
        self._client_ids[representation["clientId"]] = body["results"][0]["id"]

    async def admin(self, method: str, path: str, json: Any = None) -> httpx.Response:
        """A call to the admin API of realm `kep` (`path` below /admin/realms/kep)."""
        resp = await self._http.request(
            method, f"{self.stack.keycloak_url}/admin/realms/{REALM}{path}", json=json, headers=await self._auth()
        )
        if resp.is_error:
            raise KeycloakError(f"{method} {path}: {resp.status_code} {resp.text}")
        return resp

    async def aclose(self) -> None:
        try:
            for user in {u.id for u in self._users.values()}:
                await self._delete(f"/users/{user}")
            for client in self._client_ids.values():
                await self._delete(f"/clients/{client}")
        finally:
            self._users.clear()
            self._wears.clear()
            self._client_ids.clear()
            if self._owns_http:
                await self._http.aclose()

    async def _ensure(self, office_id: uuid.UUID | None, roles: tuple[str, ...], subject: str | None) -> RealmUser:
        key: Key = (office_id, roles, subject)
        user = self._users.get(key)
        if user is not None and (subject is None or self._wears.get(subject) == key):
            return user
        if unknown := set(roles) - set(ROLES):
            raise ValueError(f"realm {REALM} has no roles {sorted(unknown)}")
        if subject is not None and (subject in _DEMO_IDS or not 0 < len(subject) <= 36):
            raise ValueError(f"subject {subject!r} is a demo user's id, or not 1-36 characters (a Keycloak id)")
        user_id = subject or str(uuid.uuid4())
        # A subject's username is fixed, so a later test session replaces its user instead of clashing with it.
        username = f"test-{uuid.uuid5(_USERNAMES, user_id).hex}"
        user = RealmUser(user_id, username, self._password, office_id, roles)
        await self._import(
            {
                "users": [
                    {
                        # The partial import keeps a given id, which the ordinary "create user" call does not.
                        "id": user.id,
                        "username": user.username,
                        "enabled": True,
                        "attributes": {OFFICE_ATTRIBUTE: [str(office_id)]} if office_id else {},
                        "realmRoles": list(roles),
                        "credentials": [{"type": "password", "value": user.password, "temporary": False}],
                    }
                ]
            }
        )
        self._users[key] = user
        if subject is not None:
            self._wears[subject] = key
        return user

    async def _import(self, resources: dict[str, Any]) -> Any:
        return (await self.admin("POST", "/partialImport", {"ifResourceExists": "OVERWRITE", **resources})).json()

    async def _delete(self, path: str) -> None:
        resp = await self._http.delete(
            f"{self.stack.keycloak_url}/admin/realms/{REALM}{path}", headers=await self._auth()
        )
        if resp.is_error and resp.status_code != 404:
            raise KeycloakError(f"DELETE {path}: {resp.status_code} {resp.text}")

    async def _auth(self) -> dict[str, str]:
        # One admin token, renewed shortly before it lapses (the master realm's access tokens live a minute).
        if time.monotonic() >= self._admin_renew_at:
            resp = await self._http.post(
                f"{self.stack.keycloak_url}/realms/master/protocol/openid-connect/token",
                data={
                    "grant_type": "password",
                    "client_id": "admin-cli",
                    "username": self.stack.keycloak_admin_user,
                    "password": self.stack.keycloak_admin_password.get_secret_value(),
                },
            )
            if resp.status_code != 200:
                raise KeycloakError(f"admin token: {resp.status_code} {resp.text}")
            body = resp.json()
            self._admin_token = body["access_token"]
            self._admin_renew_at = time.monotonic() + max(float(body["expires_in"]) - 15, 1)
        return {"Authorization": f"Bearer {self._admin_token}"}

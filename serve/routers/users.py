"""People (issue 17, part 2) over HTTP: the staff's accounts, each one mirrored into Keycloak.

Who does what, and why:
- Administrators (central) everything at `/api/admin/users…`: list, read, history, create, change (names, e-mail,
  roles), move to another office, deactivate (the Keycloak user disabled and their sessions ended), reactivate.
- Supervisors read their own office's people (`/api/users`, deactivated ones included, and each one's history) but
  change nothing: roles and office decide what a token may do, and an e-mail address decides where a password
  reset goes, so every change of an account is the central administration's, as in the system this one rebuilds.
- Employees read their own office's directory (active people only).
Another office's person is 404 to staff, asking for another office's list 403. Every change is audited
(`admin_audit`, entity `user`) in its transaction, and takes effect at once on this replica (its membership
confirmations of the person are dropped); other replicas within `MEMBERSHIP_TTL_S` (serve/membership.py).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from actors.users import store
from actors.users.keycloak import KeycloakAccounts
from messages.catalog import AuditEntry
from messages.errors import ConfigurationError, Forbidden
from messages.roles import Role
from messages.users import Move, Reason, User, UserChange, UserFilter, UserNew, UserPage
from serve import deps
from serve.deps import Admin, AnyRole, Ctx, RequestId, SupervisorOrAdmin
from serve.routers.cases import PROBLEMS

router = APIRouter(tags=["users"], responses=PROBLEMS)

_accounts: dict[str, KeycloakAccounts] = {}


async def keycloak() -> KeycloakAccounts:
    """The replica's Admin REST API client for accounts (one, made at its first use)."""
    if "kc" not in _accounts:
        if deps.replica.settings is None:
            raise ConfigurationError("the HTTP replica was not configured")
        _accounts["kc"] = KeycloakAccounts(deps.replica.settings)
    return _accounts["kc"]


async def sight(caller: AnyRole) -> store.Sight:
    """What the caller may see (403 without a role of ours)."""
    if Role.ADMINISTRATOR in caller.roles:
        return store.EVERYTHING
    return store.Sight(everything=False, own=caller.office_id, active_only=Role.SUPERVISOR not in caller.roles)


Seen = Annotated[store.Sight, Depends(sight)]
Keycloak = Annotated[KeycloakAccounts, Depends(keycloak)]
Filter = Annotated[UserFilter, Query()]


@router.get("/api/users", response_model=UserPage)
async def directory(seen: Seen, ctx: Ctx, f: Filter) -> UserPage:
    """The caller's office's people by name (administrators: everyone), a page at a time (`q`, `office_id`, `role`,
    `active`); another office's list is 403 to staff."""
    if f.office_id is not None and not seen.everything and f.office_id != seen.own:
        raise Forbidden("staff read only their own office's people")
    async with ctx.pool.acquire() as conn:
        return await store.list_users(conn=conn, f=f, sight=seen)


@router.get("/api/users/{user_id}", response_model=User)
async def directory_entry(user_id: uuid.UUID, seen: Seen, ctx: Ctx) -> User:
    async with ctx.pool.acquire() as conn:
        return await store.get_user(conn=conn, user_id=user_id, sight=seen)


@router.get("/api/users/{user_id}/history", response_model=list[AuditEntry])
async def directory_history(user_id: uuid.UUID, seen: Seen, caller: SupervisorOrAdmin, ctx: Ctx) -> list[AuditEntry]:
    """Every change of the person's account, oldest first (administrators; a supervisor their own office's)."""
    async with ctx.pool.acquire() as conn:
        await store.get_user(conn=conn, user_id=user_id, sight=seen)
        return await store.history(conn=conn, user_id=user_id)


@router.get("/api/admin/users", response_model=UserPage)
async def list_users(admin: Admin, ctx: Ctx, f: Filter) -> UserPage:
    """Everyone by name, a page at a time (`q`: every word in the username, name or e-mail; `office_id`, `role`,
    `active`)."""
    async with ctx.pool.acquire() as conn:
        return await store.list_users(conn=conn, f=f, sight=store.EVERYTHING)


@router.get("/api/admin/users/{user_id}", response_model=User)
async def get_user(user_id: uuid.UUID, admin: Admin, ctx: Ctx) -> User:
    async with ctx.pool.acquire() as conn:
        return await store.get_user(conn=conn, user_id=user_id)


@router.get("/api/admin/users/{user_id}/history", response_model=list[AuditEntry])
async def history(user_id: uuid.UUID, admin: Admin, ctx: Ctx) -> list[AuditEntry]:
    async with ctx.pool.acquire() as conn:
        await store.get_user(conn=conn, user_id=user_id)
        return await store.history(conn=conn, user_id=user_id)


@router.post("/api/admin/users", response_model=User, status_code=201)
async def create_user(
    body: UserNew, admin: Admin, ctx: Ctx, kc: Keycloak, request_id: RequestId, response: Response
) -> User:
    """A new account and its Keycloak user (no password: Keycloak asks for one at the first sign-in). An unknown
    or inactive office, a username or e-mail address taken, anything Keycloak refuses of the input: 422 with its
    pointer, nothing written anywhere; Keycloak unreachable 503. Audited."""
    async with ctx.pool.acquire() as conn:
        user = await store.create(conn=conn, keycloak=kc, new=body, actor=admin.subject, request_id=request_id)
    response.headers["Location"] = f"/api/admin/users/{user.id}"
    return user


@router.patch("/api/admin/users/{user_id}", response_model=User)
async def change_user(
    user_id: uuid.UUID, body: UserChange, admin: Admin, ctx: Ctx, kc: Keycloak, request_id: RequestId
) -> User:
    """Names, e-mail address (null clears it), roles (new ones are in the person's next token; a token still
    claiming one taken away is refused from now on, on this replica at once); a field left out stays. An
    administrator does not drop their own administrator role (422). Audited."""
    async with ctx.pool.acquire() as conn:
        user = await store.change(
            conn=conn, keycloak=kc, user_id=user_id, change=body, actor=admin.subject, request_id=request_id
        )
    ctx.membership.forget(user.subject)
    return user


@router.post("/api/admin/users/{user_id}/move", response_model=User)
async def move_user(
    user_id: uuid.UUID, body: Move, admin: Admin, ctx: Ctx, kc: Keycloak, request_id: RequestId
) -> User:
    """To another office: the row and the Keycloak attribute; tokens naming the old office are refused from now
    on (this replica) and the person leaves the old office's positions. Audited with both offices."""
    async with ctx.pool.acquire() as conn:
        user = await store.move(
            conn=conn, keycloak=kc, user_id=user_id, move=body, actor=admin.subject, request_id=request_id
        )
    ctx.membership.forget(user.subject)
    return user


@router.post("/api/admin/users/{user_id}/deactivate", response_model=User)
async def deactivate_user(
    user_id: uuid.UUID, admin: Admin, ctx: Ctx, kc: Keycloak, request_id: RequestId, body: Reason | None = None
) -> User:
    """The account off: the Keycloak user disabled, their sessions ended (no new token, no refresh), and an access
    token they still hold refused by the API. An administrator does not deactivate themselves (422). Audited."""
    async with ctx.pool.acquire() as conn:
        user = await store.set_active(conn=conn, keycloak=kc, user_id=user_id, active=False,
                                      reason=(body or Reason()).reason, actor=admin.subject,
                                      request_id=request_id)  # fmt: skip
    ctx.membership.forget(user.subject)
    return user


@router.post("/api/admin/users/{user_id}/reactivate", response_model=User)
async def reactivate_user(
    user_id: uuid.UUID, admin: Admin, ctx: Ctx, kc: Keycloak, request_id: RequestId, body: Reason | None = None
) -> User:
    """The account on again (the Keycloak user enabled). Audited."""
    async with ctx.pool.acquire() as conn:
        return await store.set_active(conn=conn, keycloak=kc, user_id=user_id, active=True,
                                      reason=(body or Reason()).reason, actor=admin.subject,
                                      request_id=request_id)  # fmt: skip

"""External applications (issue 17, part 6) over HTTP.

Administrators register and change them (`/api/admin/apps…`), each change carried to the application's OIDC client
in Keycloak before it commits; none is deleted (deactivation disables the client). Supervisors read their own
office's list (`GET /api/offices/{id}/apps`: another office's is 403). Every member of staff reads what they may
open (`GET /api/me/apps`: active, for one of their roles or for every role, for their office or for every office).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from actors.external_apps import store
from actors.external_apps.keycloak import KeycloakClients
from messages.catalog import AuditEntry
from messages.errors import ConfigurationError, Forbidden
from messages.external_apps import AppChange, AppNew, AppPage, ExternalApp, MyApp
from messages.roles import Role
from serve import deps
from serve.deps import Admin, AnyRole, Ctx, RequestId, SupervisorOrAdmin
from serve.routers.cases import PROBLEMS

router = APIRouter(tags=["external applications"], responses=PROBLEMS)

_clients: dict[str, KeycloakClients] = {}


async def keycloak() -> KeycloakClients:
    """The replica's Admin REST API client (one, made at its first use)."""
    if "kc" not in _clients:
        if deps.replica.settings is None:
            raise ConfigurationError("the HTTP replica was not configured")
        _clients["kc"] = KeycloakClients(deps.replica.settings)
    return _clients["kc"]


Keycloak = Annotated[KeycloakClients, Depends(keycloak)]
Page = Annotated[int, Query(ge=1, le=10_000)]
Size = Annotated[int, Query(ge=1, le=100)]


@router.get("/api/me/apps", response_model=list[MyApp])
async def my_apps(caller: AnyRole, ctx: Ctx) -> list[MyApp]:
    """The active applications the caller may open, by name."""
    async with ctx.pool.acquire() as conn:
        return await store.my_apps(conn=conn, roles=caller.roles, office_id=caller.office_id)


@router.get("/api/offices/{office_id}/apps", response_model=AppPage)
async def office_apps(
    office_id: uuid.UUID,
    caller: SupervisorOrAdmin,
    ctx: Ctx,
    page: Page = 1,
    size: Size = 50,
    active: bool | None = None,
) -> AppPage:
    """The applications an office's staff may open (by role or not): its supervisors' and administrators' view."""
    if Role.ADMINISTRATOR not in caller.roles and caller.office_id != office_id:
        raise Forbidden("a supervisor reads only their own office's applications")
    async with ctx.pool.acquire() as conn:
        return await store.list_apps(conn=conn, office_id=office_id, active=active, page=page, size=size)


@router.get("/api/admin/apps", response_model=AppPage)
async def list_apps(
    admin: Admin,
    ctx: Ctx,
    page: Page = 1,
    size: Size = 50,
    active: bool | None = None,
    office_id: Annotated[uuid.UUID | None, Query(description="only those this office may open")] = None,
) -> AppPage:
    async with ctx.pool.acquire() as conn:
        return await store.list_apps(conn=conn, office_id=office_id, active=active, page=page, size=size)


@router.get("/api/admin/apps/{app_id}", response_model=ExternalApp)
async def get_app(app_id: uuid.UUID, admin: Admin, ctx: Ctx) -> ExternalApp:
    async with ctx.pool.acquire() as conn:
        return await store.get_app(conn=conn, app_id=app_id)


@router.get("/api/admin/apps/{app_id}/audit", response_model=list[AuditEntry])
async def app_audit(app_id: uuid.UUID, admin: Admin, ctx: Ctx) -> list[AuditEntry]:
    async with ctx.pool.acquire() as conn:
        await store.get_app(conn=conn, app_id=app_id)
        return await store.audit(conn=conn, app_id=app_id)


@router.post("/api/admin/apps", response_model=ExternalApp, status_code=201)
async def register_app(
    body: AppNew, admin: Admin, ctx: Ctx, kc: Keycloak, request_id: RequestId, response: Response
) -> ExternalApp:
    """A new application and its Keycloak client; a duplicate client id, an unknown office, or a client Keycloak
    refuses are 422 with their pointers (nothing written anywhere), Keycloak failing otherwise 502. Audited."""
    async with ctx.pool.acquire() as conn:
        app = await store.create(conn=conn, keycloak=kc, new=body, actor=admin.subject, request_id=request_id)
    response.headers["Location"] = f"/api/admin/apps/{app.id}"
    return app


@router.patch("/api/admin/apps/{app_id}", response_model=ExternalApp)
async def change_app(
    app_id: uuid.UUID, body: AppChange, admin: Admin, ctx: Ctx, kc: Keycloak, request_id: RequestId
) -> ExternalApp:
    """The fields sent; its client follows (`active: false` disables it). Audited."""
    async with ctx.pool.acquire() as conn:
        return await store.change(
            conn=conn, keycloak=kc, app_id=app_id, change=body, actor=admin.subject, request_id=request_id
        )

"""Form definitions: administrators save new versions (checked on save); staff read them to render."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from actors.forms import store
from messages.cases import INT4_MAX
from messages.forms import FormVersion, SaveFormRequest
from serve import paging
from serve.deps import Admin, AnyRole, Ctx
from serve.routers.cases import PROBLEMS

router = APIRouter(tags=["forms"], responses=PROBLEMS)
Key = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{1,99}$")]


@router.post("/api/admin/forms", status_code=201, response_model=FormVersion)
async def save_form(body: SaveFormRequest, admin: Admin, ctx: Ctx) -> FormVersion:
    """A new version of the form `key` (the first one creates it). Components, validators or conditions the
    server cannot check (custom JavaScript, unknown types, remote data sources...) are refused with pointers."""
    async with ctx.pool.acquire() as conn:
        return await store.save_form(conn=conn, request=body, actor=admin.subject)


@router.get("/api/admin/forms/{key}", response_model=list[FormVersion])
async def form_versions(
    key: Key,
    _: Admin,
    ctx: Ctx,
    request: Request,
    response: Response,
    limit: paging.Limit = paging.DEFAULT_LIMIT,
    after: Annotated[int | None, Query(ge=1, le=INT4_MAX, description="the last version seen")] = None,
) -> list[FormVersion]:
    """The form's versions, newest first, a page at a time (the next one in the `Link` header)."""
    async with ctx.pool.acquire() as conn:
        found = await store.versions(conn=conn, key=key, before=after, limit=limit + 1)
    versions, headers = paging.page(request, found, limit, lambda form: str(form.version))
    response.headers.update(headers)
    return versions


@router.get("/api/forms/{key}", response_model=FormVersion)
async def current_form(
    key: Key, caller: AnyRole, ctx: Ctx, version: Annotated[int | None, Query(ge=1, le=INT4_MAX)] = None
) -> FormVersion:
    """The definition to render (newest, or the `version` a case was filled with)."""
    async with ctx.pool.acquire() as conn:
        return await store.get_form(conn=conn, key=key, version=version)

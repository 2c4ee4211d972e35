"""Document templates: administrators read the versions of a procedure's receipt or certificate (or the defaults),
save a new one (checked first: it parses, names only fields a document has, renders) and preview one on a case."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from actors.catalog.store import get_procedure
from actors.documents import store
from actors.documents.renderer import RENDERER
from actors.handles import NamedActor
from messages.documents import Lang, TemplateKind, TemplateUpload, TemplateVersion
from serve.deps import Admin, Ctx
from serve.routers.cases import PROBLEMS

router = APIRouter(prefix="/api/admin/templates", tags=["templates"], responses=PROBLEMS)
ProcedureId = Annotated[uuid.UUID | None, Query(description="the procedure's own versions; absent: the defaults")]


@router.get("/preview/{template_id}", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}, "description": "the PDF, not recorded"}})  # fmt: skip
async def preview_template(
    template_id: uuid.UUID, case_id: Annotated[uuid.UUID, Query()], _: Admin, ctx: Ctx
) -> Response:
    """The template version printed with a case's inputs, as Chromium prints it; nothing is stored or recorded."""
    async with ctx.pool.acquire() as conn:
        await store.get(conn=conn, template_id=template_id)  # 404 before the renderer is asked
    pdf: bytes = await NamedActor(f"{RENDERER}-0", ctx.settings.ray_namespace).call("preview", case_id, template_id)
    return Response(pdf, media_type="application/pdf", headers={"Content-Disposition": "inline; filename=preview.pdf"})


@router.get("/{kind}/{lang}", response_model=list[TemplateVersion])
async def template_versions(
    kind: TemplateKind, lang: Lang, _: Admin, ctx: Ctx, procedure_id: ProcedureId = None
) -> list[TemplateVersion]:
    """Every version, newest first (a handful per procedure: unpaged)."""
    async with ctx.pool.acquire() as conn:
        if procedure_id is not None:
            await get_procedure(conn=conn, procedure_id=procedure_id)  # 404 for an unknown procedure
        return await store.versions(conn=conn, procedure_id=procedure_id, kind=kind, lang=lang)


@router.post("/{kind}/{lang}", status_code=201, response_model=TemplateVersion)
async def save_template(
    kind: TemplateKind, lang: Lang, body: TemplateUpload, admin: Admin, ctx: Ctx, procedure_id: ProcedureId = None
) -> TemplateVersion:
    """A new version; documents rendered from now on use it. Refused (422, pointer `/body`) when it does not
    parse, names a field a document does not have, or does not render."""
    async with ctx.pool.acquire() as conn:
        if procedure_id is not None:
            await get_procedure(conn=conn, procedure_id=procedure_id)
        return await store.save(conn=conn, procedure_id=procedure_id, kind=kind, lang=lang, body=body.body,
                                actor=admin.subject)  # fmt: skip

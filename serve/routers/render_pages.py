"""The internal pages Chromium prints. Not under `/api/`: no user token opens them (a user token is not a render
token), and the ingress publishes only `/api/` (deployments/k8s). Each page is reachable for a minute with the
render token of exactly one document; a token for a case that changed since the job read it is refused (403)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import HTMLResponse

from actors.documents import inputs, templates, tokens
from actors.documents import store as templates_store
from messages.errors import Forbidden
from serve.deps import Ctx
from serve.routers.cases import PROBLEMS

router = APIRouter(prefix="/internal/render", tags=["internal"], responses=PROBLEMS, include_in_schema=False)
Token = Annotated[str, Path(max_length=4096)]
# the page loads nothing from anywhere: Chromium prints only what the template holds
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:"


@router.get("/{token}", response_class=HTMLResponse)
async def render_page(token: Token, ctx: Ctx) -> HTMLResponse:
    claims = tokens.verify(ctx.settings.render_secret.get_secret_value().encode(), token)
    async with ctx.pool.acquire() as conn:
        made_of = await inputs.gather(conn=conn, case_id=claims.case_id, office_id=claims.office_id, lang=claims.lang)
        template = await templates_store.get(conn=conn, template_id=claims.template_id)
    if inputs.inputs_hash(made_of) != claims.inputs_hash or template.kind is not claims.kind:
        raise Forbidden("the render token is for another document (the case changed since it was issued)")
    code = inputs.verification_code(ctx.settings.render_secret.get_secret_value().encode(), claims.document_id)
    context = {
        **made_of,
        "form": templates.AnyForm(made_of["form"]),
        "title": claims.kind.value,
        "issued_at": claims.issued_at.isoformat(),
        "verification": {"code": code, "url": f"{ctx.settings.public_url.rstrip('/')}/api/public/documents/{code}"},
    }
    html = templates.render(template.body, context)
    return HTMLResponse(html, headers={"Content-Security-Policy": _CSP, "Cache-Control": "no-store"})

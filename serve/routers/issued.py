"""Documents the system issues: an employee asks for one (rendered in the background, then on the case and in the
live stream), and anyone holding a verification code, or the PDF itself, asks whether it is authentic."""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict

from actors.cases import store as case_store
from actors.documents import signing
from actors.documents import store as documents_store
from actors.documents.identity import trust_roots_from_settings
from infra import amqp
from messages.documents import (
    RENDER_MESSAGE,
    RENDER_TOPIC,
    Lang,
    RenderAccepted,
    RenderRequest,
    TemplateKind,
    Verification,
)
from messages.envelope import new_id
from messages.errors import InvalidInput, NotFound
from serve import guard
from serve.deps import Ctx, RequestId, Staff
from serve.routers.cases import PROBLEMS

router = APIRouter(tags=["documents"], responses=PROBLEMS)
VERIFY_MAX_BYTES = 20 * 1024 * 1024
# what a PDF may be checked at: bodies of this route need no token (it is public) and may be larger than JSON
VERIFY_BODIES = guard.LargerBodies("POST", re.compile(r"/api/public/documents"), VERIFY_MAX_BYTES)
Code = Annotated[str, Path(pattern=r"^[A-Za-z2-7]{4}(-?[A-Za-z2-7]{4}){3}$")]


class RenderBody(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: TemplateKind
    lang: Lang = Lang.EL


@router.post("/api/cases/{case_id}/documents/render", status_code=202, response_model=RenderAccepted)
async def render_document(
    case_id: uuid.UUID, body: RenderBody, caller: Staff, ctx: Ctx, request_id: RequestId, response: Response
) -> RenderAccepted:
    """Ask for the case's receipt or certificate. Rendered in the background: the document appears on the case
    (kind `generated`) and in the office's live stream. Asked again while the case is unchanged, it is the same
    document."""
    office = caller.require_office()
    async with ctx.pool.acquire() as conn:
        await case_store.get_case(conn=conn, case_id=case_id, office_id=office)  # 404 for another office's case
    job = RenderRequest(case_id=case_id, office_id=office, kind=body.kind, lang=body.lang,
                        requested_by=caller.subject, request_id=request_id)  # fmt: skip
    exchange = await ctx.tasks_exchange()
    message = amqp.raw_message(job.model_dump_json().encode(), str(new_id()), RENDER_MESSAGE)
    await amqp.publish(exchange, message, routing_key=RENDER_TOPIC)
    response.headers["Location"] = f"/api/cases/{case_id}/documents"
    return RenderAccepted(case_id=case_id, kind=body.kind, lang=body.lang)


@router.get("/api/public/documents/{code}", response_model=Verification)
async def verify_code(code: Code, ctx: Ctx) -> Verification:
    """Public: whether a document with this verification code was issued, what it is, and which office issued it
    when. Nothing about the citizen. 404 for a code no document carries."""
    async with ctx.pool.acquire() as conn:
        return await documents_store.verify(conn=conn, code=_canonical(code))


@router.post("/api/public/documents", response_model=Verification,
             openapi_extra={"requestBody": {"required": True, "content": {"application/pdf": {"schema": {
                 "type": "string", "format": "binary"}}}}})  # fmt: skip
async def verify_pdf(request: Request, ctx: Ctx) -> Verification:
    """Public: the PDF itself (`application/pdf`, at most 20 MB): authentic when these exact bytes were issued
    and, for a signed document, its signature is intact and chains to the issuer's certificate."""
    pdf = await request.body()
    if not pdf.startswith(b"%PDF-"):
        raise InvalidInput.at("", "the body is not a PDF", "content_type")
    async with ctx.pool.acquire() as conn:
        code = await documents_store.find_by_hash(conn=conn, sha256=hashlib.sha256(pdf).hexdigest())
        if code is None:
            raise NotFound("no document with exactly these bytes was issued here")
        found = await documents_store.verify(conn=conn, code=code)
    if found.signed:
        check = await signing.check_signature(pdf, trust_roots_from_settings(ctx.settings))
        if check is None or not (check.intact and check.trusted):
            return found.model_copy(update={"authentic": False})
    return found


def _canonical(code: str) -> str:
    plain = code.replace("-", "").upper()
    return "-".join(plain[i : i + 4] for i in range(0, 16, 4))

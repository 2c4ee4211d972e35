"""Documents of a case: uploads checked against the procedure's limits, stored under our keys, downloaded by
presigned link. The bytes are stored before the case records them; if recording fails, they are deleted again
(unless a retry of the same upload recorded them meanwhile)."""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import puremagic
from fastapi import APIRouter, Query, Request, Response
from starlette.datastructures import FormData
from starlette.datastructures import UploadFile as StarletteUploadFile

from actors.cases import documents as case_documents
from actors.cases import idempotency, store
from actors.cases.documents import safe_filename
from messages.cases import CaseAction, DocumentView
from messages.catalog import ATTACHMENT_MAX_MB_CEILING
from messages.envelope import new_id
from messages.errors import Busy, FieldError, InvalidInput, TooLarge
from serve import guard, paging
from serve.context import Context
from serve.deps import Ctx, RequestId, Staff
from serve.routers.cases import PROBLEMS, REPLAYED, IdempotencyKey_, act, keyed
from serve.security import Principal

router = APIRouter(prefix="/api/cases", tags=["documents"], responses=PROBLEMS)
CHUNK = 256 * 1024
SNIFF_BYTES = 8192
MULTIPART_FRAMING = 64 * 1024  # boundaries, part headers and the `kind` field around the file
UPLOAD_SLOT_WAIT_S = 10.0  # how long an upload waits for one of the replica's slots before 503
DEFAULT_KIND = "supporting"
_KIND = re.compile(r"[a-z][a-z0-9_-]{0,49}")
# Bodies of this route may be as large as the largest limit a procedure may set; the handler lowers it to the
# procedure's own before it reads a byte.
UPLOAD_BODIES = guard.LargerBodies(
    "POST", re.compile(r"/api/cases/[^/]+/documents"), ATTACHMENT_MAX_MB_CEILING * 1024 * 1024 + MULTIPART_FRAMING
)
_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "kind": {"type": "string", "pattern": f"^{_KIND.pattern}$", "default": DEFAULT_KIND},
                    },
                }
            }
        },
    }
}
DOWNLOAD_LINK_TTL = timedelta(minutes=5)


def _sniff(head: bytes) -> str | None:
    try:
        return str(puremagic.from_string(head, mime=True)) or None
    except puremagic.PureError:
        return None


@router.post("/{case_id}/documents", status_code=201, response_model=DocumentView, openapi_extra=_UPLOAD_BODY)
async def upload_document(
    case_id: uuid.UUID,
    request: Request,
    caller: Staff,
    ctx: Ctx,
    request_id: RequestId,
    response: Response,
    idempotency_key: IdempotencyKey_ = None,
) -> DocumentView:
    """Multipart `file` (+ `kind`). The type is what the bytes are, not what the client says; size and types are
    the procedure's limits (413 / 422 with the path `/file`), checked before the body is read where it declares
    its length, and while it is read otherwise. Retried with the same `Idempotency-Key` and file, it answers with
    the document recorded the first time and stores nothing again."""
    office = caller.require_office()
    async with ctx.pool.acquire() as conn:  # a foreign or missing case is a 404 before a byte is read
        limits = await case_documents.upload_limits(
            conn=conn,
            case_id=case_id,
            office_id=office,
            default_mb=ctx.settings.attachment_max_mb,
            default_types=ctx.settings.attachment_types,
        )
    too_large = TooLarge(
        f"the file is over {limits.max_mb} MB",
        [FieldError("/file", f"at most {limits.max_mb} MB for this procedure", "size")],
    )
    # a declared length over it is refused unread; a body that grows over it is cut while it is read
    guard.lower_limit(request, limits.max_bytes + MULTIPART_FRAMING, too_large)
    try:
        async with asyncio.timeout(UPLOAD_SLOT_WAIT_S):
            await ctx.uploads.acquire()
    except TimeoutError:
        raise Busy("too many uploads at once here; try again shortly") from None
    try:
        # python-multipart spools the file part to disk past 1 MiB: the bytes are never whole in memory
        form = await request.form(max_files=1, max_fields=1)
        try:
            return await _store_upload(
                ctx, caller, request_id, response, case_id, office, form, limits, too_large, idempotency_key
            )
        finally:
            await form.close()
    finally:
        ctx.uploads.release()


async def _store_upload(
    ctx: Context,
    caller: Principal,
    request_id: str,
    response: Response,
    case_id: uuid.UUID,
    office: uuid.UUID,
    form: FormData,
    limits: case_documents.UploadLimits,
    too_large: TooLarge,
    idempotency_key: str | None,
) -> DocumentView:
    file, kind = form.get("file"), form.get("kind", DEFAULT_KIND)
    if not isinstance(file, StarletteUploadFile):
        raise InvalidInput.at("/file", "a file part named `file` is required", "missing")
    if not isinstance(kind, str) or not _KIND.fullmatch(kind):
        raise InvalidInput.at("/kind", f"must match {_KIND.pattern}", "string_pattern_mismatch")
    digest, size, head = hashlib.sha256(), 0, b""
    while chunk := await file.read(CHUNK):
        size += len(chunk)
        if size > limits.max_bytes:
            raise too_large
        digest.update(chunk)
        if len(head) < SNIFF_BYTES:
            head += chunk[: SNIFF_BYTES - len(head)]
    content_type = _sniff(head)
    if content_type is None or content_type not in limits.types:
        allowed = ", ".join(limits.types)
        message = f"{content_type or 'an unrecognised type'} is not accepted here; accepted: {allowed}"
        raise InvalidInput.at("/file", message, "content_type")
    filename = safe_filename(file.filename)
    idem = keyed(caller, idempotency_key, "POST /api/cases/{id}/documents", case_id,
                 {"kind": kind, "filename": filename, "sha256": digest.hexdigest()})  # fmt: skip
    if idem is not None:  # a retry answers with what it recorded, before any byte is stored again
        async with ctx.pool.acquire() as conn:
            stored = await idempotency.lookup(conn=conn, office_id=office, subject=caller.subject, idem=idem)
        if stored is not None:
            response.headers[REPLAYED] = "true"
            return DocumentView.model_validate(stored.answer)
    document = DocumentView(
        # a retry stores its bytes under the same key as the first try, never beside them
        id=idempotency.derived_id(office, caller.subject, idem.key, "document") if idem else new_id(),
        case_id=case_id,
        kind=kind,
        filename=filename,
        content_type=content_type,
        size_bytes=size,
        sha256=digest.hexdigest(),
        created_by=caller.subject,
        created_at=datetime.now(UTC),
    )
    key = store.document_key(case_id, document.id)
    await file.seek(0)
    # streamed from the spool, whole or not at all (the store's contract)
    await ctx.store.put_file(key, file.file, size, document.sha256, content_type)
    try:
        result = await act(ctx, caller, request_id, case_id, CaseAction.ATTACH, idempotency_key, idem=idem,
                           fields={"document": document})  # fmt: skip
    except BaseException:
        async with ctx.pool.acquire() as conn:
            if not await case_documents.is_recorded(conn=conn, document_id=document.id):
                await ctx.store.delete(key)  # the case did not take it: no object without its row
        raise
    if result.replayed and result.answer:  # a retry raced this one and recorded first
        response.headers[REPLAYED] = "true"
        return DocumentView.model_validate(result.answer)
    return document


@router.get("/{case_id}/documents", response_model=list[DocumentView])
async def list_documents(
    case_id: uuid.UUID,
    caller: Staff,
    ctx: Ctx,
    request: Request,
    response: Response,
    limit: paging.Limit = paging.DEFAULT_LIMIT,
    after: Annotated[uuid.UUID | None, Query(description="the id of the last document seen")] = None,
) -> list[DocumentView]:
    """The case's documents in the order they came, a page at a time (the next one in the `Link` header)."""
    async with ctx.pool.acquire() as conn:
        found = await case_documents.documents(
            conn=conn, case_id=case_id, office_id=caller.require_office(), after=after, limit=limit + 1
        )
    documents, headers = paging.page(request, found, limit, lambda document: str(document.id))
    response.headers.update(headers)
    return documents


@router.get("/{case_id}/documents/{document_id}", response_model=DocumentView)
async def get_document(case_id: uuid.UUID, document_id: uuid.UUID, caller: Staff, ctx: Ctx) -> DocumentView:
    """The document with a download link valid for five minutes."""
    async with ctx.pool.acquire() as conn:
        document = await case_documents.document(
            conn=conn, case_id=case_id, document_id=document_id, office_id=caller.require_office()
        )
    url = await ctx.store.presigned_get(store.document_key(case_id, document_id), DOWNLOAD_LINK_TTL, document.filename)
    return document.model_copy(update={"url": url})

"""Documents of a case: uploads checked against the procedure's limits, stored under our keys, downloaded by
presigned link. The bytes are stored before the case records them; if recording fails, they are deleted again
(unless a retry of the same upload recorded them meanwhile)."""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

import puremagic
from fastapi import APIRouter, File, Form, Header, Response, UploadFile

from actors.cases import documents as case_documents
from actors.cases import idempotency, store
from messages.cases import CaseAction, DocumentView
from messages.envelope import new_id
from messages.errors import FieldError, InvalidInput, TooLarge
from messages.roles import STAFF
from serve.deps import Caller, Ctx, RequestId
from serve.routers.cases import PROBLEMS, REPLAYED, IdempotencyKey_, act, keyed

router = APIRouter(prefix="/api/cases", tags=["documents"], responses=PROBLEMS)
CHUNK = 256 * 1024
DOWNLOAD_LINK_TTL = timedelta(minutes=5)
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]+')


def safe_filename(name: str | None) -> str:
    """What we show and offer for download: the last path part, NFC, no control or reserved characters, bounded;
    Greek stays Greek. It never becomes a storage key."""
    base = unicodedata.normalize("NFC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    cleaned = _UNSAFE.sub("_", base).strip(" .")[-150:]
    return cleaned or "document"


def _sniff(head: bytes) -> str | None:
    try:
        return str(puremagic.from_string(head, mime=True)) or None
    except puremagic.PureError:
        return None


@router.post("/{case_id}/documents", status_code=201, response_model=DocumentView)
async def upload_document(
    case_id: uuid.UUID,
    caller: Caller,
    ctx: Ctx,
    request_id: RequestId,
    response: Response,
    file: Annotated[UploadFile, File()],
    kind: Annotated[str, Form(pattern=r"^[a-z][a-z0-9_-]{0,49}$")] = "supporting",
    idempotency_key: IdempotencyKey_ = None,
    content_length: Annotated[int | None, Header()] = None,
) -> DocumentView:
    """Multipart `file` (+ `kind`). The type is what the bytes are, not what the client says; size and types are
    the procedure's limits (413 / 422 with the path `/file`). Retried with the same `Idempotency-Key` and file,
    it answers with the document recorded the first time and stores nothing again."""
    caller.require(*STAFF)
    office = caller.require_office()
    async with ctx.pool.acquire() as conn:
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
    if content_length is not None and content_length > limits.max_bytes + 64 * 1024:  # multipart framing aside
        raise too_large
    digest, parts, size = hashlib.sha256(), [], 0
    while chunk := await file.read(CHUNK):
        size += len(chunk)
        if size > limits.max_bytes:
            raise too_large
        digest.update(chunk)
        parts.append(chunk)
    data = b"".join(parts)
    content_type = _sniff(data[:8192])
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
    await ctx.store.put(key, data, content_type)  # whole or not at all (the store's contract)
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
async def list_documents(case_id: uuid.UUID, caller: Caller, ctx: Ctx) -> list[DocumentView]:
    caller.require(*STAFF)
    async with ctx.pool.acquire() as conn:
        return await case_documents.documents(conn=conn, case_id=case_id, office_id=caller.require_office())


@router.get("/{case_id}/documents/{document_id}", response_model=DocumentView)
async def get_document(case_id: uuid.UUID, document_id: uuid.UUID, caller: Caller, ctx: Ctx) -> DocumentView:
    """The document with a download link valid for five minutes."""
    caller.require(*STAFF)
    async with ctx.pool.acquire() as conn:
        document = await case_documents.document(
            conn=conn, case_id=case_id, document_id=document_id, office_id=caller.require_office()
        )
    url = await ctx.store.presigned_get(store.document_key(case_id, document_id), DOWNLOAD_LINK_TTL)
    return document.model_copy(update={"url": url})

"""EU citizens apply online (EUGO) and follow their applications; the office writes to them; administrators route
the applications no rule could. Thin: the checks and the flow are actors/eugo/applications.py and submission.py.

An application is one multipart request: an `application` part (JSON: procedure, form data, e-mail, where) and the
evidence as file parts named by the procedure's evidence ids (`evidence-1`, … as the public catalogue lists them) or
`supporting`. Everything is checked before a byte is stored; then the files go to the object store under the keys
of the case the application will open, the application is recorded (unrouted), and it is routed. A failure before
it is recorded deletes the files; after, the application exists and routing it again finishes the work.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
import pydantic
from fastapi import APIRouter, Header, Query, Request, Response
from starlette.datastructures import FormData
from starlette.datastructures import UploadFile as StarletteUploadFile

from actors.cases import idempotency, store
from actors.cases.documents import safe_filename
from actors.eugo import applications, submission
from messages import eugo_applications as m
from messages.cases import CaseAction, CaseCommand, CitizenMessage, DocumentView
from messages.envelope import new_id
from messages.errors import Busy, FieldError, InvalidInput, NotFound, TooLarge
from messages.routings import NoCompetentOffice
from serve import guard, paging
from serve.citizens import Citizen, CitizenCaller, require_loa
from serve.context import Context
from serve.deps import Admin, Ctx, RequestId, Staff
from serve.responses import model_response
from serve.routers.cases import PROBLEMS, REPLAYED, act
from serve.routers.documents import CHUNK, MULTIPART_FRAMING, SNIFF_BYTES, UPLOAD_SLOT_WAIT_S, _sniff

router = APIRouter(tags=["eugo"], responses=PROBLEMS)
MAX_FILES = 10
APPLICATION_PART_MAX = 256 * 1024
SUPPORTING = "supporting"
_KIND = re.compile(r"evidence-[A-Za-z0-9_.-]{1,40}|" + SUPPORTING)
# the largest a procedure may allow per file, times the files: lowered to the procedure's own before reading
UPLOAD_BODIES = guard.LargerBodies(
    "POST", re.compile(r"/api/eugo/applications(/[^/]+/documents)?"), 100 * 1024 * 1024 * MAX_FILES
)
IdempotencyKey_ = Annotated[str | None, Header(min_length=1, max_length=200)]
_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["application"],
                    "properties": {
                        "application": {"type": "string", "description": "JSON: ApplicationRequest"},
                        "evidence-1": {"type": "string", "format": "binary"},
                        SUPPORTING: {"type": "string", "format": "binary"},
                    },
                }
            }
        },
    }
}


@dataclass(frozen=True)
class _Part:
    """A file part as read once (the body is spooled whole by then): what the checks, the fingerprint of an
    Idempotency-Key and the store need."""

    name: str
    upload: StarletteUploadFile
    size: int
    sha256: str
    head: bytes  # the first bytes, to sniff the type


async def _scan(form: FormData) -> list[_Part]:
    parts: list[_Part] = []
    for name, upload in form.multi_items():
        if not isinstance(upload, StarletteUploadFile):
            continue
        digest, size, head = hashlib.sha256(), 0, b""
        while chunk := await upload.read(CHUNK):
            size += len(chunk)
            digest.update(chunk)
            if len(head) < SNIFF_BYTES:
                head += chunk[: SNIFF_BYTES - len(head)]
        await upload.seek(0)
        parts.append(_Part(name, upload, size, digest.hexdigest(), head))
    return parts


async def _files(
    ctx: Context, parts: list[_Part], p: applications.Procedure, case_id: uuid.UUID, actor: str
) -> list[applications.File]:
    """Checks every file part (name, size, type by its bytes), then stores them; all or none."""
    checked: list[tuple[_Part, applications.File]] = []
    for part in parts:
        name = part.name
        if not _KIND.fullmatch(name):
            raise InvalidInput.at(f"/{name}", "file parts are named evidence-<id> or supporting", "kind")
        if part.size > p.max_bytes:
            raise TooLarge(f"{name} is over {p.max_mb} MB", [FieldError(f"/{name}", f"at most {p.max_mb} MB", "size")])
        content_type = _sniff(part.head)
        if content_type is None or content_type not in p.types:
            message = f"{content_type or 'an unrecognised type'} is not accepted; accepted: {', '.join(p.types)}"
            raise InvalidInput.at(f"/{name}", message, "content_type")
        filename = safe_filename(part.upload.filename)
        checked.append((part, applications.File(new_id(), name, filename, content_type, part.size, part.sha256)))
    stored: list[str] = []
    try:
        for part, file in checked:
            key = store.document_key(case_id, file.document_id)
            await ctx.store.put_file(key, part.upload.file, file.size_bytes, file.sha256, file.content_type)
            stored.append(key)
    except BaseException:
        await _delete(ctx, stored)
        raise
    return [file for _, file in checked]


async def _delete(ctx: Context, keys: list[str]) -> None:
    for key in keys:
        await ctx.store.delete(key)


def _application(form: FormData) -> m.ApplicationRequest:
    raw = form.get("application")
    if not isinstance(raw, str):
        raise InvalidInput.at("/application", "a JSON part named `application` is required", "missing")
    try:
        return m.ApplicationRequest.model_validate(orjson.loads(raw))
    except orjson.JSONDecodeError:
        raise InvalidInput.at("/application", "the application part is not JSON", "json_invalid") from None
    except pydantic.ValidationError as exc:
        errors = [FieldError("/" + "/".join(str(x) for x in e["loc"]), e["msg"], e["type"]) for e in exc.errors()]
        raise InvalidInput("the application is not valid", errors) from None


async def _form(request: Request, max_bytes: int, max_mb: int) -> FormData:
    too_large = TooLarge(f"at most {MAX_FILES} files of {max_mb} MB each", [FieldError("", "too large", "size")])
    guard.lower_limit(request, max_bytes * MAX_FILES + MULTIPART_FRAMING + APPLICATION_PART_MAX, too_large)
    try:
        return await request.form(max_files=MAX_FILES, max_fields=1, max_part_size=APPLICATION_PART_MAX)
    except Exception as exc:  # python-multipart's and Starlette's refusals: too many parts, malformed bodies
        if isinstance(exc, TooLarge):
            raise
        raise InvalidInput.at("", f"not a valid multipart body: {exc}", "multipart") from None


@router.post(
    "/api/eugo/applications", status_code=201, response_model=m.Application, openapi_extra=_UPLOAD_BODY,
    responses={202: {"model": m.Application, "description": "kept, but no office is competent yet"}},
)  # fmt: skip
async def apply(
    request: Request, citizen: CitizenCaller, ctx: Ctx, request_id: RequestId, idempotency_key: IdempotencyKey_ = None
) -> Response:
    """Apply online. 201 `routed`: a case opened in the competent office; 202 `unrouted`: kept, the administrators
    alerted, and sent on once an office is designated. A repeat with the same `Idempotency-Key` answers with the
    first application (`Idempotent-Replayed: true`) and stores nothing; the key with another application part or
    other files is 422 at `/idempotency-key`. Bad input (422 with pointers): a procedure
    not offered through EUGO (`/procedure_id`), form data (`/form_data/...`), a missing evidence (`/evidence-N`), a
    file of a type the procedure does not accept (its part's name); a sign-in at a lower eIDAS level of assurance
    than the procedure asks is 403, before anything is kept."""
    try:
        async with asyncio.timeout(UPLOAD_SLOT_WAIT_S):
            await ctx.uploads.acquire()
    except TimeoutError:
        raise Busy("too many uploads at once here; try again shortly") from None
    try:
        form = await _form(request, 100 * 1024 * 1024, 100)
        try:
            parts = await _scan(form)
            fingerprint = _fingerprint(form, parts)
            if idempotency_key is not None:
                async with ctx.pool.acquire() as conn:
                    known = await applications.applicant_id(
                        conn=conn, country=citizen.country, person_id=citizen.person_id
                    )
                    first = known and await applications.by_key(
                        conn=conn, applicant=known, key=idempotency_key, fingerprint=fingerprint
                    )
                if first:
                    return await _answer(ctx, citizen, first, replayed=True)
            return await _submit(ctx, citizen, request_id, form, parts, idempotency_key, fingerprint)
        finally:
            await form.close()
    finally:
        ctx.uploads.release()


def _fingerprint(form: FormData, parts: list[_Part]) -> str:
    """What an Idempotency-Key protects: the `application` part (canonically: key order and spacing do not count)
    and each file part's name, file name and bytes."""
    raw = form.get("application")
    try:
        application = orjson.loads(raw) if isinstance(raw, str) else None
    except orjson.JSONDecodeError:
        application = raw
    files = sorted((part.name, part.upload.filename or "", part.sha256) for part in parts)
    return idempotency.fingerprint("POST /api/eugo/applications", None, {"application": application, "files": files})


async def _submit(
    ctx: Context,
    citizen: Citizen,
    request_id: str,
    form: FormData,
    parts: list[_Part],
    key: str | None,
    fingerprint: str,
) -> Response:
    body = _application(form)
    async with ctx.pool.acquire() as conn:
        p = await applications.procedure(
            conn=conn,
            procedure_id=body.procedure_id,
            default_mb=ctx.settings.attachment_max_mb,
            default_types=ctx.settings.attachment_types,
        )
    if p.min_loa is not None:  # before anything of the application is looked at or kept
        require_loa(citizen, p.min_loa)
    form_data = applications.checked_form_data(p, body.form_data)
    sent = {part.name for part in parts}
    missing = [FieldError(f"/{e}", f"{name} is required", "missing") for e, name in p.evidence.items() if e not in sent]
    if missing:
        raise InvalidInput("required evidence is missing", missing)
    application_id, case_id = new_id(), new_id()
    files = await _files(ctx, parts, p, case_id, submission.actor_of(citizen.person_identifier))
    try:
        async with ctx.pool.acquire() as conn:
            applicant = await applications.applicant(
                conn=conn, country=citizen.country, person_id=citizen.person_id, given_name=citizen.given_name,
                family_name=citizen.family_name, birthdate=citizen.birthdate, email=str(body.email),
            )  # fmt: skip
            recorded = await applications.create(
                conn=conn, application_id=application_id, case_id=case_id, applicant=applicant, request=body,
                form_data=form_data, files=files, key=key, fingerprint=fingerprint,
            )  # fmt: skip
    except BaseException:
        await _delete(ctx, [store.document_key(case_id, f.document_id) for f in files])
        raise
    if recorded != application_id:  # a concurrent repeat of the same key recorded first
        await _delete(ctx, [store.document_key(case_id, f.document_id) for f in files])
        return await _answer(ctx, citizen, recorded, replayed=True)
    try:
        await submission.route(pool=ctx.pool, cases=ctx.cases, application_id=application_id, request_id=request_id)
    except Exception as exc:  # the application is kept: the citizen is told so, an administrator routes it again
        await submission.failed(pool=ctx.pool, application_id=application_id, reason=repr(exc))
    return await _answer(ctx, citizen, application_id)


async def _answer(ctx: Context, citizen: Citizen, application_id: uuid.UUID, replayed: bool = False) -> Response:
    async with ctx.pool.acquire() as conn:
        view = await applications.own(
            conn=conn, application_id=application_id, country=citizen.country, person_id=citizen.person_id
        )
    headers = {"Location": f"/api/eugo/applications/{view.id}"} | ({REPLAYED: "true"} if replayed else {})
    summary = m.Application.model_validate(view.model_dump(include=set(m.Application.model_fields)))
    return model_response(summary, 201 if view.status == "routed" else 202, headers)


@router.get("/api/eugo/applications", response_model=list[m.Application])
async def my_applications(
    citizen: CitizenCaller,
    ctx: Ctx,
    request: Request,
    response: Response,
    limit: paging.Limit = paging.DEFAULT_LIMIT,
    after: Annotated[uuid.UUID | None, Query(description="the id of the last application seen")] = None,
) -> list[m.Application]:
    """The signed-in citizen's applications, newest first: status, and the case's number, status and office; a
    page at a time (the next one in the `Link` header)."""
    async with ctx.pool.acquire() as conn:
        found = await applications.mine(
            conn=conn, country=citizen.country, person_id=citizen.person_id, after=after, limit=limit + 1
        )
    shown, headers = paging.page(request, found, limit, lambda a: str(a.id))
    response.headers.update(headers)
    return shown


@router.get("/api/eugo/applications/{application_id}", response_model=m.ApplicationDetail)
async def my_application(application_id: uuid.UUID, citizen: CitizenCaller, ctx: Ctx) -> m.ApplicationDetail:
    """One of the citizen's applications with its evidence, the messages with the office, and the documents issued
    (each with its verification code); another citizen's is a 404."""
    async with ctx.pool.acquire() as conn:
        return await applications.own(
            conn=conn, application_id=application_id, country=citizen.country, person_id=citizen.person_id
        )


async def _routed_case(ctx: Context, citizen: Citizen, application_id: uuid.UUID) -> m.CaseSummary:
    async with ctx.pool.acquire() as conn:
        view = await applications.own(
            conn=conn, application_id=application_id, country=citizen.country, person_id=citizen.person_id
        )
    if view.case is None:
        raise InvalidInput.at("/application_id", "the application is not with an office yet", "unrouted")
    return view.case


@router.post("/api/eugo/applications/{application_id}/messages", status_code=201, response_model=m.ApplicationDetail)
async def answer_office(
    application_id: uuid.UUID, body: m.MessageRequest, citizen: CitizenCaller, ctx: Ctx, request_id: RequestId
) -> m.ApplicationDetail:
    """The citizen writes to the office: a note on the case's timeline by the citizen, and a message they see."""
    case = await _routed_case(ctx, citizen, application_id)
    await ctx.cases.apply(
        CaseCommand(
            command_id=new_id(), case_id=case.id, office_id=case.office_id,
            actor=submission.actor_of(citizen.person_identifier), roles=frozenset(), action=CaseAction.NOTE,
            reason=f"Message from the citizen: {body.text}", request_id=request_id,
            message=CitizenMessage(id=new_id(), application_id=application_id, sender="citizen", text=body.text),
        )
    )  # fmt: skip
    async with ctx.pool.acquire() as conn:
        return await applications.own(
            conn=conn, application_id=application_id, country=citizen.country, person_id=citizen.person_id
        )


@router.post(
    "/api/eugo/applications/{application_id}/documents", status_code=201, response_model=m.ApplicationDetail,
    openapi_extra=_UPLOAD_BODY,
)  # fmt: skip
async def add_evidence(
    application_id: uuid.UUID, request: Request, citizen: CitizenCaller, ctx: Ctx, request_id: RequestId
) -> m.ApplicationDetail:
    """More evidence when the office asks for it: file parts as when applying, under the procedure's limits,
    attached to the case (refused when the case takes no more documents)."""
    case = await _routed_case(ctx, citizen, application_id)
    async with ctx.pool.acquire() as conn:
        procedure_id = await conn.fetchval("SELECT procedure_id FROM cases WHERE id = $1", case.id)
        p = await applications.procedure(
            conn=conn, procedure_id=procedure_id, default_mb=ctx.settings.attachment_max_mb,
            default_types=ctx.settings.attachment_types,
        )  # fmt: skip
    form = await _form(request, p.max_bytes, p.max_mb)
    actor = submission.actor_of(citizen.person_identifier)
    try:
        files = await _files(ctx, await _scan(form), p, case.id, actor)
    finally:
        await form.close()
    if not files:
        raise InvalidInput.at("/supporting", "at least one file is required", "missing")
    try:
        for f in files:
            document = DocumentView(
                id=f.document_id, case_id=case.id, kind=f.kind, filename=f.filename, content_type=f.content_type,
                size_bytes=f.size_bytes, sha256=f.sha256, created_by=actor, created_at=datetime.now(UTC),
            )  # fmt: skip
            await ctx.cases.apply(
                CaseCommand(
                    command_id=f.document_id, case_id=case.id, office_id=case.office_id, actor=actor,
                    roles=frozenset(), action=CaseAction.ATTACH, document=document, request_id=request_id,
                )
            )  # fmt: skip
            async with ctx.pool.acquire() as conn:
                await applications.add_file(conn=conn, application_id=application_id, file=f)
    except BaseException:
        async with ctx.pool.acquire() as conn:
            recorded = set(
                await conn.fetchval(
                    "SELECT coalesce(array_agg(id), '{}') FROM documents WHERE id = ANY($1::uuid[])",
                    [f.document_id for f in files],
                )
            )
        await _delete(ctx, [store.document_key(case.id, f.document_id) for f in files if f.document_id not in recorded])
        raise
    async with ctx.pool.acquire() as conn:
        return await applications.own(
            conn=conn, application_id=application_id, country=citizen.country, person_id=citizen.person_id
        )


@router.post("/api/cases/{case_id}/messages", status_code=201, response_model=m.Message, tags=["cases"])
async def write_to_citizen(
    case_id: uuid.UUID, body: m.MessageRequest, caller: Staff, ctx: Ctx, request_id: RequestId
) -> m.Message:
    """The office writes to the EUGO citizen of this case: a note on the timeline that the citizen also sees in
    their application (ordinary notes stay internal). 404 for a case that is not an EUGO application's."""
    async with ctx.pool.acquire() as conn:
        application_id = await applications.by_case(conn=conn, case_id=case_id)
    if application_id is None:
        raise NotFound(f"case {case_id} is not an EUGO application's")
    message = CitizenMessage(id=new_id(), application_id=application_id, sender="office", text=body.text)
    await act(ctx, caller, request_id, case_id, CaseAction.NOTE,
              fields={"reason": f"To the citizen: {body.text}", "message": message})  # fmt: skip
    async with ctx.pool.acquire() as conn:
        created = await conn.fetchval("SELECT created_at FROM eugo_messages WHERE id = $1", message.id)
    return m.Message(id=message.id, sender="office", text=body.text, created_at=created)


@router.get("/api/admin/eugo/applications", response_model=list[m.AdminApplication], tags=["admin"])
async def admin_list(
    caller: Admin,
    ctx: Ctx,
    status: Annotated[m.ApplicationStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[m.AdminApplication]:
    """Applications, oldest first; `status=unrouted`: those waiting for a routing rule (the administrators' alert)."""
    async with ctx.pool.acquire() as conn:
        return await applications.listed(conn=conn, status=status, limit=limit)


@router.post("/api/admin/eugo/applications/{application_id}/route", response_model=m.AdminApplication, tags=["admin"])
async def admin_route(application_id: uuid.UUID, caller: Admin, ctx: Ctx, request_id: RequestId) -> m.AdminApplication:
    """Route an unrouted application again (after a rule was added): its case opens in the competent office; still
    no rule is 409. A routed one answers as it is."""
    routed = await submission.route(
        pool=ctx.pool, cases=ctx.cases, application_id=application_id, request_id=request_id
    )
    async with ctx.pool.acquire() as conn:
        view = await applications.admin_one(conn=conn, application_id=application_id)
    if not routed:
        raise NoCompetentOffice(f"no routing rule names an office for application {application_id} yet")
    return view

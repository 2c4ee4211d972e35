"""Employees' case endpoints: thin, they authorise, call the owning shard or read, and shape the answer."""

from __future__ import annotations

import asyncio
import io
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, get_args

from defusedcsv import csv
from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from actors.cases import idempotency, search, store
from actors.cases.timeline import timeline
from actors.routings import resolver as routings
from messages.cases import (
    AssignRequest,
    BulkReassignRequest,
    BulkResult,
    CaseAction,
    CaseCommand,
    CaseFilter,
    CasePage,
    CaseView,
    CommandResult,
    ExtendRequest,
    FormDataRequest,
    IdempotencyKey,
    NoteRequest,
    OpenCase,
    OpenCaseRequest,
    TimelineEntry,
    TransferRequest,
    TransitionRequest,
)
from messages.envelope import new_id
from messages.errors import KepError
from messages.problems import Problem
from messages.roles import STAFF
from serve import paging
from serve.context import Context
from serve.deps import Ctx, RequestId, Staff, Supervisor
from serve.responses import model_response
from serve.security import Principal

router = APIRouter(prefix="/api/cases", tags=["cases"])
PROBLEMS: dict[int | str, dict[str, object]] = {
    code: {"model": Problem, "content": {"application/problem+json": {}}} for code in (401, 403, 404, 409, 422)
}
IdempotencyKey_ = Annotated[str | None, Header(min_length=1, max_length=200)]


REPLAYED = "Idempotent-Replayed"  # on an answer given again for a repeated Idempotency-Key


def keyed(
    caller: Principal, key: str | None, route: str, case_id: uuid.UUID | None, body: BaseModel | dict[str, Any]
) -> IdempotencyKey | None:
    """The client's key with what it protects: this route, this case, this body."""
    if key is None:
        return None
    payload = body.model_dump(mode="json") if isinstance(body, BaseModel) else body
    return IdempotencyKey(key=key, fingerprint=idempotency.fingerprint(route, case_id, payload))


@router.post("", status_code=201, response_model=CaseView, responses=PROBLEMS)
async def open_case(
    body: OpenCaseRequest,
    caller: Staff,
    ctx: Ctx,
    request_id: RequestId,
    idempotency_key: IdempotencyKey_ = None,
) -> Response:
    """Open a case in the caller's office. The same `Idempotency-Key` with the same body answers again with the
    case it opened (header `Idempotent-Replayed: true`); with another body it is refused (422)."""
    cmd = OpenCase(
        case_id=new_id(),
        office_id=caller.require_office(),
        actor=caller.subject,
        request=body,
        request_id=request_id,
        idempotency=keyed(caller, idempotency_key, "POST /api/cases", None, body),
    )
    result = await ctx.cases.open(cmd)
    headers = {"Location": f"/api/cases/{result.case.id}"} | ({} if result.created else {REPLAYED: "true"})
    return model_response(result.case, 201, headers)


@router.get("", response_model=CasePage, responses=PROBLEMS)
async def list_cases(caller: Staff, ctx: Ctx, filters: Annotated[CaseFilter, Query()]) -> Response:
    """The caller's office's cases, newest first: `q` finds a case number, citizen name, ΑΦΜ or procedure title
    (without accents or case, any part of it); filters combine; `next_cursor` fetches the following page."""
    async with ctx.pool.acquire() as conn:
        page = await search.search_cases(conn=conn, f=filters, office_id=caller.require_office(), now=utcnow())
    return model_response(page)


@router.get("/{case_id}", response_model=CaseView, responses=PROBLEMS)
async def get_case(case_id: uuid.UUID, caller: Staff, ctx: Ctx) -> Response:
    """Read straight from PostgreSQL: no actor hop on the hot read path. `ETag` is the version to send back."""
    async with ctx.pool.acquire() as conn:
        case = await store.get_case(conn=conn, case_id=case_id, office_id=caller.require_office())
    return model_response(case, headers={"ETag": f'"{case.version}"'})


def utcnow() -> datetime:
    return datetime.now(UTC)


async def act(
    ctx: Ctx,
    caller: Principal,
    request_id: str,
    case_id: uuid.UUID,
    action: CaseAction,
    key: str | None = None,
    *,
    idem: IdempotencyKey | None = None,
    fields: dict[str, Any],
) -> CommandResult:
    """`key` is protected by this action and `fields`, unless the route protected it already (`idem`)."""
    caller.require(*STAFF)  # every case command passes here, from whichever router; case commands are staff work
    office = caller.require_office()
    if idem is None:
        body = {k: v.model_dump(mode="json") if isinstance(v, BaseModel) else v for k, v in fields.items()}
        idem = keyed(caller, key, f"POST /api/cases/{{id}}/{action.value}", case_id, body)
    cmd = CaseCommand.model_validate(
        {
            "command_id": idempotency.derived_id(office, caller.subject, key) if key else new_id(),
            "case_id": case_id,
            "office_id": office,
            "actor": caller.subject,
            "roles": caller.roles,
            "action": action,
            "request_id": request_id,
            "idempotency": idem,
            **fields,
        }
    )
    return await ctx.cases.apply(cmd)


def answer(result: CommandResult, status_code: int = 200) -> Response:
    """The case after the command, marked when it is the answer given before to the same Idempotency-Key."""
    return model_response(result.case, status_code, {REPLAYED: "true"} if result.replayed else None)


@router.post("/{case_id}/extend", response_model=CaseView, responses=PROBLEMS)
async def extend_case(
    case_id: uuid.UUID,
    body: ExtendRequest,
    caller: Staff,
    ctx: Ctx,
    request_id: RequestId,
    idempotency_key: IdempotencyKey_ = None,
) -> Response:
    """Move the due date by some days, with a reason."""
    fields: dict[str, Any] = {"version": body.version, "reason": body.reason, "days": body.days}
    return answer(await act(ctx, caller, request_id, case_id, CaseAction.EXTEND, idempotency_key, fields=fields))


@router.post("/{case_id}/assign", response_model=CaseView, responses=PROBLEMS)
async def assign_case(
    case_id: uuid.UUID,
    body: AssignRequest,
    caller: Staff,
    ctx: Ctx,
    request_id: RequestId,
    idempotency_key: IdempotencyKey_ = None,
) -> Response:
    """An employee takes a case (or gives back their own); a supervisor gives it to anyone of the office."""
    fields: dict[str, Any] = {"version": body.version, "assignee": body.assignee}
    return answer(await act(ctx, caller, request_id, case_id, CaseAction.ASSIGN, idempotency_key, fields=fields))


@router.put("/{case_id}/form", response_model=CaseView, responses=PROBLEMS)
async def update_form_data(
    case_id: uuid.UUID,
    body: FormDataRequest,
    caller: Staff,
    ctx: Ctx,
    request_id: RequestId,
    idempotency_key: IdempotencyKey_ = None,
) -> Response:
    """Replace the case's form data; validated as Form.io would against the form version the case was opened
    with (errors name paths under `/form_data`)."""
    fields: dict[str, Any] = {"version": body.version, "form_data": body.data}
    return answer(await act(ctx, caller, request_id, case_id, CaseAction.UPDATE_FORM, idempotency_key, fields=fields))


@router.post("/{case_id}/notes", status_code=201, response_model=CaseView, responses=PROBLEMS)
async def add_note(
    case_id: uuid.UUID,
    body: NoteRequest,
    caller: Staff,
    ctx: Ctx,
    request_id: RequestId,
    idempotency_key: IdempotencyKey_ = None,
) -> Response:
    """A note on the case's timeline; it changes no field and needs no version."""
    note = await act(ctx, caller, request_id, case_id, CaseAction.NOTE, idempotency_key, fields={"reason": body.text})
    return answer(note, 201)


@router.post("/bulk/reassign", response_model=BulkResult, responses=PROBLEMS)
async def bulk_reassign(body: BulkReassignRequest, caller: Supervisor, ctx: Ctx, request_id: RequestId) -> BulkResult:
    """A supervisor moves many cases to one person (or to nobody); each case is its own command, reported apart."""

    async def one(case_id: uuid.UUID) -> str | None:
        try:
            await act(
                ctx,
                caller,
                request_id,
                case_id,
                CaseAction.ASSIGN,
                fields={"assignee": body.assignee, "reason": body.reason},
            )
        except KepError as exc:
            return exc.detail
        return None

    outcomes = await asyncio.gather(*(one(c) for c in dict.fromkeys(body.case_ids)))
    return BulkResult(
        updated=[c for c, e in zip(dict.fromkeys(body.case_ids), outcomes, strict=True) if e is None],
        failed={str(c): e for c, e in zip(dict.fromkeys(body.case_ids), outcomes, strict=True) if e is not None},
    )


@router.post("/{case_id}/transfer", response_model=CaseView, responses=PROBLEMS)
async def transfer_case(
    case_id: uuid.UUID,
    body: TransferRequest,
    caller: Supervisor,
    ctx: Ctx,
    request_id: RequestId,
    idempotency_key: IdempotencyKey_ = None,
) -> Response:
    """Hand an open case over to another office (supervisors; a reason): the office named, or, without one, the
    office the routing rules name for the case's procedure and channel and the citizen's `municipality` or
    `region` (the rule and why it matched are kept with the hand-over). The case leaves this office's lists, its
    process and open tasks follow it, and both offices see the hand-over (`GET /api/case-transfers`)."""
    office = caller.require_office()
    idem = keyed(caller, idempotency_key, "POST /api/cases/{id}/transfer", case_id, body)
    to, routing = body.office_id, None
    if to is None:
        async with ctx.pool.acquire() as conn:
            case = await store.get_case(conn=conn, case_id=case_id, office_id=office)
            found = await routings.resolve(
                conn,
                procedure_id=case.procedure_id,
                municipality=body.municipality,
                region=body.region,
                channel=case.channel.value,
            )
        to, routing = found.office_id, found.model_dump(mode="json", exclude={"considered"})
    fields = {"version": body.version, "reason": body.reason, "to_office_id": to, "routing": routing}
    return answer(await act(ctx, caller, request_id, case_id, CaseAction.TRANSFER, idempotency_key, idem=idem,
                            fields=fields))  # fmt: skip


TransitionAction = Literal["start", "suspend", "resume", "complete", "reject", "close", "reopen"]
TRANSITION_ACTIONS: tuple[str, ...] = get_args(TransitionAction)


@router.post("/{case_id}/{action}", response_model=CaseView, responses=PROBLEMS)
async def transition(
    case_id: uuid.UUID,
    action: TransitionAction,
    body: TransitionRequest,
    caller: Staff,
    ctx: Ctx,
    request_id: RequestId,
    idempotency_key: IdempotencyKey_ = None,
) -> Response:
    """Move the case: `start` a submitted case; `suspend` it (a reason; the clock stops) and `resume` it (the due
    date moves by the time suspended); `complete`; `reject` (a reason the citizen will read); `close` a completed or
    rejected case; `reopen` a closed one (supervisors; a reason). Declared after the other actions' routes."""
    fields: dict[str, Any] = {"version": body.version, "reason": body.reason}
    return answer(await act(ctx, caller, request_id, case_id, CaseAction(action), idempotency_key, fields=fields))


EventCursor = Annotated[int, Query(ge=0, le=2**63 - 1, description="the id of the last event seen")]


@router.get("/{case_id}/timeline", response_model=list[TimelineEntry], responses=PROBLEMS)
async def case_timeline(
    case_id: uuid.UUID,
    caller: Staff,
    ctx: Ctx,
    request: Request,
    response: Response,
    limit: paging.Limit = paging.DEFAULT_LIMIT,
    after: EventCursor = 0,
) -> list[TimelineEntry]:
    """Every change of the case with old and new values, who, why and the request it came from, oldest first, a
    page at a time (the next one in the `Link` header)."""
    entries, headers = paging.page(request, await _timeline(case_id, caller, ctx, limit, after), limit, _event_id)
    response.headers.update(headers)
    return entries


@router.get("/{case_id}/timeline.csv", response_class=PlainTextResponse, responses=PROBLEMS)
async def case_timeline_csv(
    case_id: uuid.UUID,
    caller: Staff,
    ctx: Ctx,
    request: Request,
    limit: paging.Limit = paging.MAX_LIMIT,
    after: EventCursor = 0,
) -> PlainTextResponse:
    """The timeline as CSV, for the file of the case, up to 500 events a file (the next in the `Link` header)."""
    entries, headers = paging.page(request, await _timeline(case_id, caller, ctx, limit, after), limit, _event_id)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["at", "type", "actor", "reason", "request_id", "old", "new"])
    for e in entries:
        writer.writerow(
            [e.at.isoformat(), e.type, e.actor, e.reason or "", e.request_id or "", e.old or "", e.new or ""]
        )
    return PlainTextResponse(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="case-{case_id}-timeline.csv"'} | headers,
    )


def _event_id(entry: TimelineEntry) -> str:
    return str(entry.id)


async def _timeline(case_id: uuid.UUID, caller: Principal, ctx: Context, limit: int, after: int) -> list[TimelineEntry]:
    """A page of the timeline and one event more when there is a next page."""
    async with ctx.pool.acquire() as conn:
        return await timeline(
            conn=conn, case_id=case_id, office_id=caller.require_office(), after=after, limit=limit + 1
        )

"""Employees' case endpoints: thin, they authorise, call the owning shard or read, and shape the answer."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal, get_args

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import PlainTextResponse

from actors.cases import search, store
from actors.ray_options import call_actor
from messages.cases import (
    AssignRequest,
    BulkReassignRequest,
    BulkResult,
    CaseAction,
    CaseCommand,
    CaseFilter,
    CasePage,
    CaseView,
    ExtendRequest,
    FormDataRequest,
    NoteRequest,
    OpenCase,
    OpenCaseRequest,
    OpenCaseResult,
    TimelineEntry,
    TransitionRequest,
)
from messages.envelope import new_id
from messages.errors import KepError
from messages.problems import Problem
from serve.deps import Caller, Ctx, RequestId
from serve.security import Role

router = APIRouter(prefix="/api/cases", tags=["cases"])
PROBLEMS: dict[int | str, dict[str, object]] = {
    code: {"model": Problem, "content": {"application/problem+json": {}}} for code in (401, 403, 404, 409, 422)
}
STAFF = (Role.EMPLOYEE, Role.SUPERVISOR)
IdempotencyKey = Annotated[str | None, Header(max_length=200)]


@router.post("", status_code=201, response_model=CaseView, responses=PROBLEMS)
async def open_case(
    body: OpenCaseRequest,
    caller: Caller,
    ctx: Ctx,
    request_id: RequestId,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> CaseView:
    """Open a case in the caller's office. A repeated `Idempotency-Key` returns the case already opened (200)."""
    caller.require(*STAFF)
    cmd = OpenCase(
        case_id=new_id(),
        office_id=caller.require_office(),
        actor=caller.subject,
        request=body,
        request_id=request_id,
        request_key=idempotency_key,
    )
    result: OpenCaseResult = await call_actor(ctx.shard_for(cmd.case_id).open_case.remote(cmd))
    response.status_code = 201 if result.created else 200
    response.headers["Location"] = f"/api/cases/{result.case.id}"
    return result.case


@router.get("", response_model=CasePage, responses=PROBLEMS)
async def list_cases(caller: Caller, ctx: Ctx, filters: Annotated[CaseFilter, Query()]) -> CasePage:
    """The caller's office's cases, newest first: `q` finds a case number, citizen name, ΑΦΜ or procedure title
    (without accents or case, any part of it); filters combine; `next_cursor` fetches the following page."""
    caller.require(*STAFF)
    async with ctx.pool.acquire() as conn:
        return await search.search_cases(conn=conn, f=filters, office_id=caller.require_office(), now=utcnow())


@router.get("/{case_id}", response_model=CaseView, responses=PROBLEMS)
async def get_case(case_id: uuid.UUID, caller: Caller, ctx: Ctx, response: Response) -> CaseView:
    """Read straight from PostgreSQL: no actor hop on the hot read path. `ETag` is the version to send back."""
    caller.require(*STAFF)
    async with ctx.pool.acquire() as conn:
        case = await store.get_case(conn=conn, case_id=case_id, office_id=caller.require_office())
    response.headers["ETag"] = f'"{case.version}"'
    return case


def utcnow() -> datetime:
    return datetime.now(UTC)


def _command_id(office_id: uuid.UUID, key: str | None) -> uuid.UUID:
    # a client's retry with the same Idempotency-Key is the same command; without a key every request is new
    return uuid.uuid5(office_id, key) if key else new_id()


async def act(
    ctx: Ctx,
    caller: Caller,
    request_id: str,
    case_id: uuid.UUID,
    action: CaseAction,
    key: str | None = None,
    **fields: object,
) -> CaseView:
    caller.require(*STAFF)
    office = caller.require_office()
    cmd = CaseCommand.model_validate(
        {
            "command_id": _command_id(office, key),
            "case_id": case_id,
            "office_id": office,
            "actor": caller.subject,
            "roles": caller.roles,
            "action": action,
            "request_id": request_id,
            **fields,
        }
    )
    view: CaseView = await call_actor(ctx.shard_for(case_id).apply.remote(cmd))
    return view


@router.post("/{case_id}/extend", response_model=CaseView, responses=PROBLEMS)
async def extend_case(
    case_id: uuid.UUID,
    body: ExtendRequest,
    caller: Caller,
    ctx: Ctx,
    request_id: RequestId,
    idempotency_key: IdempotencyKey = None,
) -> CaseView:
    """Move the due date by some days, with a reason."""
    fields = {"version": body.version, "reason": body.reason, "days": body.days}
    return await act(ctx, caller, request_id, case_id, CaseAction.EXTEND, idempotency_key, **fields)


@router.post("/{case_id}/assign", response_model=CaseView, responses=PROBLEMS)
async def assign_case(
    case_id: uuid.UUID,
    body: AssignRequest,
    caller: Caller,
    ctx: Ctx,
    request_id: RequestId,
    idempotency_key: IdempotencyKey = None,
) -> CaseView:
    """An employee takes a case (or gives back their own); a supervisor gives it to anyone of the office."""
    fields = {"version": body.version, "assignee": body.assignee}
    return await act(ctx, caller, request_id, case_id, CaseAction.ASSIGN, idempotency_key, **fields)


@router.put("/{case_id}/form", response_model=CaseView, responses=PROBLEMS)
async def update_form_data(
    case_id: uuid.UUID,
    body: FormDataRequest,
    caller: Caller,
    ctx: Ctx,
    request_id: RequestId,
    idempotency_key: IdempotencyKey = None,
) -> CaseView:
    """Replace the case's form data; validated as Form.io would against the form version the case was opened
    with (errors name paths under `/form_data`)."""
    fields = {"version": body.version, "form_data": body.data}
    return await act(ctx, caller, request_id, case_id, CaseAction.UPDATE_FORM, idempotency_key, **fields)


@router.post("/{case_id}/notes", status_code=201, response_model=CaseView, responses=PROBLEMS)
async def add_note(
    case_id: uuid.UUID,
    body: NoteRequest,
    caller: Caller,
    ctx: Ctx,
    request_id: RequestId,
    idempotency_key: IdempotencyKey = None,
) -> CaseView:
    """A note on the case's timeline; it changes no field and needs no version."""
    return await act(ctx, caller, request_id, case_id, CaseAction.NOTE, idempotency_key, reason=body.text)


@router.post("/bulk/reassign", response_model=BulkResult, responses=PROBLEMS)
async def bulk_reassign(body: BulkReassignRequest, caller: Caller, ctx: Ctx, request_id: RequestId) -> BulkResult:
    """A supervisor moves many cases to one person (or to nobody); each case is its own command, reported apart."""
    caller.require(Role.SUPERVISOR)

    async def one(case_id: uuid.UUID) -> str | None:
        try:
            await act(ctx, caller, request_id, case_id, CaseAction.ASSIGN, assignee=body.assignee, reason=body.reason)
        except KepError as exc:
            return exc.detail
        return None

    outcomes = await asyncio.gather(*(one(c) for c in dict.fromkeys(body.case_ids)))
    return BulkResult(
        updated=[c for c, e in zip(dict.fromkeys(body.case_ids), outcomes, strict=True) if e is None],
        failed={str(c): e for c, e in zip(dict.fromkeys(body.case_ids), outcomes, strict=True) if e is not None},
    )


TransitionAction = Literal["start", "suspend", "resume", "complete", "reject", "close", "reopen"]
TRANSITION_ACTIONS: tuple[str, ...] = get_args(TransitionAction)


@router.post("/{case_id}/{action}", response_model=CaseView, responses=PROBLEMS)
async def transition(
    case_id: uuid.UUID,
    action: TransitionAction,
    body: TransitionRequest,
    caller: Caller,
    ctx: Ctx,
    request_id: RequestId,
    idempotency_key: IdempotencyKey = None,
) -> CaseView:
    """Move the case: `start` a submitted case; `suspend` it (a reason; the clock stops) and `resume` it (the due
    date moves by the time suspended); `complete`; `reject` (a reason the citizen will read); `close` a completed or
    rejected case; `reopen` a closed one (supervisors; a reason). Declared after the other actions' routes."""
    fields = {"version": body.version, "reason": body.reason}
    return await act(ctx, caller, request_id, case_id, CaseAction(action), idempotency_key, **fields)


@router.get("/{case_id}/timeline", response_model=list[TimelineEntry], responses=PROBLEMS)
async def case_timeline(case_id: uuid.UUID, caller: Caller, ctx: Ctx) -> list[TimelineEntry]:
    """Every change of the case with old and new values, who, why and the request it came from."""
    caller.require(*STAFF)
    async with ctx.pool.acquire() as conn:
        return await store.timeline(conn=conn, case_id=case_id, office_id=caller.require_office())


@router.get("/{case_id}/timeline.csv", response_class=PlainTextResponse, responses=PROBLEMS)
async def case_timeline_csv(case_id: uuid.UUID, caller: Caller, ctx: Ctx) -> PlainTextResponse:
    """The timeline as CSV, for the file of the case."""
    entries = await case_timeline(case_id, caller, ctx)
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
        headers={"Content-Disposition": f'attachment; filename="case-{case_id}-timeline.csv"'},
    )

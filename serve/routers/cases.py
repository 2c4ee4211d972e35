"""Employees' case endpoints: thin, they authorise, call the owning shard or read, and shape the answer."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Response

from actors.cases import store
from messages.cases import CaseView, OpenCase, OpenCaseRequest, OpenCaseResult
from messages.envelope import new_id
from messages.problems import Problem
from serve.deps import Caller, Ctx, RequestId, call_actor
from serve.security import Role

router = APIRouter(prefix="/api/cases", tags=["cases"])
PROBLEMS: dict[int | str, dict[str, object]] = {
    code: {"model": Problem, "content": {"application/problem+json": {}}} for code in (401, 403, 404, 422)
}
STAFF = (Role.EMPLOYEE, Role.SUPERVISOR)


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


@router.get("/{case_id}", response_model=CaseView, responses=PROBLEMS)
async def get_case(case_id: uuid.UUID, caller: Caller, ctx: Ctx) -> CaseView:
    """Read straight from PostgreSQL: no actor hop on the hot read path."""
    caller.require(*STAFF)
    async with ctx.pool.acquire() as conn:
        return await store.get_case(conn=conn, case_id=case_id, office_id=caller.require_office())

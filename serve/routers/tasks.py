"""User tasks of the BPMN processes, for the staff of the office they are offered to.

A process offers its user tasks to the office's group (`candidateGroups="${office}"`, the office id), so the
engine's own query by the caller's office is the whole visibility rule: the list is filtered and paged by the
engine, and an action finds its one task by id within the office, so another office's task is not found, exactly
as another office's case is not. Completing validates the submission against the task's Form.io form
(`formKey="kep:<form key>"`) with the same validator as case forms.
"""

from __future__ import annotations

import base64
import contextlib
import json
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict

from actors.cases import store
from actors.cases.lockstep import PROCESS_VARIABLES
from actors.forms import check_submission
from actors.forms import store as forms
from actors.forms.store import problem_errors
from bpmn_bridge.engine import TaskPosition, TaskQuery, UserTask
from bpmn_bridge.errors import TaskAlreadyClaimed
from infra.db import advisory_lock
from messages.cases import CaseStatus
from messages.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from serve.deps import Caller, Ctx, Staff
from serve.routers.cases import PROBLEMS
from serve.security import Principal

router = APIRouter(prefix="/api/tasks", tags=["user tasks"], responses=PROBLEMS)
FORM_PREFIX = "kep:"


class OfficeTask(BaseModel):
    """A user task as staff see it: what to do, for which case, claimed by whom."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str | None
    task_definition_key: str
    case_id: str | None
    assignee: str | None
    created: datetime
    due: datetime | None
    form_key: str | None


class OfficeTaskPage(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[OfficeTask]
    next_cursor: str | None


class CompleteTaskRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    data: dict[str, Any]


def encode_cursor(position: TaskPosition) -> str:
    raw = json.dumps([position.created.isoformat(), position.id, position.tied]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> TaskPosition:
    try:
        created, task_id, tied = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        position = TaskPosition(datetime.fromisoformat(created), str(task_id), int(tied))
        if position.created.tzinfo is None or position.tied < 1:
            raise ValueError("not a position")
        return position
    except (ValueError, TypeError) as exc:
        raise InvalidInput.at("/cursor", "not a cursor this API gave out", "cursor") from exc


async def _office_task(ctx: Ctx, caller: Principal, task_id: str) -> UserTask:
    office = str(caller.require_office())
    found = await ctx.engine.user_tasks(task_id=task_id, candidate_group=office, include_assigned=True, max_results=1)
    if not found:
        raise NotFound(f"task {task_id} not found")
    return found[0]


@router.get("", response_model=OfficeTaskPage)
async def list_tasks(
    caller: Staff,
    ctx: Ctx,
    scope: Annotated[Literal["office", "mine", "unassigned"], Query()] = "office",
    case_id: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> OfficeTaskPage:
    """The office's open user tasks, oldest first; `mine`: claimed by the caller; `unassigned`: free to claim;
    `case_id`: of that case only; `next_cursor` fetches the following page."""
    query = TaskQuery(
        candidate_group=str(caller.require_office()),
        include_assigned=True,
        assignee=caller.subject if scope == "mine" else None,
        unassigned=scope == "unassigned",
        business_key=case_id,
    )
    page = await ctx.engine.user_task_page(query, limit, decode_cursor(cursor) if cursor else None)
    cases = await ctx.engine.business_keys([t.process_instance_id for t in page.tasks if t.process_instance_id])
    items = [
        OfficeTask(
            id=t.id,
            name=t.name,
            task_definition_key=t.task_definition_key,
            case_id=cases.get(t.process_instance_id or ""),
            assignee=t.assignee,
            created=t.created,
            due=t.due,
            form_key=t.form_key,
        )
        for t in page.tasks
    ]
    return OfficeTaskPage(items=items, next_cursor=encode_cursor(page.after) if page.after else None)


def _one_at_a_time(ctx: Ctx, task_id: str) -> contextlib.AbstractAsyncContextManager[None]:
    """This API's actions on one task run one after another, so that the check of who holds it and the action are
    one step: the engine completes or unclaims a task whoever holds it. (Changes made in the engine's own tools
    are outside this.)"""
    return advisory_lock(ctx.pool, task_lock_key(task_id))


def task_lock_key(task_id: str) -> str:
    return f"task:{task_id}"


@router.post("/{task_id}/claim", status_code=204, response_class=Response)
async def claim(task_id: str, caller: Staff, ctx: Ctx) -> Response:
    """Take the task; claiming it again is fine, one that someone else holds is 409."""
    async with _one_at_a_time(ctx, task_id):
        task = await _office_task(ctx, caller, task_id)
        if task.assignee not in (None, caller.subject):
            raise Conflict(f"the task is claimed by {task.assignee}")
        try:
            await ctx.engine.claim(task.id, caller.subject)
        except TaskAlreadyClaimed as exc:  # claimed in the engine's own tools meanwhile
            raise Conflict("the task was claimed by someone else meanwhile") from exc
    return Response(status_code=204)


@router.post("/{task_id}/unclaim", status_code=204, response_class=Response)
async def unclaim(task_id: str, caller: Staff, ctx: Ctx) -> Response:
    """Give the task back to the office: the one who claimed it, or a supervisor (403 for anyone else)."""
    async with _one_at_a_time(ctx, task_id):
        task = await _office_task(ctx, caller, task_id)
        if task.assignee not in (None, caller.subject) and "supervisor" not in caller.roles:
            raise Forbidden("only the one who claimed it, or a supervisor, gives a task back")
        await ctx.engine.unclaim(task.id)
    return Response(status_code=204)


async def _case_not_suspended(ctx: Ctx, caller: Caller, task: UserTask) -> None:
    """A suspended case waits for something (the citizen, another authority): its review is not decided meanwhile."""
    if task.process_instance_id is None:
        return
    business_key = (await ctx.engine.business_keys([task.process_instance_id])).get(task.process_instance_id)
    try:
        case_id = uuid.UUID(business_key or "")
    except ValueError:
        return  # not a case's process
    try:
        async with ctx.pool.acquire() as conn:
            case = await store.get_case(conn=conn, case_id=case_id, office_id=caller.require_office())
    except NotFound:
        return  # a process of something else than one of this office's cases
    if case.status is CaseStatus.SUSPENDED:
        raise Conflict(f"case {case.number} is suspended: resume it before deciding its {task.name or 'task'}")


@router.post("/{task_id}/complete", status_code=204, response_class=Response)
async def complete(task_id: str, body: CompleteTaskRequest, caller: Staff, ctx: Ctx) -> Response:
    """Claimed by the caller first (409 otherwise); the data must pass the task's form and becomes the process's
    variables. A task without a form takes no data; a variable the process keeps for itself is never set (422)."""
    async with _one_at_a_time(ctx, task_id):
        task = await _office_task(ctx, caller, task_id)
        if task.assignee != caller.subject:
            raise Conflict("claim the task before completing it")
        await _case_not_suspended(ctx, caller, task)
        reserved = sorted(PROCESS_VARIABLES & body.data.keys())
        if reserved:
            why = "set by the process, never by a form"
            raise InvalidInput(
                f"{', '.join(reserved)}: {why}", [FieldError(f"/data/{k}", why, "reserved") for k in reserved]
            )
        variables: dict[str, Any] = {}
        if not (task.form_key and task.form_key.startswith(FORM_PREFIX)):
            if body.data:  # nothing to judge it by: it would reach the process unchecked
                raise InvalidInput.at("/data", "this task has no form: it is completed without data", "no_form")
        else:
            async with ctx.pool.acquire() as conn:
                form = await forms.get_form(conn=conn, key=task.form_key.removeprefix(FORM_PREFIX))
            checked = check_submission(form.definition or {}, body.data)
            if checked.errors:
                raise InvalidInput("the task's form data is not valid", problem_errors(checked.errors, "/data"))
            variables = checked.data  # what the form keeps, nothing else
        await ctx.engine.complete_user_task(task.id, variables=variables)
    return Response(status_code=204)

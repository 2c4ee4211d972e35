"""User tasks of the BPMN processes, for the staff of the office they are offered to.

A process offers its user tasks to the office's group (`candidateGroups="${office}"`, the office id), so listing
by the caller's office is the whole visibility rule; every action first finds the task in that list, so another
office's task is not found, exactly as another office's case is not. Completing validates the submission against
the task's Form.io form (`formKey="kep:<form key>"`) with the same validator as case forms.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict

from actors.forms import store as forms
from actors.forms import validate_submission
from actors.forms.store import problem_errors
from bpmn_bridge.engine import UserTask
from messages.errors import InvalidInput, NotFound
from serve.deps import Caller, Ctx
from serve.routers.cases import PROBLEMS, STAFF

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


class CompleteTaskRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    data: dict[str, Any]


async def _office_task(ctx: Ctx, caller: Caller, task_id: str) -> UserTask:
    caller.require(*STAFF)
    office = caller.require_office()
    for task in await ctx.engine.user_tasks(candidate_group=str(office), include_assigned=True):
        if task.id == task_id:
            return task
    raise NotFound(f"task {task_id} not found")


@router.get("", response_model=list[OfficeTask])
async def list_tasks(
    caller: Caller, ctx: Ctx, scope: Annotated[Literal["office", "mine", "unassigned"], Query()] = "office"
) -> list[OfficeTask]:
    """The office's open user tasks; `mine`: claimed by the caller; `unassigned`: free to claim."""
    caller.require(*STAFF)
    tasks = await ctx.engine.user_tasks(candidate_group=str(caller.require_office()), include_assigned=True)
    if scope == "mine":
        tasks = [t for t in tasks if t.assignee == caller.subject]
    elif scope == "unassigned":
        tasks = [t for t in tasks if t.assignee is None]
    cases = await ctx.engine.business_keys([t.process_instance_id for t in tasks if t.process_instance_id])
    return [
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
        for t in tasks
    ]


@router.post("/{task_id}/claim", status_code=204, response_class=Response)
async def claim(task_id: str, caller: Caller, ctx: Ctx) -> Response:
    task = await _office_task(ctx, caller, task_id)
    if task.assignee not in (None, caller.subject):
        raise InvalidInput(f"the task is claimed by {task.assignee}")
    await ctx.engine.claim(task.id, caller.subject)
    return Response(status_code=204)


@router.post("/{task_id}/unclaim", status_code=204, response_class=Response)
async def unclaim(task_id: str, caller: Caller, ctx: Ctx) -> Response:
    task = await _office_task(ctx, caller, task_id)
    if task.assignee != caller.subject and "supervisor" not in caller.roles:
        raise InvalidInput("only the one who claimed it, or a supervisor, gives a task back")
    await ctx.engine.unclaim(task.id)
    return Response(status_code=204)


@router.post("/{task_id}/complete", status_code=204, response_class=Response)
async def complete(task_id: str, body: CompleteTaskRequest, caller: Caller, ctx: Ctx) -> Response:
    """Claimed by the caller first; the data must pass the task's form; it becomes the process's variables."""
    task = await _office_task(ctx, caller, task_id)
    if task.assignee != caller.subject:
        raise InvalidInput("claim the task before completing it")
    if task.form_key and task.form_key.startswith(FORM_PREFIX):
        async with ctx.pool.acquire() as conn:
            form = await forms.get_form(conn=conn, key=task.form_key.removeprefix(FORM_PREFIX))
        errors = validate_submission(form.definition or {}, body.data)
        if errors:
            raise InvalidInput("the task's form data is not valid", problem_errors(errors, "/data"))
    await ctx.engine.complete_user_task(task.id, variables=body.data)
    return Response(status_code=204)

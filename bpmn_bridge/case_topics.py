"""Handlers of the KEP case process's service tasks (topics of `bpmn_bridge/processes/kep_case.bpmn`).

Their effects on a case go through the case's own shard as commands whose id is the effect key's idempotency key,
so the case store's command-id replay is the exactly-once guarantee, and the engine's progress shows on the case's
timeline like any other change.
"""

from __future__ import annotations

import uuid
from typing import Any

from bpmn_bridge.effects import EffectKey
from bpmn_bridge.handlers import BusinessError, HandlerContext, TaskFailed, TopicOptions, topic
from messages.cases import CaseAction, CaseCommand, CaseStatus, CaseView
from messages.errors import Conflict
from messages.tasks import TaskCommand

PROCESS_ACTOR = "bpmn:kep_case"  # who the timeline names for the engine's changes
# the process acts for the office: it may assign anyone of it, as a supervisor may
SYSTEM_ROLES = frozenset({"system", "supervisor"})

# the status a service task asks for -> the case action that leads there
_ACTION_TO = {
    CaseStatus.IN_PROGRESS: CaseAction.START,
    CaseStatus.COMPLETED: CaseAction.COMPLETE,
}


async def _act(
    task: TaskCommand, ctx: HandlerContext, effect: str, action: CaseAction, **fields: Any
) -> CaseView | None:
    """Apply a case action as the process, once per (instance, activity instance, effect); None if no case."""
    case_id = uuid.UUID(task.business_key or "")
    row = await ctx.pool.fetchrow("SELECT office_id, version FROM cases WHERE id = $1", case_id)
    if row is None:
        raise TaskFailed(f"case {case_id} does not exist", retry=False)
    command = CaseCommand(
        command_id=EffectKey.of(task, effect).idempotency_key,
        case_id=case_id,
        office_id=row["office_id"],
        actor=PROCESS_ACTOR,
        roles=SYSTEM_ROLES,
        action=action,
        version=row["version"],
        reason=fields.pop("reason", f"BPMN {task.activity_id}"),
        **fields,
    )
    try:
        view: CaseView = await ctx.extras["apply"](command)
    except Conflict as exc:  # changed between our read and the command: read again on the next attempt
        raise TaskFailed(str(exc), retry=True) from exc
    return view


@topic(TopicOptions("case-status", variables=("status",), lock_ms=30_000))
async def set_case_status(task: TaskCommand, ctx: HandlerContext) -> dict[str, Any]:
    target = CaseStatus(task.variables["status"])
    if target not in _ACTION_TO:
        raise TaskFailed(f"the process asks for status {target}, which no action reaches", retry=False)
    status = await ctx.pool.fetchval("SELECT status FROM cases WHERE id = $1", uuid.UUID(task.business_key or ""))
    if status == target.value:
        return {"caseStatus": target.value}  # already there (an employee was quicker, or this is a redelivery)
    view = await _act(task, ctx, "case-status", _ACTION_TO[target])
    assert view is not None
    return {"caseStatus": view.status.value}


@topic(TopicOptions("case-assign", variables=(), lock_ms=30_000))
async def assign_by_rule(task: TaskCommand, ctx: HandlerContext) -> dict[str, Any]:
    """The office's active employee with the fewest open cases (then by name); a case already assigned stays."""
    case_id = uuid.UUID(task.business_key or "")
    current = await ctx.pool.fetchrow("SELECT office_id, assignee FROM cases WHERE id = $1", case_id)
    if current is None:
        raise TaskFailed(f"case {case_id} does not exist", retry=False)
    if current["assignee"]:
        return {"assignee": current["assignee"]}
    pick = await ctx.pool.fetchval(
        """SELECT u.subject FROM users u
           LEFT JOIN cases c ON c.assignee = u.subject AND c.status IN ('submitted', 'in_progress', 'suspended')
           WHERE u.office_id = $1 AND u.active AND 'employee' = ANY(u.roles)
           GROUP BY u.subject ORDER BY count(c.id), u.subject LIMIT 1""",
        current["office_id"],
    )
    if pick is None:
        return {"assignee": None}  # nobody to give it to: it waits in the office's queue
    await _act(task, ctx, "case-assign", CaseAction.ASSIGN, assignee=pick)
    return {"assignee": pick}


@topic(TopicOptions("case-documents", variables=(), lock_ms=30_000))
async def check_documents(task: TaskCommand, ctx: HandlerContext) -> dict[str, Any]:
    """Mitos lists the evidence a procedure needs; a case with none of its documents yet waits for them."""
    case_id = uuid.UUID(task.business_key or "")
    row = await ctx.pool.fetchrow(
        """SELECT coalesce(jsonb_array_length(p.payload->'metadata'->'process_evidences'), 0) AS needed,
                  (SELECT count(*) FROM documents d WHERE d.case_id = c.id) AS attached
           FROM cases c JOIN procedures p ON p.id = c.procedure_id WHERE c.id = $1""",
        case_id,
    )
    if row is None:
        raise TaskFailed(f"case {case_id} does not exist", retry=False)
    if row["needed"] and not row["attached"]:
        raise BusinessError("missing-document", f"{row['needed']} supporting document(s) expected, none attached")
    return {"documentsAttached": row["attached"]}


@topic(TopicOptions("case-suspend", variables=(), lock_ms=30_000))
async def suspend_for_document(task: TaskCommand, ctx: HandlerContext) -> dict[str, Any]:
    status = await ctx.pool.fetchval("SELECT status FROM cases WHERE id = $1", uuid.UUID(task.business_key or ""))
    if status != CaseStatus.SUSPENDED.value:
        await _act(task, ctx, "case-suspend", CaseAction.SUSPEND, reason="αναμονή δικαιολογητικών από τον πολίτη")
    return {}


@topic(TopicOptions("case-resume", variables=(), lock_ms=30_000))
async def resume_after_document(task: TaskCommand, ctx: HandlerContext) -> dict[str, Any]:
    status = await ctx.pool.fetchval("SELECT status FROM cases WHERE id = $1", uuid.UUID(task.business_key or ""))
    if status == CaseStatus.SUSPENDED.value:
        await _act(task, ctx, "case-resume", CaseAction.RESUME, reason="τα δικαιολογητικά προσκομίστηκαν")
    return {}


@topic(TopicOptions("case-escalate", variables=(), lock_ms=30_000))
async def escalate(task: TaskCommand, ctx: HandlerContext) -> dict[str, Any]:
    """Past its due date: a note on the timeline, and the case to the office's supervisor (the first by name)."""
    case_id = uuid.UUID(task.business_key or "")
    supervisor = await ctx.pool.fetchval(
        """SELECT u.subject FROM users u JOIN cases c ON c.office_id = u.office_id
           WHERE c.id = $1 AND u.active AND 'supervisor' = ANY(u.roles) ORDER BY u.subject LIMIT 1""",
        case_id,
    )
    await _act(task, ctx, "escalate-note", CaseAction.NOTE, reason="η προθεσμία πέρασε: κλιμάκωση στον προϊστάμενο")
    if supervisor:
        await _act(task, ctx, "escalate-assign", CaseAction.ASSIGN, assignee=supervisor)
    return {"escalatedTo": supervisor}

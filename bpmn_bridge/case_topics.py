"""Handlers of the KEP case process's service tasks (topics of `bpmn_bridge/processes/kep_case.bpmn`).

Their effects on a case go through the case's own shard as commands whose id is the effect key's idempotency key,
so the case store's command-id replay is the exactly-once guarantee, and the engine's progress shows on the case's
timeline like any other change.
"""

from __future__ import annotations

import uuid
from typing import Any

from bpmn_bridge.effects import EffectKey
from bpmn_bridge.handlers import HandlerContext, TaskFailed, TopicOptions, topic
from messages.cases import CaseAction, CaseCommand, CaseStatus
from messages.errors import Conflict
from messages.tasks import TaskCommand

PROCESS_ACTOR = "bpmn:kep_case"  # who the timeline names for the engine's changes

# the status a service task asks for -> the case action that leads there
_ACTION_TO = {
    CaseStatus.IN_PROGRESS: CaseAction.START,
    CaseStatus.COMPLETED: CaseAction.COMPLETE,
}


@topic(TopicOptions("case-status", variables=("status",), lock_ms=30_000))
async def set_case_status(task: TaskCommand, ctx: HandlerContext) -> dict[str, Any]:
    target = CaseStatus(task.variables["status"])
    if target not in _ACTION_TO:
        raise TaskFailed(f"the process asks for status {target}, which no action reaches", retry=False)
    case_id = uuid.UUID(task.business_key or "")
    row = await ctx.pool.fetchrow("SELECT office_id, status, version FROM cases WHERE id = $1", case_id)
    if row is None:
        raise TaskFailed(f"case {case_id} does not exist", retry=False)
    if row["status"] == target.value:
        return {"caseStatus": target.value}  # already there (an employee was quicker, or this is a redelivery)
    command = CaseCommand(
        command_id=EffectKey.of(task, "case-status").idempotency_key,
        case_id=case_id,
        office_id=row["office_id"],
        actor=PROCESS_ACTOR,
        roles=frozenset({"system"}),
        action=_ACTION_TO[target],
        version=row["version"],
        reason=f"BPMN {task.activity_id}",
    )
    try:
        view = await ctx.extras["apply"](command)
    except Conflict as exc:  # changed between our read and the command: read again on the next attempt
        raise TaskFailed(str(exc), retry=True) from exc
    return {"caseStatus": view.status.value, "caseVersion": view.version}

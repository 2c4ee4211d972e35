"""The case process's service tasks (bpmn_bridge/processes/kep_case.bpmn): what each step does to the case.

Each change goes through the case's shard as a command whose id is the task's effect key (process instance,
activity instance, effect), so a task delivered twice, re-fetched after a lost lock or retried after a crash
changes the case once, and the change shows on the case's timeline with the process as actor. The table at the
end is the whole list; `lockstep.PROCESS_TO_CASE` says the same in words.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from actors.cases import facts as case_facts
from actors.cases.lifecycle import OPEN
from actors.cases.lockstep import PROCESS_ACTOR, escalate_at
from actors.cases.shards import CaseShards
from messages.cases import CaseAction, CaseCommand, CaseStatus, CaseView
from messages.errors import Conflict
from messages.roles import Role
from messages.tasks import BusinessError, TaskCommand, TaskFailed, Topic, TopicOptions

# the process acts for the office: it may assign anyone of it, as a supervisor may
PROCESS_ROLES = frozenset({Role.SYSTEM.value, Role.SUPERVISOR.value})
_NS = uuid.UUID("3f1a8c52-6d2e-4b7a-9c1f-0e5d7a2b4c68")
REDECIDE = 2  # conflicts answered by reading the case again before the task fails into a retry
Handler = Callable[[TaskCommand, "CaseTaskDeps"], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class CaseTaskDeps:
    pool: asyncpg.Pool[asyncpg.Record]
    cases: CaseShards


def effect_id(task: TaskCommand, effect: str) -> uuid.UUID:
    """Stable across deliveries of one task activity: the command id that makes the case apply it once."""
    return uuid.uuid5(_NS, f"{task.process_instance_id}/{task.activity_instance_id}/{effect}")


def case_id_of(task: TaskCommand) -> uuid.UUID:
    try:
        return uuid.UUID(task.business_key or "")
    except ValueError:
        raise TaskFailed(f"business key {task.business_key!r} is not a case id", retry=False) from None


async def _facts(task: TaskCommand, deps: CaseTaskDeps) -> case_facts.CaseFacts:
    async with deps.pool.acquire() as conn:
        found = await case_facts.facts(conn=conn, case_id=case_id_of(task))
    if found is None:
        raise TaskFailed(f"case {task.business_key} does not exist", retry=False)
    return found


async def _act(
    task: TaskCommand, deps: CaseTaskDeps, facts: case_facts.CaseFacts, effect: str, action: CaseAction, **fields: Any
) -> CaseView:
    return await act_as_process(task, deps.cases, facts.office_id, effect, action, **fields)


async def act_as_process(
    task: TaskCommand, cases: CaseShards, office_id: uuid.UUID, effect: str, action: CaseAction, **fields: Any
) -> CaseView:
    """Apply a case action as the process, once per (instance, activity instance, effect), to the case as it is
    now: the process holds no version; the status rules decide (a `Conflict` when the case moved on). Other
    packages' process steps (delivery) change the case through this too."""
    command = CaseCommand(
        command_id=effect_id(task, effect),
        case_id=case_id_of(task),
        office_id=office_id,
        actor=PROCESS_ACTOR,
        roles=PROCESS_ROLES,
        action=action,
        reason=fields.pop("reason", f"BPMN {task.activity_id}"),
        **fields,
    )
    return (await cases.apply(command)).case


def redecided(handler: Handler) -> Handler:
    """An employee may change the case between the handler's read and its command: the handler reads the case
    again and decides anew, here and now, rather than failing the task into the engine's retry timeout."""

    async def run(task: TaskCommand, deps: CaseTaskDeps) -> dict[str, Any]:
        redecisions = 0
        while True:
            try:
                return await handler(task, deps)
            except Conflict as exc:
                redecisions += 1
                if redecisions > REDECIDE:
                    raise TaskFailed(str(exc), retry=True) from exc

    return run


async def intake(task: TaskCommand, deps: CaseTaskDeps) -> dict[str, Any]:
    """Give the case to the office's least busy employee when nobody has it, then check its documents. Missing
    (the procedure asks for some, none is attached, no employee waived them): the case is suspended until they
    come (BPMN error). There: a case the process had suspended for them goes on."""
    facts = await _facts(task, deps)
    if facts.assignee is None and facts.status in OPEN:
        async with deps.pool.acquire() as conn:
            pick = await case_facts.least_busy_employee(conn=conn, office_id=facts.office_id)
        if pick is not None:  # nobody to give it to: it waits in the office's queue
            await _act(task, deps, facts, "intake-assign", CaseAction.ASSIGN, assignee=pick)
    waived = bool(task.variables.get("documentsWaived"))
    missing = facts.evidences_needed and not facts.documents_attached and not waived
    if missing and facts.status in OPEN:
        if facts.status is not CaseStatus.SUSPENDED:
            reason = "αναμονή δικαιολογητικών από τον πολίτη"
            await _act(task, deps, facts, "intake-suspend", CaseAction.SUSPEND, reason=reason)
        raise BusinessError(
            "missing-document", f"{facts.evidences_needed} supporting document(s) expected, none attached"
        )
    if facts.status is CaseStatus.SUSPENDED and facts.suspended_by == PROCESS_ACTOR:
        # an employee's suspension is the employee's to lift
        reason = "τα δικαιολογητικά προσκομίστηκαν"
        await _act(task, deps, facts, "intake-resume", CaseAction.RESUME, reason=reason)
    return {}  # the case holds what the intake did; a variable would be one more row per case for nobody


async def set_status(task: TaskCommand, deps: CaseTaskDeps) -> dict[str, Any]:
    """The review's decision: completed (started first if nobody had), or rejected with the reviewer's reason."""
    target = CaseStatus(task.variables["status"])
    facts = await _facts(task, deps)
    if facts.status is target:
        return {}  # already there (a redelivery, or an employee was quicker)
    if target is CaseStatus.COMPLETED:
        if facts.status is CaseStatus.SUBMITTED:
            await _act(task, deps, facts, "start", CaseAction.START, reason="έγκριση ελέγχου")
        await _act(task, deps, facts, "complete", CaseAction.COMPLETE, reason="έγκριση ελέγχου")
    elif target is CaseStatus.REJECTED:
        reason = str(task.variables.get("reason") or "").strip() or "απόρριψη κατά τον έλεγχο"
        await _act(task, deps, facts, "reject", CaseAction.REJECT, reason=reason)
    else:
        raise TaskFailed(f"the process asks for status {target}, which no decision reaches", retry=False)
    return {}


async def check_due(task: TaskCommand, deps: CaseTaskDeps) -> dict[str, Any]:
    """The deadline watcher's timer fired: escalate once if the case is really overdue; otherwise tell the
    watcher when to look again (a suspended case's clock is stopped: it waits for the resumption)."""
    facts = await _facts(task, deps)
    if facts.status not in OPEN:
        return {"dueOutcome": "ended"}
    if facts.status is CaseStatus.SUSPENDED:
        return {"dueOutcome": "suspended"}
    due = escalate_at(facts.due_at, facts.created_at)
    if due > datetime.now(UTC):
        return {"dueOutcome": "waiting", "escalateAt": due}
    async with deps.pool.acquire() as conn:
        boss = await case_facts.supervisor(conn=conn, office_id=facts.office_id)
    view = await _act(
        task, deps, facts, "escalate-note", CaseAction.NOTE, reason="η προθεσμία πέρασε: κλιμάκωση στον προϊστάμενο"
    )
    if boss is not None and view.assignee != boss:
        await _act(task, deps, facts, "escalate-assign", CaseAction.ASSIGN, assignee=boss)
    return {"dueOutcome": "escalated", "escalatedTo": boss}


LOCK_MS = 30_000
TABLE: tuple[tuple[TopicOptions, Handler], ...] = (
    (TopicOptions("case-intake", variables=("documentsWaived",), lock_ms=LOCK_MS), redecided(intake)),
    (TopicOptions("case-status", variables=("status", "reason"), lock_ms=LOCK_MS), redecided(set_status)),
    (TopicOptions("case-due", variables=(), lock_ms=LOCK_MS), redecided(check_due)),
)
OPTIONS: dict[str, TopicOptions] = {options.topic: options for options, _ in TABLE}


def topics(deps: CaseTaskDeps) -> dict[str, Topic]:
    return {options.topic: Topic(options, _bound(handler, deps)) for options, handler in TABLE}


def _bound(handler: Handler, deps: CaseTaskDeps) -> Callable[[TaskCommand], Awaitable[dict[str, Any]]]:
    async def run(task: TaskCommand) -> dict[str, Any]:
        return await handler(task, deps)

    return run

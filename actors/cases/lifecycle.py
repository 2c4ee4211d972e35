"""What each case action may do, from which status, for whom: pure rules, no I/O (the store applies the plan).

A suspension stops the clock: on resume the due date moves by the time spent suspended, as the law on
administrative deadlines has it (the citizen's missing document does not eat the office's time).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from messages.cases import CaseAction, CaseStatus
from messages.errors import Conflict, Forbidden, InvalidInput
from messages.roles import Role

S = CaseStatus
OPEN = frozenset({S.SUBMITTED, S.IN_PROGRESS, S.SUSPENDED})

# action -> (statuses it may start from, status it leads to; None: stays, or back to where a suspension began)
TRANSITIONS: dict[CaseAction, tuple[frozenset[CaseStatus], CaseStatus | None]] = {
    CaseAction.START: (frozenset({S.SUBMITTED}), S.IN_PROGRESS),
    CaseAction.SUSPEND: (frozenset({S.SUBMITTED, S.IN_PROGRESS}), S.SUSPENDED),
    CaseAction.RESUME: (frozenset({S.SUSPENDED}), None),
    CaseAction.EXTEND: (OPEN, None),
    CaseAction.COMPLETE: (frozenset({S.IN_PROGRESS}), S.COMPLETED),
    CaseAction.REJECT: (frozenset({S.SUBMITTED, S.IN_PROGRESS}), S.REJECTED),
    CaseAction.CLOSE: (frozenset({S.COMPLETED, S.REJECTED}), S.CLOSED),
    CaseAction.REOPEN: (frozenset({S.CLOSED}), S.IN_PROGRESS),
    CaseAction.ASSIGN: (OPEN, None),
    CaseAction.NOTE: (frozenset(CaseStatus), None),
    CaseAction.UPDATE_FORM: (OPEN, None),
    CaseAction.ATTACH: (OPEN, None),
    CaseAction.TRANSFER: (OPEN, None),
}
NEEDS_REASON = frozenset(
    {CaseAction.SUSPEND, CaseAction.REJECT, CaseAction.REOPEN, CaseAction.EXTEND, CaseAction.TRANSFER}
)
SUPERVISOR_ONLY = frozenset({CaseAction.REOPEN, CaseAction.TRANSFER})


@dataclass(frozen=True)
class CaseState:
    """The columns of a case that the rules read."""

    status: CaseStatus
    version: int
    assignee: str | None
    due_at: datetime | None
    suspended_at: datetime | None
    suspended_from: CaseStatus | None
    office_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Command:
    action: CaseAction
    actor: str
    roles: frozenset[str]
    version: int | None  # None only for a supervisor's bulk reassignment
    reason: str | None = None
    days: int | None = None
    assignee: str | None = None
    form_data: dict[str, Any] | None = None
    to_office: uuid.UUID | None = None


@dataclass(frozen=True)
class Plan:
    """Columns to set (status_changed_at is the store's), and whether the case's version moves."""

    changes: dict[str, Any] = field(default_factory=dict)
    bumps_version: bool = True


def _invalid(path: str, message: str, kind: str) -> InvalidInput:
    return InvalidInput.at(path, message, kind)


def plan(state: CaseState, cmd: Command, now: datetime) -> Plan:
    allowed_from, target = TRANSITIONS[cmd.action]
    supervisor = Role.SUPERVISOR in cmd.roles
    if cmd.action in SUPERVISOR_ONLY and not supervisor:
        raise Forbidden(f"only a supervisor may {cmd.action.value} a case")
    if cmd.action is CaseAction.NOTE:
        return Plan(bumps_version=False)
    if cmd.action is CaseAction.ATTACH:  # a document is added next to the case; no field of the case changes
        # the system issues documents in any status (a certificate is issued again after the case completed)
        if state.status not in allowed_from and Role.SYSTEM not in cmd.roles:
            raise Conflict(f"a {state.status.value} case takes no more documents")
        return Plan(bumps_version=False)
    if cmd.version is None:
        # a person acts on the version they saw; the process acts on the case as it is now (the status rules
        # below still hold), and a supervisor's bulk reassignment needs no version either
        if not (Role.SYSTEM in cmd.roles or (cmd.action is CaseAction.ASSIGN and supervisor)):
            raise _invalid("/version", "the case's version is required", "missing")
    elif cmd.version != state.version:
        raise Conflict(f"the case changed since version {cmd.version}; it is at version {state.version}")
    if state.status not in allowed_from:
        raise Conflict(f"a {state.status.value} case cannot be {cmd.action.past}")
    if cmd.action in NEEDS_REASON and not (cmd.reason and cmd.reason.strip()):
        raise _invalid("/reason", f"a reason is required to {cmd.action.value} a case", "missing")

    changes: dict[str, Any] = {}
    if cmd.action is CaseAction.ASSIGN:
        if not supervisor and cmd.assignee not in (cmd.actor, None):
            raise Forbidden("an employee may take a case, not give it to someone else; a supervisor may")
        if not supervisor and state.assignee not in (cmd.actor, None):
            raise Forbidden("the case is someone else's; a supervisor may reassign it")
        if cmd.assignee == state.assignee:
            return Plan(bumps_version=False)
        return Plan({"assignee": cmd.assignee})
    if cmd.action is CaseAction.UPDATE_FORM:
        return Plan({"form_data": cmd.form_data or {}})
    if cmd.action is CaseAction.TRANSFER:
        if cmd.to_office is None:
            raise _invalid("/office_id", "the office to hand the case over to is required", "missing")
        if cmd.to_office == state.office_id:
            raise _invalid("/office_id", "the case is this office's already", "same_office")
        # the new office's staff take it up: nobody of the old office holds it there
        return Plan({"office_id": cmd.to_office, "assignee": None})
    if cmd.action is CaseAction.EXTEND:
        if not cmd.days:
            raise _invalid("/days", "the number of days to extend by is required", "missing")
        changes["due_at"] = (state.due_at or now) + timedelta(days=cmd.days)
        return Plan(changes)
    if cmd.action is CaseAction.SUSPEND:
        changes |= {"suspended_at": now, "suspended_from": state.status.value, "suspended_by": cmd.actor}
    if cmd.action is CaseAction.RESUME:
        target = state.suspended_from or S.IN_PROGRESS
        changes |= {"suspended_at": None, "suspended_from": None, "suspended_by": None}
        if state.due_at is not None and state.suspended_at is not None:
            changes["due_at"] = state.due_at + (now - state.suspended_at)
    assert target is not None
    changes["status"] = target.value
    return Plan(changes)

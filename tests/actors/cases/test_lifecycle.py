"""The case lifecycle rules, table-driven: which action from which status, for whom, with what effect."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from actors.cases.lifecycle import TRANSITIONS, CaseState, Command, plan
from messages.cases import CaseAction, CaseStatus
from messages.errors import Conflict, Forbidden, InvalidInput

A, S = CaseAction, CaseStatus
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
DUE = NOW + timedelta(days=10)
EMPLOYEE = frozenset({"employee"})
SUPERVISOR = frozenset({"employee", "supervisor"})


def state(status: CaseStatus, **kw: object) -> CaseState:
    base: dict[str, object] = {
        "status": status,
        "version": 3,
        "assignee": None,
        "due_at": DUE,
        "suspended_at": None,
        "suspended_from": None,
    }
    return CaseState(**(base | kw))  # type: ignore[arg-type]


def cmd(action: CaseAction, roles: frozenset[str] = EMPLOYEE, **kw: object) -> Command:
    fields: dict[str, object] = {"version": 3, "reason": "ο πολίτης ζήτησε", "days": None, "assignee": None} | kw
    return Command(action, "maria", roles, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "action", "to"),
    [
        (S.SUBMITTED, A.START, S.IN_PROGRESS),
        (S.SUBMITTED, A.SUSPEND, S.SUSPENDED),
        (S.IN_PROGRESS, A.SUSPEND, S.SUSPENDED),
        (S.IN_PROGRESS, A.COMPLETE, S.COMPLETED),
        (S.SUBMITTED, A.REJECT, S.REJECTED),
        (S.IN_PROGRESS, A.REJECT, S.REJECTED),
        (S.COMPLETED, A.CLOSE, S.CLOSED),
        (S.REJECTED, A.CLOSE, S.CLOSED),
    ],
)
def test_allowed_transitions(status: CaseStatus, action: CaseAction, to: CaseStatus) -> None:
    assert plan(state(status), cmd(action), NOW).changes["status"] == to.value


def _refused() -> list[tuple[CaseStatus, CaseAction]]:
    return [
        (status, action)
        for action, (allowed, _) in TRANSITIONS.items()
        for status in CaseStatus
        if status not in allowed and action is not A.NOTE
    ]


@pytest.mark.parametrize(("status", "action"), _refused())
def test_every_other_transition_is_a_conflict(status: CaseStatus, action: CaseAction) -> None:
    with pytest.raises(Conflict, match=status.value):
        plan(state(status), cmd(action, SUPERVISOR, days=5, assignee="maria"), NOW)


def test_a_stale_version_is_a_conflict_before_anything_else() -> None:
    with pytest.raises(Conflict, match="version 2; it is at version 3"):
        plan(state(S.SUBMITTED), cmd(A.START, version=2), NOW)


def test_suspension_stops_the_clock_and_resume_goes_back() -> None:
    suspended = plan(state(S.IN_PROGRESS), cmd(A.SUSPEND), NOW).changes
    assert suspended == {
        "suspended_at": NOW,
        "suspended_from": "in_progress",
        "suspended_by": "maria",
        "status": "suspended",
    }
    later = NOW + timedelta(days=4, hours=2)
    resumed = plan(state(S.SUSPENDED, suspended_at=NOW, suspended_from=S.IN_PROGRESS), cmd(A.RESUME), later).changes
    assert resumed == {
        "suspended_at": None,
        "suspended_from": None,
        "suspended_by": None,
        "due_at": DUE + timedelta(days=4, hours=2),
        "status": "in_progress",
    }
    from_submitted = plan(state(S.SUSPENDED, suspended_at=NOW, suspended_from=S.SUBMITTED), cmd(A.RESUME), NOW)
    assert from_submitted.changes["status"] == "submitted"


def test_extend_moves_the_due_date_and_needs_days_and_a_reason() -> None:
    assert plan(state(S.IN_PROGRESS), cmd(A.EXTEND, days=15), NOW).changes == {"due_at": DUE + timedelta(days=15)}
    assert plan(state(S.IN_PROGRESS, due_at=None), cmd(A.EXTEND, days=1), NOW).changes == {
        "due_at": NOW + timedelta(days=1)
    }
    with pytest.raises(InvalidInput) as missing_days:
        plan(state(S.IN_PROGRESS), cmd(A.EXTEND), NOW)
    assert missing_days.value.errors[0].path == "/days"


@pytest.mark.parametrize("action", [A.SUSPEND, A.REJECT, A.EXTEND])
@pytest.mark.parametrize("reason", [None, "", "   "])
def test_some_actions_need_a_reason(action: CaseAction, reason: str | None) -> None:
    with pytest.raises(InvalidInput) as err:
        plan(state(S.IN_PROGRESS), cmd(action, reason=reason, days=3), NOW)
    assert err.value.errors[0].path == "/reason"


def test_reopen_is_for_supervisors() -> None:
    with pytest.raises(Forbidden):
        plan(state(S.CLOSED), cmd(A.REOPEN), NOW)
    assert plan(state(S.CLOSED), cmd(A.REOPEN, SUPERVISOR), NOW).changes == {"status": "in_progress"}


@pytest.mark.parametrize(
    ("roles", "current", "assignee", "outcome"),
    [
        (EMPLOYEE, None, "maria", {"assignee": "maria"}),  # takes a case
        (EMPLOYEE, "maria", None, {"assignee": None}),  # gives back her own
        (EMPLOYEE, None, "nikos", Forbidden),  # cannot give a case to someone else
        (EMPLOYEE, "nikos", None, Forbidden),  # nor take one off someone else
        (EMPLOYEE, "nikos", "maria", Forbidden),
        (SUPERVISOR, "nikos", "eleni", {"assignee": "eleni"}),
        (SUPERVISOR, "nikos", None, {"assignee": None}),
        (SUPERVISOR, "eleni", "eleni", {}),  # no change, no new version
    ],
)
def test_assignment_rules(
    roles: frozenset[str], current: str | None, assignee: str | None, outcome: dict[str, object] | type
) -> None:
    if isinstance(outcome, type):
        with pytest.raises(outcome):
            plan(state(S.IN_PROGRESS, assignee=current), cmd(A.ASSIGN, roles, assignee=assignee), NOW)
    else:
        assert (
            plan(state(S.IN_PROGRESS, assignee=current), cmd(A.ASSIGN, roles, assignee=assignee), NOW).changes
            == outcome
        )


def test_only_a_supervisors_bulk_reassignment_may_skip_the_version() -> None:
    bulk = cmd(A.ASSIGN, SUPERVISOR, version=None, assignee="eleni")
    assert plan(state(S.IN_PROGRESS), bulk, NOW).changes == {"assignee": "eleni"}
    with pytest.raises(InvalidInput):
        plan(state(S.IN_PROGRESS), cmd(A.ASSIGN, version=None, assignee="maria"), NOW)
    with pytest.raises(InvalidInput):
        plan(state(S.IN_PROGRESS), cmd(A.START, SUPERVISOR, version=None), NOW)


def test_a_note_is_allowed_in_any_status_and_changes_no_version() -> None:
    for status in CaseStatus:
        assert plan(state(status), cmd(A.NOTE, version=None), NOW).bumps_version is False

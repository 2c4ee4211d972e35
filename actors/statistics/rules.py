"""What one case event changes in the statistics: pure, shared by the consumer and the rebuild from case_events.

A case's last seen state (`CaseStat`) and an event (`Seen`) give the next state and the increments (`Delta`) to add
to the aggregate tables. An event of a version already seen changes nothing.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from messages.cases import CaseStatus

ATHENS = ZoneInfo("Europe/Athens")
OPEN = frozenset({CaseStatus.SUBMITTED.value, CaseStatus.IN_PROGRESS.value, CaseStatus.SUSPENDED.value})


def day_of(at: datetime) -> date:
    return at.astimezone(ATHENS).date()


@dataclass(frozen=True)
class CaseStat:
    case_id: uuid.UUID
    office_id: uuid.UUID
    procedure_id: uuid.UUID
    channel: str
    status: str
    since: datetime
    assignee: str | None
    due_at: datetime | None
    opened_at: datetime
    version: int


@dataclass(frozen=True)
class Seen:
    """A case event as the statistics need it (from the bus or from case_events)."""

    case_id: uuid.UUID
    office_id: uuid.UUID
    procedure_id: uuid.UUID
    opened: bool
    status: str
    assignee: str | None
    due_at: datetime | None
    version: int
    at: datetime
    channel: str | None = None


@dataclass
class Delta:
    volumes: list[tuple[tuple[uuid.UUID, date, uuid.UUID, str], tuple[int, int, int]]] = field(default_factory=list)
    status_time: list[tuple[tuple[uuid.UUID, date, uuid.UUID, str], float]] = field(default_factory=list)
    # (office, day, procedure) → (on time, late, late days, no deadline)
    compliance: list[tuple[tuple[uuid.UUID, date, uuid.UUID], tuple[int, int, int, int]]] = field(default_factory=list)
    backlog: list[tuple[tuple[uuid.UUID, str], int]] = field(default_factory=list)
    workload: list[tuple[tuple[uuid.UUID, str], int]] = field(default_factory=list)


def late_days(done: datetime, due: datetime) -> int:
    """Whole days (begun) after the due date; 0 on time."""
    over = (done - due).total_seconds()
    return math.ceil(over / 86400) if over > 0 else 0


def step(state: CaseStat | None, ev: Seen, duration_days: int | None) -> tuple[CaseStat | None, Delta]:
    """The next state of the case and what to add; `None` as state: nothing changes (seen before)."""
    delta = Delta()
    if ev.opened:
        if state is not None:
            return None, delta
        new = CaseStat(
            ev.case_id,
            ev.office_id,
            ev.procedure_id,
            ev.channel or "counter",
            ev.status,
            ev.at,
            ev.assignee,
            ev.due_at,
            ev.at,
            ev.version,
        )
        delta.volumes.append(((ev.office_id, day_of(ev.at), ev.procedure_id, new.channel), (1, 0, 0)))
        _count(delta, None, new)
        return new, delta
    if state is None:
        # a case the statistics never saw opened (before they existed): follow it from here, count no stay
        new = CaseStat(
            ev.case_id,
            ev.office_id,
            ev.procedure_id,
            ev.channel or "counter",
            ev.status,
            ev.at,
            ev.assignee,
            ev.due_at,
            ev.at,
            ev.version,
        )
        _count(delta, None, new)
        return new, delta
    if ev.version <= state.version:
        return None, delta
    moved = ev.status != state.status
    # a case handed over to another office: the stay so far is the old office's, the rest (and the backlog, the
    # workload, the outcome) the new one's
    handed_over = ev.office_id != state.office_id
    new = replace(
        state,
        office_id=ev.office_id,
        status=ev.status,
        since=ev.at if moved or handed_over else state.since,
        assignee=ev.assignee,
        due_at=ev.due_at,
        version=ev.version,
    )
    if moved or handed_over:
        day = day_of(ev.at)
        stay = max((ev.at - state.since).total_seconds(), 0.0)
        delta.status_time.append(((state.office_id, day, state.procedure_id, state.status), stay))
    if moved:
        if ev.status in (CaseStatus.COMPLETED.value, CaseStatus.REJECTED.value):
            done = ev.status == CaseStatus.COMPLETED.value
            key = (new.office_id, day, state.procedure_id, state.channel)
            delta.volumes.append((key, (0, 1 if done else 0, 0 if done else 1)))
        if ev.status == CaseStatus.COMPLETED.value:
            due = ev.due_at or state.due_at
            if due is None and duration_days:
                due = state.opened_at + timedelta(days=duration_days)
            cell = (new.office_id, day, state.procedure_id)
            if due is None:
                delta.compliance.append((cell, (0, 0, 0, 1)))
            else:
                late = late_days(ev.at, due)
                delta.compliance.append((cell, (0, 1, late, 0) if late else (1, 0, 0, 0)))
    _count(delta, state, new)
    return new, delta


def _count(delta: Delta, old: CaseStat | None, new: CaseStat) -> None:
    """Backlog (every status) and workload (open cases with an assignee): the old contribution out, the new in."""
    if old is None or (old.office_id, old.status) != (new.office_id, new.status):
        if old is not None:
            delta.backlog.append(((old.office_id, old.status), -1))
        delta.backlog.append(((new.office_id, new.status), 1))
    before = (old.office_id, old.assignee) if old is not None and old.assignee and old.status in OPEN else None
    after = (new.office_id, new.assignee) if new.assignee and new.status in OPEN else None
    if before != after:
        if before is not None:
            delta.workload.append((before, -1))
        if after is not None:
            delta.workload.append((after, 1))

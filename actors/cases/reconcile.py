"""Does every case agree with its process instance? What to compare, what counts as drift, which drift is safe to
repair (and how), and the reads of cases it needs. The reconciler actor (bpmn_bridge/reconciler.py) gathers the
engine's side and acts on the answers.

Safe repairs are the lock-step table's own effects, replayed when an event was lost: starting a missing instance,
ending an instance whose case has ended, delivering a message an instance waits for although its case has moved
on. What needs a person (an instance without a case, a process that ended while its case stays open, incidents) is
reported, never guessed at.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import asyncpg

from actors.cases.lifecycle import OPEN
from actors.cases.lockstep import (
    Correlate,
    Intent,
    Message,
    MoveOffice,
    StartProcess,
    escalate_at,
    start_variables,
)
from infra.db import Conn
from messages.cases import CaseStatus, Channel

# activities of kep_case.bpmn the comparison reads
ENDED_WITH_CASE = "ended_by_case"  # the event subprocess of the message `case-ended`
DEADLINE_HELD = "resumed"  # the watcher waits for the resumption of a suspended case
DEADLINE_TIMER = "due"
TIMER_TOLERANCE = timedelta(minutes=1)


class DriftKind(StrEnum):
    CASE_WITHOUT_INSTANCE = "case_without_instance"  # repaired: started
    REOPENED_WITHOUT_INSTANCE = "reopened_without_instance"  # repaired: started again
    PROCESS_ENDED_CASE_OPEN = "process_ended_case_open"  # reported
    INSTANCE_OF_ENDED_CASE = "instance_of_ended_case"  # repaired: case-ended
    INSTANCE_WITHOUT_CASE = "instance_without_case"  # reported
    DUPLICATE_INSTANCE = "duplicate_instance"  # repaired: the later one deleted
    DOCUMENTS_AWAITED_IN_VAIN = "documents_awaited_in_vain"  # repaired: documents-supplied
    DEADLINE_HELD_IN_VAIN = "deadline_held_in_vain"  # repaired: due-changed
    TIMER_AFTER_DUE_DATE = "timer_after_due_date"  # repaired: due-changed
    OFFICE_NOT_FOLLOWED = "office_not_followed"  # repaired: the instance and its tasks moved to the case's office
    INCIDENT = "incident"  # reported


@dataclass(frozen=True)
class CaseRow:
    id: uuid.UUID
    office_id: uuid.UUID
    procedure_id: uuid.UUID
    status: CaseStatus
    due_at: datetime | None
    created_at: datetime
    updated_at: datetime
    process_key: str | None
    documents: int
    channel: Channel


@dataclass(frozen=True)
class InstanceView:
    """A running instance as the engine shows it, reduced to what the comparison reads."""

    id: str
    business_key: str | None
    awaits_documents: bool = False
    deadline_held: bool = False
    timer_due: datetime | None = None
    incidents: tuple[str, ...] = ()  # their messages
    office: str | None = None  # its `office` variable (the group its user tasks are offered to)
    # the groups its open user tasks are offered to; read only for a case that moved between offices (None: not read)
    task_groups: frozenset[str] | None = None


@dataclass(frozen=True)
class EndedInstance:
    id: str
    end_activity_id: str | None
    end_time: datetime | None


@dataclass(frozen=True)
class DeleteInstance:
    """A repair of the reconciler's own: a second instance of one case's process (two would fight over it)."""

    process_instance_id: str


Repair = Intent | DeleteInstance


@dataclass(frozen=True)
class Drift:
    kind: DriftKind
    case_id: str | None
    instance_id: str | None
    detail: str
    repair: Repair | None = None


def compare_duplicates(business_key: str, started: list[tuple[datetime, str]]) -> list[Drift]:
    """Several running instances for one case (`started`: their start times and ids): the first one stays."""
    first, *later = sorted(started)
    return [
        Drift(DriftKind.DUPLICATE_INSTANCE, business_key, instance, f"instance {first[1]} runs for the case already",
              DeleteInstance(instance))
        for _, instance in later
    ]  # fmt: skip


def compare_running(case: CaseRow | None, instance: InstanceView) -> list[Drift]:
    """Drift of a running instance against its case (None: no such case)."""
    key = instance.business_key
    if case is None:
        return [Drift(DriftKind.INSTANCE_WITHOUT_CASE, key, instance.id, "no case has this instance's business key")]
    drifts = [Drift(DriftKind.INCIDENT, key, instance.id, f"incident: {message}") for message in instance.incidents]
    if case.status not in OPEN:
        ended = {"endStatus": case.status.value, "endReason": "", "endedBy": "reconciler"}
        repair = Correlate(Message.CASE_ENDED, str(case.id), ended)
        return [
            *drifts,
            Drift(DriftKind.INSTANCE_OF_ENDED_CASE, key, instance.id, f"the case is {case.status}", repair),
        ]
    due = escalate_at(case.due_at, case.created_at)
    # the case's resumption as the lock-step table sends it, to every wait (documents, the held watcher)
    resumed = Correlate(Message.CASE_RESUMED, str(case.id), {"escalateAt": due, "documentsWaived": True}, True)
    if instance.awaits_documents and case.documents:
        repair = Correlate(Message.DOCUMENTS_SUPPLIED, str(case.id), {"documentsWaived": False})
        why = f"the case has {case.documents} document(s)"
        drifts.append(Drift(DriftKind.DOCUMENTS_AWAITED_IN_VAIN, key, instance.id, why, repair))
    elif instance.awaits_documents and case.status is not CaseStatus.SUSPENDED:
        why = f"the case is {case.status}"
        drifts.append(Drift(DriftKind.DOCUMENTS_AWAITED_IN_VAIN, key, instance.id, why, resumed))
    if instance.deadline_held and case.status is not CaseStatus.SUSPENDED:
        why = "the case is not suspended"
        drifts.append(Drift(DriftKind.DEADLINE_HELD_IN_VAIN, key, instance.id, why, resumed))
    office = str(case.office_id)
    if instance.office is not None and instance.office != office:
        detail = f"the instance is office {instance.office}'s, the case office {office}'s"
        drifts.append(Drift(DriftKind.OFFICE_NOT_FOLLOWED, key, instance.id, detail, MoveOffice(str(case.id), office)))
    elif instance.task_groups is not None and instance.task_groups - {office}:
        detail = f"user tasks are offered to {', '.join(sorted(instance.task_groups - {office}))}, not only {office}"
        drifts.append(Drift(DriftKind.OFFICE_NOT_FOLLOWED, key, instance.id, detail, MoveOffice(str(case.id), office)))
    if instance.timer_due is not None and instance.timer_due > due + TIMER_TOLERANCE:
        repair = Correlate(Message.DUE_CHANGED, str(case.id), {"escalateAt": due})
        detail = f"the timer fires at {instance.timer_due.isoformat()}, the case is due {due.isoformat()}"
        drifts.append(Drift(DriftKind.TIMER_AFTER_DUE_DATE, key, instance.id, detail, repair))
    return drifts


def compare_missing(case: CaseRow, history: list[EndedInstance]) -> Drift | None:
    """Drift of an open case whose procedure has a process and which has no running instance."""
    if case.status not in OPEN or not case.process_key:
        return None
    start = StartProcess(case.process_key, str(case.id), _start_variables(case))
    if not history:
        return Drift(DriftKind.CASE_WITHOUT_INSTANCE, str(case.id), None, "no instance was ever started", start)
    last = max(history, key=lambda h: h.end_time or datetime.min.replace(tzinfo=case.created_at.tzinfo))
    if last.end_activity_id == ENDED_WITH_CASE:  # it ended with the case, and the case was reopened since
        return Drift(DriftKind.REOPENED_WITHOUT_INSTANCE, str(case.id), last.id, "reopened after its instance ended",
                     start)  # fmt: skip
    detail = f"instance {last.id} ended at {last.end_activity_id or 'no end event'}; the case is {case.status}"
    return Drift(DriftKind.PROCESS_ENDED_CASE_OPEN, str(case.id), last.id, detail)


def _start_variables(case: CaseRow) -> dict[str, Any]:
    return start_variables(
        office_id=case.office_id, due_at=case.due_at, opened_at=case.created_at, channel=case.channel
    )


# the reads

_ROW = """SELECT c.id, c.office_id, c.procedure_id, c.status, c.due_at, c.created_at, c.updated_at, c.channel,
                 p.bpmn_process_key AS process_key,
                 (SELECT count(*) FROM documents d WHERE d.case_id = c.id AND d.template_id IS NULL) AS documents
          FROM cases c JOIN procedures p ON p.id = c.procedure_id"""


def _case(r: asyncpg.Record) -> CaseRow:
    return CaseRow(
        r["id"],
        r["office_id"],
        r["procedure_id"],
        CaseStatus(r["status"]),
        r["due_at"],
        r["created_at"],
        r["updated_at"],
        r["process_key"],
        r["documents"],
        Channel(r["channel"]),
    )


async def process_keys(*, conn: Conn) -> list[str]:
    """The processes procedures run (the instances to look at)."""
    rows = await conn.fetch(
        "SELECT DISTINCT bpmn_process_key FROM procedures WHERE bpmn_process_key IS NOT NULL ORDER BY 1"
    )
    return [r[0] for r in rows]


async def cases_by_id(*, conn: Conn, ids: list[uuid.UUID]) -> dict[uuid.UUID, CaseRow]:
    rows = await conn.fetch(_ROW + " WHERE c.id = ANY($1::uuid[])", ids)
    return {r["id"]: _case(r) for r in rows}


async def open_cases(*, conn: Conn, settled_before: datetime, after: uuid.UUID | None, limit: int) -> list[CaseRow]:
    """Open cases on procedures with a process, unchanged since `settled_before` (a change newer than that may
    still be on its way to the engine), by id from `after`."""
    rows = await conn.fetch(
        _ROW
        + """ WHERE c.status IN ('submitted', 'in_progress', 'suspended') AND p.bpmn_process_key IS NOT NULL
              AND c.updated_at < $1 AND ($2::uuid IS NULL OR c.id > $2) ORDER BY c.id LIMIT $3""",
        settled_before,
        after,
        limit,
    )
    return [_case(r) for r in rows]


async def transferred(*, conn: Conn, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these cases were ever handed over to another office (whose process's tasks are worth reading)."""
    rows = await conn.fetch("SELECT DISTINCT case_id FROM case_transfers WHERE case_id = ANY($1::uuid[])", ids)
    return {r["case_id"] for r in rows}

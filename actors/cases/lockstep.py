"""The case and its process in lock-step: what every case change does to the process instance, and what every
step of the process does to the case. Two tables, read by the code that acts on them and rendered in the README
(`render_tables`; a test keeps the README's copy true).

Postgres says *what* the case is; the engine says *where* its process is. A change an employee makes reaches the
process through the case's own event (outbox → RabbitMQ → the bridge, at least once, so every effect here is
idempotent); a change the process makes is a case command with the process as actor, applied once per task
activity (its command id is the task's effect key), and is never sent back to the process.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from messages.cases import CaseAction, CaseChanged, CaseOpened, Channel
from messages.envelope import Envelope

PROCESS_ACTOR = "bpmn:kep_case"  # who the timeline names for the process's changes
# who the timeline names for the documents the system issues (actors/documents): not the citizen's evidence, so
# never a documents-supplied for the process
DOCUMENTS_ACTOR = "system:documents"
# who the timeline names for what the delivery readers bring in (replies from the mailbox, documents from ΚΣΗΔΕ):
# like the documents the system issues, never a message to the process
DELIVERY_ACTOR = "system:delivery"
# Received by an employee in person: the employee who opened it has it and has seen the citizen's papers, so the
# process's intake (assignment by rule, the documents check) is for the cases that come in without one.
RECEIVED_IN_PERSON = frozenset({Channel.COUNTER})
# a case whose procedure sets no deadline is still escalated after this long
DEFAULT_DUE = timedelta(days=30)


class Message(StrEnum):
    """The messages the case process waits for (bpmn_bridge/processes/kep_case.bpmn)."""

    DOCUMENTS_SUPPLIED = "documents-supplied"  # a process waiting for the citizen's documents goes on
    DUE_CHANGED = "due-changed"  # the deadline watcher re-arms its timer at `escalateAt`
    CASE_RESUMED = "case-resumed"  # to every wait: the watcher re-arms, a wait for documents goes on without them
    CASE_ENDED = "case-ended"  # the instance ends (interrupting event subprocess), with the reason


class Effect(StrEnum):
    """What a case change does to its process instance."""

    START = (
        "start the procedure's process (business key = case id; escalateAt = the due date; intake = not opened at "
        "the counter)"
    )
    RESTART = "start a new instance (the last one ended with the case)"
    DOCUMENTS = "message documents-supplied: a process waiting for documents goes on"
    RESUME = (
        "message case-resumed to every wait of the instance: the escalation timer moves to the case's new due "
        "date; a wait for documents goes on without them (documentsWaived: the employee's word)"
    )
    MOVE_DEADLINE = "message due-changed: the escalation timer moves to the case's new due date"
    HOLD_DEADLINE = (
        "none now: the clock stops; an escalation timer that fires meanwhile finds the case suspended and waits for "
        "the resumption (case-resumed)"
    )
    END = "message case-ended with status, reason and actor: the instance ends"
    MOVE_OFFICE = (
        "the instance's `office` variable becomes the new office, then each of its open user tasks is offered to "
        "the new office's group instead of the old one's and unclaimed"
    )


# Changes the process makes itself are not sent back to it.
CASE_TO_PROCESS: dict[str, tuple[Effect, ...]] = {
    "opened": (Effect.START,),
    CaseAction.START.past: (),
    CaseAction.SUSPEND.past: (Effect.HOLD_DEADLINE,),
    CaseAction.RESUME.past: (Effect.RESUME,),
    CaseAction.EXTEND.past: (Effect.MOVE_DEADLINE,),
    CaseAction.COMPLETE.past: (Effect.END,),
    CaseAction.REJECT.past: (Effect.END,),
    CaseAction.CLOSE.past: (Effect.END,),
    CaseAction.REOPEN.past: (Effect.RESTART,),
    CaseAction.ASSIGN.past: (),
    CaseAction.NOTE.past: (),
    CaseAction.UPDATE_FORM.past: (),
    CaseAction.ATTACH.past: (Effect.DOCUMENTS,),
    CaseAction.TRANSFER.past: (Effect.MOVE_OFFICE,),
}


@dataclass(frozen=True)
class Step:
    """A step of the case process and what it does to the case."""

    activity: str  # BPMN activity id
    topic: str | None  # external task topic (None: a user task)
    effect: str


PROCESS_TO_CASE: tuple[Step, ...] = (
    Step("intake", "case-intake", "for a case that came in without an employee (online, phone, EUGO; a counter case "
         "goes straight to the review): assign (by rule: the office's least busy employee) when nobody has it; the "
         "procedure's documents missing (and not waived): suspend, then BPMN error missing-document → wait for "
         "documents-supplied and check again; there: resume a case the process had suspended"),
    Step("review", None, "none: the office's review user task; its form's decision (approve / reject + reason) "
         "goes to the gateway"),
    Step("issue_receipt", "document-render", "the receipt of submission rendered and attached (a branch of its own "
         "from the start; the renderer pool works it)"),
    Step("issue_certificate", "document-render", "the certificate rendered, signed and attached, before the case "
         "completes"),
    Step("choose_delivery", "delivery-lookup", "a note of the way the certificate goes: to the procedure's ΚΣΗΔΕ "
         "recipient if it names one; else the gov.gr mailbox if ΚΕΔ says the citizen is registered in ΕΜΕπ; else by "
         "hand at the office"),
    Step("deliver_mailbox", "delivery-mailbox", "the certificate posted to the citizen's mailbox (once: the effect "
         "ledger and the posting's idempotency key); a delivery row and a note with the posting; not registered any "
         "more: a note, then by hand"),
    Step("deliver_kshde", "delivery-kshde", "the certificate sent through ΚΣΗΔΕ with the case's documents as "
         "attachments (once: the effect ledger keeps its protocol number); a delivery row and a note with it"),
    Step("physical_delivery", None, "none: the office's user task to hand the certificate over"),
    Step("record_handover", "delivery-handover", "a delivery row and a note: handed over at the office"),
    Step("set_completed", "case-status", "complete (starting it first if nobody had), once delivered"),
    Step("set_rejected", "case-status", "reject, with the reviewer's reason"),
    Step("check_due", "case-due", "past its due date and not suspended: a note and assign to the supervisor, once; "
         "otherwise the timer waits again for the case's real due date"),
    Step("ended_by_case", None, "none: the case ended outside the process (message case-ended)"),
)  # fmt: skip


# what the bridge does with the engine, decided here from the case's event alone (no read of the case)


@dataclass(frozen=True)
class StartProcess:
    process_key: str
    business_key: str
    variables: dict[str, Any]
    once: bool = False  # the case's first instance: none is started if one ever ran (a late copy of the opening)


@dataclass(frozen=True)
class Correlate:
    """A message to the case's instance. None waiting for it is not an error: there was nothing to move (the
    instance is elsewhere or ended); the reconciler finds the cases where that was wrong."""

    message: Message
    business_key: str
    variables: dict[str, Any]
    all_waiting: bool = False  # every wait of the instance that takes this message, not just one


@dataclass(frozen=True)
class MoveOffice:
    """The case's instance follows its case to another office: the variable first, so a user task the instance
    creates meanwhile is the new office's; then the tasks it has already (every one, so a repeat finds nothing
    left to move)."""

    business_key: str
    office: str


Intent = StartProcess | Correlate | MoveOffice


def escalate_at(due_at: datetime | None, opened_at: datetime) -> datetime:
    return due_at if due_at is not None else opened_at + DEFAULT_DUE


def intents(event: Envelope[CaseOpened] | Envelope[CaseChanged]) -> list[Intent]:
    """The engine calls that bring the case's process in step with this change of the case."""
    data = event.data
    if not data.process_key:
        return []  # a procedure without a process: the case is worked by hand
    case = str(data.case_id)
    if isinstance(data, CaseOpened):
        return [StartProcess(data.process_key, case, _variables(data, event.time), once=True)]
    if data.actor in (PROCESS_ACTOR, DOCUMENTS_ACTOR, DELIVERY_ACTOR):
        return []
    out: list[Intent] = []
    for effect in CASE_TO_PROCESS[data.action.past]:
        if effect is Effect.RESTART:
            out.append(StartProcess(data.process_key, case, _variables(data, event.time)))
        elif effect is Effect.DOCUMENTS:
            out.append(Correlate(Message.DOCUMENTS_SUPPLIED, case, {"documentsWaived": False}))
        elif effect is Effect.RESUME:
            resumed = {"escalateAt": escalate_at(data.due_at, event.time), "documentsWaived": True}
            out.append(Correlate(Message.CASE_RESUMED, case, resumed, all_waiting=True))
        elif effect is Effect.MOVE_DEADLINE:
            out.append(Correlate(Message.DUE_CHANGED, case, {"escalateAt": escalate_at(data.due_at, event.time)}))
        elif effect is Effect.END:
            ended = {"endStatus": data.status.value, "endReason": data.reason or "", "endedBy": data.actor}
            out.append(Correlate(Message.CASE_ENDED, case, ended))
        elif effect is Effect.MOVE_OFFICE:
            out.append(MoveOffice(case, str(data.office_id)))
    return out


def _variables(data: CaseOpened | CaseChanged, at: datetime) -> dict[str, Any]:
    return start_variables(office_id=data.office_id, due_at=data.due_at, opened_at=at, channel=data.channel)


# Variables the case process keeps for itself (started with, or set by its steps): a user task's form never sets
# one of them (a form that could would move the office, the escalation or the process's own branches).
PROCESS_VARIABLES = frozenset(
    {"office", "escalateAt", "intake", "dueOutcome", "escalatedTo", "deliveryChannel", "deliveryRef"}
)


def start_variables(
    *, office_id: uuid.UUID, due_at: datetime | None, opened_at: datetime, channel: Channel | None
) -> dict[str, Any]:
    """The variables a case's instance starts with: the office's group (its user tasks' candidates), when to
    escalate the case, and whether it needs the intake. Nothing else: the business key is the case, and every
    variable is a row (and a history row) the engine writes for every case; the handlers read the case itself."""
    return {
        "office": str(office_id),
        "escalateAt": escalate_at(due_at, opened_at),
        "intake": channel not in RECEIVED_IN_PERSON,
    }


def render_tables() -> str:
    """Both tables as Markdown, for the README."""
    lines = ["| case change | effect on its process instance |", "| --- | --- |"]
    for change, effects in CASE_TO_PROCESS.items():
        lines.append(f"| {change} | {'; '.join(e.value for e in effects) or '—'} |")
    lines += ["", "| process step | external task topic | effect on the case |", "| --- | --- | --- |"]
    for step in PROCESS_TO_CASE:
        lines.append(f"| {step.activity} | {step.topic or '—'} | {step.effect} |")
    return "\n".join(lines)

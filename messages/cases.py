"""Cases: what an employee sends to open one, what the actors are told, what comes back, what is announced."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from messages.citizen import Citizen

INT4_MAX = 2**31 - 1  # PostgreSQL's `integer`: versions and numbers stored as one
LAST_DAY = date(9999, 12, 30)  # an inclusive date range ends the day after its last: that day must exist


class CaseStatus(StrEnum):
    SUBMITTED = "submitted"
    IN_PROGRESS = "in_progress"
    SUSPENDED = "suspended"
    COMPLETED = "completed"
    REJECTED = "rejected"
    CLOSED = "closed"


class CaseAction(StrEnum):
    START = "start"
    SUSPEND = "suspend"
    RESUME = "resume"
    EXTEND = "extend"
    COMPLETE = "complete"
    REJECT = "reject"
    CLOSE = "close"
    REOPEN = "reopen"
    ASSIGN = "assign"
    NOTE = "note"
    UPDATE_FORM = "update_form"
    ATTACH = "attach"
    TRANSFER = "transfer"

    @property
    def past(self) -> str:
        """What the timeline and the event type call it once done (`gr.kep.case.<past>.v1`)."""
        return _PAST[self]


_PAST = {
    CaseAction.START: "started",
    CaseAction.SUSPEND: "suspended",
    CaseAction.RESUME: "resumed",
    CaseAction.EXTEND: "extended",
    CaseAction.COMPLETE: "completed",
    CaseAction.REJECT: "rejected",
    CaseAction.CLOSE: "closed",
    CaseAction.REOPEN: "reopened",
    CaseAction.ASSIGN: "assigned",
    CaseAction.NOTE: "noted",
    CaseAction.UPDATE_FORM: "form_updated",
    CaseAction.ATTACH: "document_added",
    CaseAction.TRANSFER: "transferred",
}


class Channel(StrEnum):
    COUNTER = "counter"
    PHONE = "phone"
    ONLINE = "online"
    EUGO = "eugo"


class OpenCaseRequest(BaseModel):
    """The body of `POST /api/cases`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    procedure_id: uuid.UUID
    citizen: Citizen
    channel: Channel = Channel.COUNTER
    form_data: dict[str, Any] = Field(default_factory=dict)
    note: str | None = Field(default=None, max_length=2000)


class IdempotencyKey(BaseModel):
    """A client's `Idempotency-Key` and the fingerprint of the request it came with (route, case, body)."""

    model_config = ConfigDict(frozen=True)

    key: str = Field(min_length=1, max_length=200)
    fingerprint: str


class OpenCase(BaseModel):
    """The command a case-workflow shard executes; the ingress has already authorised the caller."""

    model_config = ConfigDict(frozen=True)

    case_id: uuid.UUID
    office_id: uuid.UUID
    actor: str
    request: OpenCaseRequest
    request_id: str | None = None
    idempotency: IdempotencyKey | None = None


class CaseView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    number: str
    office_id: uuid.UUID
    procedure_id: uuid.UUID
    procedure_title: str | None = None
    status: CaseStatus
    citizen: Citizen
    channel: Channel
    form_data: dict[str, Any]
    # the form version the data was filled with (GET /api/forms/{form_key}?version=...)
    form_key: str | None = None
    form_version: int | None = None
    assignee: str | None
    due_at: datetime | None
    suspended_at: datetime | None = None
    # when the case last entered each status
    status_changed_at: dict[str, datetime] = Field(default_factory=dict)
    version: int
    created_by: str
    created_at: datetime
    updated_at: datetime


class OpenCaseResult(BaseModel):
    """`created` is false when the command was seen before (an Idempotency-Key's replay, a re-sent command)."""

    model_config = ConfigDict(frozen=True)

    case: CaseView
    created: bool


class CommandResult(BaseModel):
    """What a case command answered. A replay (the same Idempotency-Key with the same request) carries the first
    answer's body in `answer`: the case then, or the document an upload recorded."""

    model_config = ConfigDict(frozen=True)

    case: CaseView
    replayed: bool = False
    answer: dict[str, Any] | None = None


class CaseOpened(BaseModel):
    """Data of `gr.kep.case.opened.v1`."""

    model_config = ConfigDict(frozen=True)

    case_id: uuid.UUID
    number: str
    office_id: uuid.UUID
    procedure_id: uuid.UUID
    status: CaseStatus
    channel: Channel
    opened_by: str
    due_at: datetime | None = None
    # the BPMN process the case's procedure runs (None: the case is worked by hand)
    process_key: str | None = None


class DocumentView(BaseModel):
    """A file attached to a case. Its bytes are in the object store under a key of ours, never its file name."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    case_id: uuid.UUID
    kind: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    created_by: str
    created_at: datetime
    url: str | None = None  # a presigned download link, on request for one document
    # a document the system made from a template (kind `generated`): which version, from what, and the code that
    # verifies it (GET /api/public/documents/{code})
    template_id: uuid.UUID | None = None
    inputs_hash: str | None = None
    verification_code: str | None = None
    signed: bool = False


class Versioned(BaseModel):
    """Optimistic concurrency: the version the client last read; a stale one is refused with 409."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = Field(ge=1, le=INT4_MAX)


class TransitionRequest(Versioned):
    reason: str | None = Field(default=None, max_length=2000)


class ExtendRequest(Versioned):
    reason: str = Field(min_length=3, max_length=2000)
    days: int = Field(ge=1, le=365)


class AssignRequest(Versioned):
    assignee: str | None = Field(max_length=200)  # null: nobody


class TransferRequest(Versioned):
    """Hand the case over to another office: the one named, or the one the routing rules name for the citizen's
    municipality or region (and the case's procedure and channel)."""

    reason: str = Field(min_length=3, max_length=2000)
    office_id: uuid.UUID | None = None
    municipality: str | None = Field(default=None, min_length=1, max_length=200)
    region: str | None = Field(default=None, min_length=1, max_length=200)


class FormDataRequest(Versioned):
    """The whole submission `data`, validated against the form version the case was opened with."""

    data: dict[str, Any]


class NoteRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str = Field(min_length=1, max_length=4000)


class BulkReassignRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    case_ids: list[uuid.UUID] = Field(min_length=1, max_length=500)
    assignee: str | None = Field(max_length=200)
    reason: str | None = Field(default=None, max_length=2000)


class CitizenMessage(BaseModel):
    """A note that is also a message between the office and the EUGO citizen of the case: kept with the note, in
    its transaction, so that the two never part (actors/eugo/applications.py shows it in the application)."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    application_id: uuid.UUID
    sender: Literal["office", "citizen"]
    text: str


class CaseCommand(BaseModel):
    """An action on an existing case, for its shard. `command_id` makes a re-sent command apply once."""

    model_config = ConfigDict(frozen=True)

    command_id: uuid.UUID
    case_id: uuid.UUID
    office_id: uuid.UUID
    actor: str
    roles: frozenset[str]
    action: CaseAction
    version: int | None = None
    reason: str | None = None
    days: int | None = None
    assignee: str | None = None
    form_data: dict[str, Any] | None = None
    document: DocumentView | None = None
    to_office_id: uuid.UUID | None = None  # a transfer's office
    routing: dict[str, Any] | None = None  # a transfer's routing rule and why it named the office
    message: CitizenMessage | None = None  # a note's, when it is also a message with the EUGO citizen
    request_id: str | None = None
    idempotency: IdempotencyKey | None = None


class CaseChanged(BaseModel):
    """Data of every `gr.kep.case.<action>.v1` after the opening: enough for a list screen to update its row."""

    model_config = ConfigDict(frozen=True)

    case_id: uuid.UUID
    number: str
    office_id: uuid.UUID
    procedure_id: uuid.UUID
    action: CaseAction
    status: CaseStatus
    assignee: str | None
    due_at: datetime | None
    version: int
    actor: str
    reason: str | None = None
    # the BPMN process of the case's procedure, and how the case came in (a reopening starts the process again)
    process_key: str | None = None
    channel: Channel | None = None
    from_office_id: uuid.UUID | None = None  # a transfer's office of origin (`office_id` is the case's new office)


class TransferDirection(StrEnum):
    IN = "in"
    OUT = "out"


class CaseTransfer(BaseModel):
    """A hand-over of a case between offices, as both offices read it."""

    model_config = ConfigDict(frozen=True)

    id: int
    case_id: uuid.UUID
    number: str
    procedure_id: uuid.UUID
    from_office_id: uuid.UUID
    to_office_id: uuid.UUID
    actor: str
    reason: str
    routing: dict[str, Any] | None
    at: datetime


class TimelineEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    type: str
    actor: str
    reason: str | None
    request_id: str | None
    old: dict[str, Any] | None
    new: dict[str, Any] | None
    at: datetime


class BulkResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    updated: list[uuid.UUID]
    failed: dict[str, str]  # case id -> why


class CaseFilter(BaseModel):
    """Query of the office's case list: free text, filters, keyset pagination (newest first)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    q: str | None = Field(default=None, min_length=2, max_length=200)  # number, citizen name, ΑΦΜ, procedure
    status: list[CaseStatus] = Field(default_factory=list)
    assignee: str | None = Field(default=None, max_length=200)
    unassigned: bool = False
    procedure_id: uuid.UUID | None = None
    created_from: date | None = Field(default=None, le=LAST_DAY)
    created_to: date | None = Field(default=None, le=LAST_DAY)  # inclusive
    overdue: bool = False  # open (not suspended), past its due date
    limit: int = Field(default=25, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=200)  # from the previous page's `next_cursor`


class CaseSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    number: str
    status: CaseStatus
    procedure_id: uuid.UUID
    procedure_title: str
    citizen_name: str
    afm: str | None  # a citizen of another member state has none (their eIDAS identity is in the case)
    assignee: str | None
    due_at: datetime | None
    overdue: bool
    created_at: datetime
    version: int


class CasePage(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[CaseSummary]
    next_cursor: str | None

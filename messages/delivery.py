"""What the delivery readers bring in, as the API shows it: a pass's counts, ΚΣΗΔΕ documents that matched no case
(for a person to attach), and mailbox replies that named no case of ours."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from messages.kshde import SyncReport


class StatusCounts(BaseModel):
    """The mailbox status tracker: postings asked about, and how many moved on (each a note on its case)."""

    model_config = ConfigDict(frozen=True)

    checked: int = 0
    changed: int = 0
    failed: int = 0  # the mailbox refused to say (an unknown posting): logged, asked again next pass


class ReplyCounts(BaseModel):
    model_config = ConfigDict(frozen=True)

    read: int = 0
    noted: int = 0  # on the case whose number the reply names
    unmatched: int = 0  # kept in mailbox_replies for administrators


class InboxCounts(BaseModel):
    model_config = ConfigDict(frozen=True)

    read: int = 0  # documents listed in the inbox, handled before or not
    received: int = 0  # new ones protocolled here this pass
    attached: int = 0  # to the case whose delivery they answer (or the case a person chose, finished now)
    unmatched: int = 0  # new ones that wait for a person (GET /api/kshde/inbox)
    acknowledged: int = 0  # receipts sent to ΚΣΗΔΕ this pass
    failed: int = 0  # documents ΚΣΗΔΕ refused to give (logged; tried again next pass)


class ReadReport(BaseModel):
    """One pass of each reader. A reader whose system is not configured is `skipped`; one that failed is in
    `failed` with the reason (its loop tries again by the backoff; a pass on request just reports it)."""

    model_config = ConfigDict(frozen=True)

    statuses: StatusCounts = StatusCounts()
    replies: ReplyCounts = ReplyCounts()
    inbox: InboxCounts = InboxCounts()
    org_chart: SyncReport | None = None
    skipped: list[str] = []
    failed: dict[str, str] = {}


class IncomingFile(BaseModel):
    model_config = ConfigDict(frozen=True)

    file_name: str
    content_type: str
    size_bytes: int
    document_id: uuid.UUID  # the case document it becomes once attached


class IncomingDocument(BaseModel):
    """A document from our ΚΣΗΔΕ inbox, protocolled here (`local_receipt_id`) and acknowledged to ΚΣΗΔΕ."""

    model_config = ConfigDict(frozen=True)

    protocol_no: str
    version: int
    sender: str
    sender_name: str | None = None  # from the org chart, where the unit is known
    subject: str | None
    related_protocol_no: str | None
    protocol_date: str | None
    local_receipt_no: int  # our protocol number for it (the list's order and cursor)
    local_receipt_id: str  # what the receipt to ΚΣΗΔΕ said: the number and the day
    received_at: datetime
    acknowledged: bool
    files: list[IncomingFile]
    case_id: uuid.UUID | None = None
    case_number: str | None = None
    attached_by: str | None = None
    attached_at: datetime | None = None


class AttachIncoming(BaseModel):
    """Which case an unmatched ΚΣΗΔΕ document belongs to (a supervisor: a case of their own office)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    case_id: uuid.UUID
    version: int | None = Field(default=None, ge=1, description="the document's version; unset: the latest held")


class MailboxReply(BaseModel):
    """A citizen's reply from the gov.gr mailbox whose reference named no case of ours (or not the citizen's)."""

    model_config = ConfigDict(frozen=True)

    id: str
    afm: str
    reference: str
    text: str
    received_at: datetime
    read_at: datetime

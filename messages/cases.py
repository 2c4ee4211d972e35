"""Cases: what an employee sends to open one, what the actors are told, what comes back, what is announced."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from messages.citizen import Citizen

CASE_OPENED = "gr.kep.case.opened.v1"


class CaseStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    IN_PROGRESS = "in_progress"
    SUSPENDED = "suspended"
    COMPLETED = "completed"
    REJECTED = "rejected"
    CLOSED = "closed"


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


class OpenCase(BaseModel):
    """The command a case-workflow shard executes; the ingress has already authorised the caller."""

    model_config = ConfigDict(frozen=True)

    case_id: uuid.UUID
    office_id: uuid.UUID
    actor: str
    request: OpenCaseRequest
    request_id: str | None = None
    request_key: str | None = Field(default=None, max_length=200)


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
    assignee: str | None
    due_at: datetime | None
    version: int
    created_by: str
    created_at: datetime
    updated_at: datetime


class OpenCaseResult(BaseModel):
    """`created` is false when an Idempotency-Key matched a case opened earlier."""

    model_config = ConfigDict(frozen=True)

    case: CaseView
    created: bool


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

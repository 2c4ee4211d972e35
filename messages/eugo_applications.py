"""EU citizens' online applications (EUGO): what they send and what they are shown."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from messages.cases import CaseStatus

ApplicationStatus = Literal["routed", "unrouted"]


class ApplicationRequest(BaseModel):
    """The `application` part of `POST /api/eugo/applications` (JSON); the evidence comes as file parts named by
    the procedure's evidence ids (`evidence-1`, …) or `supporting`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    procedure_id: uuid.UUID
    form_data: dict[str, Any] = Field(default_factory=dict)
    email: EmailStr
    # where the citizen's matter is, for the routing rules (optional: a default rule may route it)
    municipality: str | None = Field(default=None, max_length=200)
    region: str | None = Field(default=None, max_length=200)


class MessageRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str = Field(min_length=1, max_length=4000)


class CaseSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    number: str
    status: CaseStatus
    office_id: uuid.UUID
    office_name: str


class Evidence(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    kind: str
    filename: str
    content_type: str
    size_bytes: int


class Message(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    sender: Literal["office", "citizen"]
    text: str
    created_at: datetime


class IssuedDocument(BaseModel):
    """A document the office issued on the case, with the code anyone verifies it by."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    filename: str
    verification_code: str
    verify_url: str
    created_at: datetime


class Application(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    procedure_id: uuid.UUID
    procedure_title: str
    status: ApplicationStatus
    # for people, in English: which office and why, or why no office could be found yet
    explanation: str | None
    case: CaseSummary | None
    email: str
    created_at: datetime


class ApplicationDetail(Application):
    evidence: list[Evidence]
    messages: list[Message]
    documents: list[IssuedDocument]


class AdminApplication(Application):
    country: str
    person_id: str
    municipality: str | None
    region: str | None

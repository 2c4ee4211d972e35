"""Documents a case produces from templates: what is asked for, what a template is, what a verification says."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from messages.tasks import TaskCommand, TopicOptions

RENDER_QUEUE = "documents.render"
RENDER_TOPIC = "document-render"  # the process's external tasks that render, consumed from RENDER_QUEUE
GENERATED_KIND = "generated"  # a case document's kind when the system made it
RENDER_MESSAGE = "kep.document.render"  # the AMQP type of an employee's render request (the process's: a task)
# the process's render step: a lock long enough for a queue's wait and a render, retried like any step
RENDER_TOPIC_OPTIONS = TopicOptions(RENDER_TOPIC, variables=("template", "lang"), lock_ms=300_000)


class TemplateKind(StrEnum):
    RECEIPT = "receipt"  # given to the citizen when a case is opened
    CERTIFICATE = "certificate"  # issued when a case is completed; signed


class Lang(StrEnum):
    EL = "el"
    EN = "en"


class RenderRequest(BaseModel):
    """A render job on `documents.render`: from an employee (`requested_by`) or from the case process (`task`,
    whose outcome the renderer reports to the bridge once the document is recorded)."""

    model_config = ConfigDict(frozen=True)

    case_id: uuid.UUID
    office_id: uuid.UUID
    kind: TemplateKind
    lang: Lang = Lang.EL
    requested_by: str
    request_id: str | None = None
    task: TaskCommand | None = None


class RenderAccepted(BaseModel):
    """The answer to a render request: the document it will be (the same for the same case, template and inputs
    while the case does not change)."""

    model_config = ConfigDict(frozen=True)

    case_id: uuid.UUID
    kind: TemplateKind
    lang: Lang


class TemplateUpload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    body: str = Field(min_length=1, max_length=200_000)


class TemplateVersion(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    procedure_id: uuid.UUID | None  # None: the default of every procedure without one of its own
    kind: TemplateKind
    lang: Lang
    version: int
    body: str
    created_by: str
    created_at: datetime


class Verification(BaseModel):
    """What anyone holding a document's verification code may learn: that it is authentic, what it is and who
    issued it when. Nothing about the citizen."""

    model_config = ConfigDict(frozen=True)

    authentic: bool
    kind: TemplateKind
    case_number: str
    office_code: str
    office_name: str
    procedure_title: str
    issued_at: datetime
    sha256: str
    signed: bool

"""The procedure catalogue: sync runs and the events announcing what a sync changed."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_PAGE = 10_000  # offset paging of the procedure list goes no deeper (a million rows)
ATTACHMENT_MAX_MB_CEILING = 100  # the largest upload limit a procedure (or the default) may set


class SyncKind(StrEnum):
    FULL = "full"
    INCREMENTAL = "incremental"


class SearchMode(StrEnum):
    LEXICAL = "lexical"
    SEMANTIC = "semantic"
    HYBRID = "hybrid"


class SyncStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"  # some records could not be fetched or read; the rest was applied
    FAILED = "failed"  # nothing was applied


class SyncRun(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    kind: SyncKind
    trigger: str
    status: SyncStatus
    started_at: datetime
    finished_at: datetime | None = None
    listed: int = 0
    fetched: int = 0
    added: int = 0
    changed: int = 0
    removed: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = Field(default_factory=list)


class ProcedureChanged(BaseModel):
    """Data of the `gr.kep.procedure.{added,changed,removed}.v1` events."""

    model_config = ConfigDict(frozen=True)

    procedure_id: uuid.UUID
    mitos_id: str
    title_el: str
    sync_run_id: uuid.UUID


class ProcedureHit(BaseModel):
    model_config = ConfigDict(frozen=True)

    procedure_id: str
    title: str
    score: float


class ProcedureFilter(BaseModel):
    """Query of the administrators' procedure list."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    q: str | None = Field(default=None, max_length=200)
    category: str | None = None
    active: bool | None = None
    eugo: bool | None = None
    mykeplive: bool | None = None
    include_removed: bool = False
    sort: Literal["title", "mitos_id", "updated"] = "title"
    descending: bool = False
    page: int = Field(default=1, ge=1, le=MAX_PAGE)
    size: int = Field(default=10, ge=1, le=100)


class AdminProcedure(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    mitos_id: str
    title_el: str
    title_en: str | None
    description_el: str | None
    description_en: str | None
    owner_org: str | None
    categories: list[str]
    eugo: bool
    mykeplive: bool
    duration_days: int | None
    cost_min: float | None
    cost_max: float | None
    active: bool
    form_key: str | None
    bpmn_process_key: str | None
    # offices that serve it; empty: every office
    offices: list[uuid.UUID] = Field(default_factory=list)
    attachment_max_mb: int | None = None
    attachment_types: list[str] | None = None
    # the ΚΣΗΔΕ SectorCode its results are sent to; null: the citizen (mailbox, or by hand)
    delivery_recipient: str | None = None
    # the lowest eIDAS level of assurance of an online application through EUGO; null: any
    eugo_min_loa: Literal["low", "substantial", "high"] | None = None
    mitos_updated_at: datetime | None
    synced_at: datetime
    removed_at: datetime | None
    payload: dict[str, Any] | None = None
    # the reading in the language asked for (`?lang=`), English falling back to Greek where Mitos has none
    lang: Literal["el", "en"] = "el"
    title: str | None = None
    description: str | None = None


AttachmentType = Literal[
    "application/pdf",
    "image/jpeg",
    "image/png",
    "image/tiff",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.oasis.opendocument.text",
]


class ProcedureSettings(BaseModel):
    """An administrator's change to a procedure's local fields; a field left out stays as it is."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    active: bool | None = None
    form_key: str | None = Field(default=None, min_length=1, max_length=100)
    bpmn_process_key: str | None = Field(default=None, pattern=r"^[A-Za-z_][\w.-]{0,99}$")
    offices: list[uuid.UUID] | None = Field(default=None, max_length=1000)
    # attachment limits; null: the system's defaults
    attachment_max_mb: int | None = Field(default=None, ge=1, le=ATTACHMENT_MAX_MB_CEILING)
    attachment_types: list[AttachmentType] | None = Field(default=None, min_length=1)
    # a unit of ΚΣΗΔΕ's org chart that receives documents (GET /api/admin/kshde/units); null: the citizen
    delivery_recipient: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,64}$")
    # the lowest eIDAS level of assurance of a citizen applying online through EUGO; null: any
    eugo_min_loa: Literal["low", "substantial", "high"] | None = None
    reason: str | None = Field(default=None, max_length=500)

    @field_validator("active")
    @classmethod
    def _active_is_true_or_false(cls, value: bool | None) -> bool:
        if value is None:  # only an explicit null reaches here; leaving the field out keeps it as it is
            raise ValueError("must be true or false")
        return value


class AuditEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    action: str
    actor: str
    request_id: str | None
    reason: str | None
    old: dict[str, Any]
    new: dict[str, Any]
    at: datetime


class ProcedurePage(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[AdminProcedure]
    total: int
    page: int
    size: int

"""The procedure catalogue: sync runs and the events announcing what a sync changed."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

PROCEDURE_ADDED = "gr.kep.procedure.added.v1"
PROCEDURE_CHANGED = "gr.kep.procedure.changed.v1"
PROCEDURE_REMOVED = "gr.kep.procedure.removed.v1"


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
    page: int = Field(default=1, ge=1)
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
    mitos_updated_at: datetime | None
    synced_at: datetime
    removed_at: datetime | None
    payload: dict[str, Any] | None = None
    # the reading in the language asked for (`?lang=`), English falling back to Greek where Mitos has none
    lang: Literal["el", "en"] = "el"
    title: str | None = None
    description: str | None = None


class ProcedurePage(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[AdminProcedure]
    total: int
    page: int
    size: int

"""The procedure catalogue: sync runs and the events announcing what a sync changed."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

PROCEDURE_ADDED = "gr.kep.procedure.added.v1"
PROCEDURE_CHANGED = "gr.kep.procedure.changed.v1"
PROCEDURE_REMOVED = "gr.kep.procedure.removed.v1"


class SyncKind(StrEnum):
    FULL = "full"
    INCREMENTAL = "incremental"


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

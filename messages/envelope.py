"""The one envelope every event and command travels in (CloudEvents 1.0 attribute names)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T", bound=BaseModel)


def new_id() -> uuid.UUID:
    """Time-ordered ids (UUIDv7 layout) keep B-tree inserts local and sort by creation."""
    ms = int(datetime.now(UTC).timestamp() * 1000)
    rand = uuid.uuid4().int & ((1 << 74) - 1)
    value = (ms << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return uuid.UUID(int=value)


class Envelope(BaseModel, Generic[T]):
    """`type` is versioned (`gr.kep.case.opened.v1`); consumers deduplicate on `id`."""

    model_config = ConfigDict(frozen=True)

    specversion: str = "1.0"
    id: uuid.UUID = Field(default_factory=new_id)
    type: str
    source: str
    subject: str | None = None
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    datacontenttype: str = "application/json"
    correlationid: str | None = None
    causationid: str | None = None
    data: T

"""Form.io form definitions, versioned by key: what an administrator saves and what staff read to render."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SaveFormRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,99}$")
    title: str = Field(min_length=1, max_length=300)
    definition: dict[str, Any]


class FormVersion(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    key: str
    version: int
    title: str
    created_by: str
    created_at: datetime
    definition: dict[str, Any] | None = None

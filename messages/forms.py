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
    translations: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description='the texts people read, in other languages, as Form.io\'s `i18n`: {"en": {"Σκοπός": "Purpose"}}',
    )


class FormVersion(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    key: str
    version: int
    title: str
    created_by: str
    created_at: datetime
    definition: dict[str, Any] | None = None
    translations: dict[str, dict[str, str]] | None = None
    # per language, the texts of the definition its translations do not cover yet (administrators' view)
    untranslated: dict[str, list[str]] | None = None


class LocalizedForm(BaseModel):
    """A form as a citizen fills it: the definition with its texts in `lang` (untranslated ones stay Greek), and
    the translations themselves for a Form.io renderer's `i18n` option."""

    model_config = ConfigDict(frozen=True)

    key: str
    version: int
    title: str
    lang: str
    definition: dict[str, Any]
    i18n: dict[str, dict[str, str]]

"""Organisational positions (οργανικές θέσεις) of an office: what is sent and what the API answers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from messages.offices import LongText, Text

Category = Literal["ΠΕ", "ΤΕ", "ΔΕ", "ΥΕ"]
Grade = Literal["Α", "Β", "Γ", "Δ", "Ε", "ΣΤ"]
Subject = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
OPEN_STATUSES = ("submitted", "in_progress", "suspended")


def _not_null(value: Any) -> Any:
    if value is None:  # only an explicit null reaches a validator; leaving a field out keeps it as it is
        raise ValueError("may be left out but not null")
    return value


class PositionNew(BaseModel):
    """A position an administrator (any office) or a supervisor (their own office) creates."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    office_id: uuid.UUID
    title: Text
    category: Category
    grade: Grade | None = None
    branch: Text | None = None
    active: bool = True
    reason: LongText | None = None


class PositionChange(BaseModel):
    """The fields sent change; a field left out stays; null clears grade and branch."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: Text | None = None
    category: Category | None = None
    grade: Grade | None = None
    branch: Text | None = None
    active: bool | None = None
    reason: LongText | None = None

    not_null = field_validator("title", "category", "active")(_not_null)


class Fill(BaseModel):
    """Fill the position with a member of its office from `from` (now when left out) until `to` (open when left
    out); whoever holds it at `from` leaves it then."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    subject: Subject
    from_: datetime | None = Field(default=None, alias="from")
    to: datetime | None = None
    reason: LongText | None = None


class Vacate(BaseModel):
    """Vacate the position at `at` (now when left out)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: datetime | None = None
    reason: LongText | None = None


class Holder(BaseModel):
    model_config = ConfigDict(frozen=True)

    subject: str
    display_name: str
    since: datetime
    until: datetime | None


class Position(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    office_id: uuid.UUID
    title: str
    category: Category
    grade: Grade | None
    branch: str | None
    active: bool
    holder: Holder | None
    created_at: datetime
    updated_at: datetime


class PositionFilter(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    office_id: uuid.UUID | None = None
    active: bool | None = None
    vacant: bool | None = None
    page: int = Field(default=1, ge=1, le=10_000)
    size: int = Field(default=50, ge=1, le=200)


class PositionPage(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[Position]
    total: int
    page: int
    size: int


class Period(BaseModel):
    """Who held the position in [from, to) — or nobody (`subject` null: vacant); `to` null: until now and on."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)

    subject: str | None
    display_name: str | None
    from_: datetime = Field(alias="from")
    to: datetime | None


class Workload(BaseModel):
    """The open cases (submitted, in progress, suspended) of the office assigned to the position's holder now."""

    model_config = ConfigDict(frozen=True)

    position_id: uuid.UUID
    title: str
    subject: str | None
    display_name: str | None
    submitted: int
    in_progress: int
    suspended: int
    total: int

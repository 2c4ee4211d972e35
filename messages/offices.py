"""Offices (ΚΕΠ, ΕΚΕ, the central administration) and their org chart: what administrators and supervisors send,
what the API answers."""

from __future__ import annotations

import itertools
import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    HttpUrl,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

MAX_PAGE = 10_000  # offset paging of the office list goes no deeper
OfficeKind = Literal["kep", "eke", "central"]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# what an office's supervisor may change of their own office; the rest is the administrators'
SUPERVISOR_FIELDS = frozenset({"opening_hours", "phone", "email", "website"})
_URL: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)


def _printable(value: str) -> str:
    """No control characters (PostgreSQL refuses NUL; the rest has no place in a name or an address)."""
    if any(ord(c) < 32 and c not in "\t" for c in value):
        raise ValueError("must not contain control characters")
    return value


def _postal_code(value: str) -> str:
    """Greek postal codes are five digits, often written `104 31`: stored without the space."""
    digits = value.replace(" ", "")
    if not re.fullmatch(r"[0-9]{5}", digits):
        raise ValueError("a postal code is five digits (e.g. 104 31)")
    return digits


def _website(value: str) -> str:
    """An http(s) address, kept as it was written (HttpUrl would add a trailing slash)."""
    if not value.lower().startswith(("https://", "http://")):
        raise ValueError("a web address starts with https:// or http://")
    try:
        _URL.validate_python(value)
    except ValidationError:
        raise ValueError("not a web address") from None
    return value


Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(_printable)
]
LongText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), AfterValidator(_printable)
]
Code = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Z0-9][A-Z0-9-]{1,31}$")]
PostalCode = Annotated[str, StringConstraints(strip_whitespace=True, max_length=10), AfterValidator(_postal_code)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9][0-9 ()-]{4,24}$")]
Website = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300), AfterValidator(_website)]
ClockTime = Annotated[str, StringConstraints(pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")]


class Interval(BaseModel):
    """Open from `opens` until `closes` (24-hour `HH:MM`; `24:00` is midnight at the day's end)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    opens: ClockTime
    closes: ClockTime

    @model_validator(mode="after")
    def _opens_before_it_closes(self) -> Interval:
        if self.opens >= self.closes:  # `HH:MM` strings order as the times do
            raise ValueError("an interval closes after it opens")
        return self


Day = Annotated[list[Interval], Field(default_factory=list, max_length=4)]


class OpeningHours(BaseModel):
    """When the office serves the public: per weekday, its intervals in order (none: closed that day)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mon: Day
    tue: Day
    wed: Day
    thu: Day
    fri: Day
    sat: Day
    sun: Day
    # what the days cannot say ("closed on public holidays", "Thursdays by appointment")
    note: LongText | None = None

    @field_validator(*WEEKDAYS)
    @classmethod
    def _in_order_without_overlaps(cls, intervals: list[Interval]) -> list[Interval]:
        for before, after in itertools.pairwise(intervals):
            if after.opens < before.closes:
                raise ValueError("the day's intervals must be in order and must not overlap")
        return intervals

    def describe(self) -> str:
        """`mon 08:00–15:00; tue …` for a CSV cell."""
        days = [
            f"{day} {', '.join(f'{i.opens}–{i.closes}' for i in getattr(self, day))}"
            for day in WEEKDAYS
            if getattr(self, day)
        ]
        return "; ".join(days + ([self.note] if self.note else []))


def _not_null(value: Any) -> Any:
    if value is None:  # only an explicit null reaches a validator; leaving a field out keeps it as it is
        raise ValueError("may be left out but not null")
    return value


class OfficeNew(BaseModel):
    """An office an administrator creates."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: Code
    kind: OfficeKind
    name_el: Text
    name_en: Text | None = None
    address: LongText | None = None
    postal_code: PostalCode | None = None
    municipality: Text | None = None
    regional_unit: Text | None = None
    region: Text | None = None
    phone: Phone | None = None
    email: EmailStr | None = Field(default=None, max_length=254)
    website: Website | None = None
    opening_hours: OpeningHours = Field(default_factory=lambda: OpeningHours.model_validate({}))
    # the office above it in the org chart (a ΚΕΠ under its central administration); none: a root
    parent_id: uuid.UUID | None = None
    active: bool = True
    reason: LongText | None = None


class OfficeChange(BaseModel):
    """An administrator's change: a field left out stays as it is, null clears what may be empty."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: Code | None = None
    kind: OfficeKind | None = None
    name_el: Text | None = None
    name_en: Text | None = None
    address: LongText | None = None
    postal_code: PostalCode | None = None
    municipality: Text | None = None
    regional_unit: Text | None = None
    region: Text | None = None
    phone: Phone | None = None
    email: EmailStr | None = Field(default=None, max_length=254)
    website: Website | None = None
    opening_hours: OpeningHours | None = None
    parent_id: uuid.UUID | None = None
    active: bool | None = None
    reason: LongText | None = None

    not_null = field_validator("code", "kind", "name_el", "opening_hours", "active")(_not_null)


class OfficeOwnChange(BaseModel):
    """What a supervisor may change of their own office: the hours and the ways to reach it. Any other field is
    refused by name (422 with its pointer): codes, names, the org chart and the active flag are the
    administrators'."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    opening_hours: OpeningHours | None = None
    phone: Phone | None = None
    email: EmailStr | None = Field(default=None, max_length=254)
    website: Website | None = None
    reason: LongText | None = None

    not_null = field_validator("opening_hours")(_not_null)


class OfficeReason(BaseModel):
    """Why an office is activated or deactivated (for the audit); may be left out."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: LongText | None = None


class Office(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    code: str
    kind: OfficeKind
    name_el: str
    name_en: str | None
    address: str | None
    postal_code: str | None
    municipality: str | None
    regional_unit: str | None
    region: str | None
    phone: str | None
    email: str | None
    website: str | None
    opening_hours: OpeningHours
    parent_id: uuid.UUID | None
    parent_code: str | None
    active: bool
    created_at: datetime
    updated_at: datetime


class OfficeFilter(BaseModel):
    """Query of the office list: `q` holds every word somewhere in the code or the names (case and accents aside);
    `region`, `regional_unit`, `municipality` match whole, case and accents aside."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    q: str | None = Field(default=None, max_length=200)
    kind: OfficeKind | None = None
    region: str | None = Field(default=None, max_length=200)
    regional_unit: str | None = Field(default=None, max_length=200)
    municipality: str | None = Field(default=None, max_length=200)
    active: bool | None = None
    parent_id: uuid.UUID | None = None
    sort: Literal["code", "name", "municipality", "region", "updated"] = "code"
    descending: bool = False
    page: int = Field(default=1, ge=1, le=MAX_PAGE)
    size: int = Field(default=20, ge=1, le=100)


class OfficePage(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[Office]
    total: int
    page: int
    size: int


class OfficeNode(BaseModel):
    """An office in the org chart, with the offices under it."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    code: str
    kind: OfficeKind
    name_el: str
    name_en: str | None
    active: bool
    children: list[OfficeNode] = Field(default_factory=list)

"""Service points: where citizens are served (a ΚΕΠ's counters, satellite points, kiosks), each belonging to an
office, with its location, opening hours and the services it offers; what is sent and what the API answers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from messages.offices import LongText, OpeningHours, PostalCode, Text

GREEK_TIME = ZoneInfo("Europe/Athens")
ServicePointKind = Literal["counter", "satellite", "kiosk"]
# Greece with a margin (Othonoi to Kastellorizo, Gavdos to Evros): a stored point lies in it
GREECE_LAT = (34.5, 42.0)
GREECE_LON = (19.0, 30.0)
MAX_RADIUS_M = 100_000
MAX_NEAREST = 50
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
Category = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")
]


def _not_null(value: Any) -> Any:
    if value is None:  # only an explicit null reaches a validator; leaving a field out keeps it as it is
        raise ValueError("may be left out but not null")
    return value


class Point(BaseModel):
    """A WGS84 point (EPSG:4326) in Greece: `lat` and `lon` in degrees."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lat: Latitude
    lon: Longitude

    @field_validator("lat")
    @classmethod
    def _lat_in_greece(cls, value: float) -> float:
        if not GREECE_LAT[0] <= value <= GREECE_LAT[1]:
            raise ValueError(f"a service point lies in Greece: latitude between {GREECE_LAT[0]} and {GREECE_LAT[1]}")
        return value

    @field_validator("lon")
    @classmethod
    def _lon_in_greece(cls, value: float) -> float:
        if not GREECE_LON[0] <= value <= GREECE_LON[1]:
            raise ValueError(f"a service point lies in Greece: longitude between {GREECE_LON[0]} and {GREECE_LON[1]}")
        return value


ProcedureIds = Annotated[list[uuid.UUID], Field(max_length=2000)]
Categories = Annotated[list[Category], Field(max_length=100)]


class ServicePointNew(BaseModel):
    """A service point an administrator (any office) or a supervisor (their own office) creates."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    office_id: uuid.UUID
    kind: ServicePointKind = "counter"
    name_el: Text
    name_en: Text | None = None
    address: LongText
    postal_code: PostalCode | None = None
    municipality: Text | None = None
    location: Point
    opening_hours: OpeningHours = Field(default_factory=lambda: OpeningHours.model_validate({}))
    # the services offered: these procedures, and every procedure of these categories
    procedure_ids: ProcedureIds = Field(default_factory=list)
    categories: Categories = Field(default_factory=list)
    active: bool = True
    reason: LongText | None = None


class ServicePointChange(BaseModel):
    """A change: a field left out stays as it is, null clears what may be empty. Only administrators move a
    service point to another office."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    office_id: uuid.UUID | None = None
    kind: ServicePointKind | None = None
    name_el: Text | None = None
    name_en: Text | None = None
    address: LongText | None = None
    postal_code: PostalCode | None = None
    municipality: Text | None = None
    location: Point | None = None
    opening_hours: OpeningHours | None = None
    procedure_ids: ProcedureIds | None = None
    categories: Categories | None = None
    active: bool | None = None
    reason: LongText | None = None

    not_null = field_validator(
        "office_id", "kind", "name_el", "address", "location", "opening_hours", "procedure_ids", "categories", "active"
    )(_not_null)


class ServicePointReason(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: LongText | None = None


class ServicePoint(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    office_id: uuid.UUID
    office_code: str
    kind: ServicePointKind
    name_el: str
    name_en: str | None
    address: str
    postal_code: str | None
    municipality: str | None
    location: Point
    opening_hours: OpeningHours
    procedure_ids: list[uuid.UUID]
    categories: list[str]
    active: bool
    created_at: datetime
    updated_at: datetime


class NearServicePoint(ServicePoint):
    """A service point with its distance from the point asked about (metres, on the spheroid)."""

    distance_m: float


class ServicePointFilter(BaseModel):
    """Query of the list: `q` holds every word somewhere in the names, address, municipality or postal code (case
    and accents aside)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    q: str | None = Field(default=None, max_length=200)
    office_id: uuid.UUID | None = None
    kind: ServicePointKind | None = None
    procedure_id: uuid.UUID | None = None
    active: bool | None = None
    page: int = Field(default=1, ge=1, le=10_000)
    size: int = Field(default=20, ge=1, le=100)


class NearestQuery(BaseModel):
    """The nearest active service points to (`lat`, `lon`) (WGS84 degrees) within `radius_m`, nearest first;
    with `open_at` (or `open_now`), only those open then (their hours read in Greek time, Europe/Athens; a time
    without a zone is Greek time); with `procedure_id`, only those offering it (by id or by its category)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lat: Latitude
    lon: Longitude
    radius_m: float = Field(default=10_000, gt=0, le=MAX_RADIUS_M, allow_inf_nan=False)
    open_at: datetime | None = None
    open_now: bool = False
    procedure_id: uuid.UUID | None = None
    limit: int = Field(default=10, ge=1, le=MAX_NEAREST)

    @field_validator("open_at")
    @classmethod
    def _in_greek_time(cls, value: datetime | None) -> datetime | None:
        """A time without a zone is Greek time; one with a zone must have a Greek time (year 1 to 9999)."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=GREEK_TIME)
        try:
            return value.astimezone(GREEK_TIME)
        except OverflowError:
            raise ValueError("out of range") from None

    @model_validator(mode="after")
    def _one_time(self) -> NearestQuery:
        if self.open_now and self.open_at is not None:
            raise ValueError("open_now and open_at: one or the other")
        return self


class ServicePointPage(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[ServicePoint]
    total: int
    page: int
    size: int

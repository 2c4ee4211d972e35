"""Routings: rules that name the competent office for a procedure by the citizen's municipality or region and the
channel; what administrators send, what the API answers, and the resolver's answer (which rule won and why)."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from messages.cases import Channel
from messages.errors import Conflict
from messages.offices import LongText, Text

# The 13 administrative regions of Kallikratis (ν. 3852/2010), nominative, as the table's CHECK lists them.
REGIONS: tuple[str, ...] = (
    "Ανατολική Μακεδονία και Θράκη",
    "Κεντρική Μακεδονία",
    "Δυτική Μακεδονία",
    "Ήπειρος",
    "Θεσσαλία",
    "Ιόνια Νησιά",
    "Δυτική Ελλάδα",
    "Στερεά Ελλάδα",
    "Αττική",
    "Πελοπόννησος",
    "Βόρειο Αιγαίο",
    "Νότιο Αιγαίο",
    "Κρήτη",
)
# the genitive (as KED and "Περιφέρεια Αττικής" write it) and the English names, in the order of REGIONS
_GENITIVE = (
    "Ανατολικής Μακεδονίας και Θράκης",
    "Κεντρικής Μακεδονίας",
    "Δυτικής Μακεδονίας",
    "Ηπείρου",
    "Θεσσαλίας",
    "Ιονίων Νήσων",
    "Δυτικής Ελλάδας",
    "Στερεάς Ελλάδας",
    "Αττικής",
    "Πελοποννήσου",
    "Βορείου Αιγαίου",
    "Νοτίου Αιγαίου",
    "Κρήτης",
)
_ENGLISH = (
    "Eastern Macedonia and Thrace",
    "Central Macedonia",
    "Western Macedonia",
    "Epirus",
    "Thessaly",
    "Ionian Islands",
    "Western Greece",
    "Central Greece",
    "Attica",
    "Peloponnese",
    "North Aegean",
    "South Aegean",
    "Crete",
)
RegionName = Literal[
    "Ανατολική Μακεδονία και Θράκη",
    "Κεντρική Μακεδονία",
    "Δυτική Μακεδονία",
    "Ήπειρος",
    "Θεσσαλία",
    "Ιόνια Νησιά",
    "Δυτική Ελλάδα",
    "Στερεά Ελλάδα",
    "Αττική",
    "Πελοπόννησος",
    "Βόρειο Αιγαίο",
    "Νότιο Αιγαίο",
    "Κρήτη",
]
Key = Literal["municipality", "region", "channel"]


def fold(text: str) -> str:
    """Case, accents and final sigma aside, as the database's `translate(kep_fold(…), 'ς', 'σ')` folds."""
    bare = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())  # casefold also makes ς a σ


_ALIASES = {
    fold(name): canonical
    for names in (REGIONS, _GENITIVE, _ENGLISH)
    for name, canonical in zip(names, REGIONS, strict=True)
}


def _region(value: Any) -> Any:
    """Any spelling people and registries use ("ΑΤΤΙΚΗ", "Περιφέρεια Αττικής", "Attica") as the one stored; an
    unknown name is left for the Literal to refuse with the list of regions."""
    if not isinstance(value, str):
        return value
    folded = fold(value)
    for prefix in ("περιφερεια ", "region of "):
        folded = folded.removeprefix(prefix)
    return _ALIASES.get(folded, value)


Region = Annotated[RegionName, BeforeValidator(_region)]


def _not_null(value: Any) -> Any:
    if value is None:  # only an explicit null reaches a validator; leaving a field out keeps it as it is
        raise ValueError("may be left out but not null")
    return value


class NoCompetentOffice(Conflict):
    """No active rule names an active office for the procedure there, not even a default: an administrator adds
    one (`GET /api/admin/routings/gaps` lists them before a citizen meets one). Not retryable."""

    title = "No competent office"


class RoutingNew(BaseModel):
    """A rule an administrator creates: no municipality, region nor channel makes it the procedure's default; a
    municipality needs its region."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    procedure_id: uuid.UUID
    office_id: uuid.UUID
    region: Region | None = None
    municipality: Text | None = None
    channel: Channel | None = None
    active: bool = True
    note: LongText | None = None
    reason: LongText | None = None


class RoutingChange(BaseModel):
    """The fields sent change; a field left out stays; null clears region, municipality, channel and note."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    office_id: uuid.UUID | None = None
    region: Region | None = None
    municipality: Text | None = None
    channel: Channel | None = None
    active: bool | None = None
    note: LongText | None = None
    reason: LongText | None = None

    not_null = field_validator("office_id", "active")(_not_null)


class RoutingReason(BaseModel):
    """Why a rule is deleted (for the audit); may be left out."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: LongText | None = None


class Routing(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    procedure_id: uuid.UUID
    procedure_title: str
    office_id: uuid.UUID
    office_code: str
    region: str | None
    municipality: str | None
    channel: Channel | None
    # the precedence of a match: municipality+channel 5, municipality 4, region+channel 3, region 2, channel 1,
    # default 0
    specificity: int
    active: bool
    note: str | None
    created_at: datetime
    updated_at: datetime


class RoutingFilter(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    procedure_id: uuid.UUID | None = None
    office_id: uuid.UUID | None = None
    region: Region | None = None
    active: bool | None = None
    page: int = Field(default=1, ge=1, le=10_000)
    size: int = Field(default=50, ge=1, le=200)


class RoutingPage(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[Routing]
    total: int
    page: int
    size: int


class RouteQuery(BaseModel):
    """Who is competent for this procedure, for a citizen of this municipality (in this region), by this
    channel? Each key may be unknown (left out)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    procedure_id: uuid.UUID
    municipality: Text | None = None
    region: Region | None = None
    channel: Channel | None = None


Outcome = Literal[
    "matched", "less_specific", "other_channel", "other_region", "no_region", "inactive_rule", "inactive_office"
]


class Candidate(BaseModel):
    """A rule of the procedure for this place that the resolver looked at, and why it won or lost."""

    model_config = ConfigDict(frozen=True)

    rule_id: uuid.UUID
    office_id: uuid.UUID
    office_code: str
    region: str | None
    municipality: str | None
    channel: Channel | None
    specificity: int
    outcome: Outcome
    why: str


class Resolution(BaseModel):
    """The competent office, the rule that named it, the keys that rule matched (none: the default), a sentence
    for people, and every rule looked at (rules of other places are not listed)."""

    model_config = ConfigDict(frozen=True)

    procedure_id: uuid.UUID
    office_id: uuid.UUID
    office_code: str
    rule_id: uuid.UUID
    matched: list[Key]
    # the region the rules were matched with: the one given, or the one of the municipality's rules
    region: str | None
    explanation: str
    considered: list[Candidate]


class GapFilter(BaseModel):
    """Which (procedure, region) pairs of active procedures no rule covers: a region is covered where every
    citizen of it finds an office, that is an active rule with an active office for the region or the procedure's
    default, without a channel (with `channel`: for that channel or none). A municipality's rule covers only its
    municipality, so it leaves the region a gap. `eugo=true`: only the procedures offered through EUGO."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    procedure_id: uuid.UUID | None = None
    region: Region | None = None
    channel: Channel | None = None
    eugo: bool | None = None
    page: int = Field(default=1, ge=1, le=10_000)
    size: int = Field(default=50, ge=1, le=200)


class Gap(BaseModel):
    model_config = ConfigDict(frozen=True)

    procedure_id: uuid.UUID
    procedure_title: str
    mitos_id: str
    eugo: bool
    region: str


class GapPage(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[Gap]
    total: int
    page: int
    size: int

"""The public EUGO catalogue: procedures offered to citizens and businesses of other member states, in CPSV-AP terms.

Each answer is in one language (`lang`); a text Mitos has only in Greek stays Greek there. The JSON-LD form of a
procedure carries both languages, tagged.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Lang = Literal["en", "el"]
MAX_PAGE_SIZE = 100
MAX_QUERY_CHARS = 200
MAX_PAGE = 1000


class _Public(BaseModel):
    model_config = ConfigDict(frozen=True)


class ChannelKind(StrEnum):
    IN_PERSON = "in_person"  # at a ΚΕΠ that also works as a Point of Single Contact (ΕΚΕ)
    VIDEO_CALL = "video_call"  # myKEPlive
    ONLINE = "online"


class EventKind(StrEnum):
    LIFE = "life"
    BUSINESS = "business"


class Organisation(_Public):
    """cv:PublicOrganisation: the competent or the owning authority."""

    id: str | None = None
    name: str | None = None


class Requirement(_Public):
    """cv:Requirement: a condition the applicant must meet (Mitos `process_conditions`)."""

    id: str
    name: str
    type: str | None = None
    alternative: bool = Field(False, description="one of several alternatives, not required by itself")
    url: str | None = None


class Evidence(_Public):
    """cv:Evidence: a document the applicant supplies (Mitos `process_evidences`)."""

    id: str
    name: str
    description: str | None = None
    note: str | None = None
    submission: list[str] = Field(default_factory=list, description="how it may be handed in")
    alternative: bool = False
    url: str | None = None


class Cost(_Public):
    """cv:Cost, in euro: a fee of the procedure (`process_evidences_cost`) or its overall range (`cost_min/max`)."""

    id: str
    type: str | None = None
    description: str | None = None
    min: float | None = None
    max: float | None = None
    currency: Literal["EUR"] = "EUR"


class Output(_Public):
    """cv:Output: what the applicant receives (Mitos `output_type`), and the registries it is entered in."""

    id: str
    name: str
    registries: list[str] = Field(default_factory=list)


class Channel(_Public):
    """cv:Channel: where the procedure can be carried out; an in-person one at a service point says where it is."""

    id: str
    kind: ChannelKind
    name: str
    url: str | None = None
    service_point_id: uuid.UUID | None = None
    address: str | None = None
    postal_code: str | None = None
    municipality: str | None = None
    latitude: float | None = None
    longitude: float | None = None


class LegalResource(_Public):
    """eli:LegalResource, followed as a cpsv:Rule: the legal basis (Mitos `process_rules`)."""

    id: str
    type: str | None = None
    number: str | None = None
    year: str | None = None
    article: str | None = None
    description: str | None = None
    gazette: str | None = Field(None, description="the Government Gazette (ΦΕΚ) issue and number, e.g. ΦΕΚ Α 123")
    ada: str | None = Field(None, description="the act's number on Δι@ύγεια (ΑΔΑ)")
    url: str | None = None


class Event(_Public):
    """cv:LifeEvent or cv:BusinessEvent that groups the procedure."""

    kind: EventKind
    name: str


class EugoProcedureSummary(_Public):
    id: uuid.UUID
    mitos_id: str
    title: str
    competent_authority: Organisation | None = None
    cost_min: float | None = None
    cost_max: float | None = None
    processing_days: float | None = None
    url: str


class EugoProcedurePage(_Public):
    items: list[EugoProcedureSummary]
    total: int
    page: int
    size: int
    lang: Lang


class EugoProcedure(_Public):
    """cpsv:PublicService: one EUGO procedure in one language."""

    id: uuid.UUID
    mitos_id: str
    lang: Lang
    title: str
    alternative_titles: list[str] = Field(default_factory=list)
    description: str | None = None
    languages: list[str] = Field(default_factory=list, description="languages the procedure is provided in")
    audience: list[str] = Field(default_factory=list)
    competent_authorities: list[Organisation] = Field(default_factory=list)
    owner: Organisation | None = None
    requirements: list[Requirement] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)
    costs: list[Cost] = Field(default_factory=list)
    cost_min: float | None = None
    cost_max: float | None = None
    outputs: list[Output] = Field(default_factory=list)
    channels: list[Channel] = Field(default_factory=list)
    legal_basis: list[LegalResource] = Field(default_factory=list)
    events: list[Event] = Field(default_factory=list)
    processing_time: str | None = Field(None, description="ISO 8601 duration, e.g. P20D")
    processing_days: float | None = None
    deadline_days: float | None = None
    validity_days: float | None = None
    updated_at: datetime | None = None
    url: str
    jsonld_url: str

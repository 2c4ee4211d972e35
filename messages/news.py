"""News for staff: announcements with a publish window, targeted at offices and roles, and their read receipts.

Targets: no office means every office, no role every role. Bodies are plain text or a safe subset of Markdown; both
are answered as the author wrote them and as sanitised HTML (`html_el`, `html_en`) made once, when saved."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

TITLE_MAX = 200
BODY_MAX = 20_000
OFFICES_MAX = 500
REASON_MAX = 500

TargetRole = Literal["employee", "supervisor", "administrator"]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX)]
Body = Annotated[str, StringConstraints(min_length=1, max_length=BODY_MAX)]


def _plausible(value: datetime) -> datetime:
    if not 2000 <= value.year <= 2999:
        raise ValueError("a date between the years 2000 and 2999")
    return value


Moment = Annotated[AwareDatetime, AfterValidator(_plausible)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=REASON_MAX)]


class NewsFormat(StrEnum):
    TEXT = "text"
    MARKDOWN = "markdown"


class NewsState(StrEnum):
    SCHEDULED = "scheduled"  # its window has not opened yet
    PUBLISHED = "published"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


class Staff(BaseModel):
    """Who reads or writes: the caller as the HTTP layer verified it (subject, office, roles)."""

    model_config = ConfigDict(frozen=True)

    subject: str
    office_id: uuid.UUID | None
    roles: frozenset[str]

    @property
    def administrator(self) -> bool:
        return "administrator" in self.roles


class NewsDraft(BaseModel):
    """A new announcement. `publish_at` left out: now. Supervisors target their own office, and only it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title_el: Title
    title_en: Title | None = None
    body_el: Body
    body_en: Body | None = None
    format: NewsFormat = NewsFormat.TEXT
    publish_at: Moment | None = None
    expire_at: Moment | None = None
    offices: list[uuid.UUID] = Field(default_factory=list, max_length=OFFICES_MAX, description="none: every office")
    roles: list[TargetRole] = Field(default_factory=list, max_length=3, description="none: every role")
    pinned: bool = False


class NewsChange(BaseModel):
    """What an author or an administrator changes; what is left out stays. `title_en`, `body_en` and `expire_at`
    may be set to null; the others may not."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title_el: Title | None = None
    title_en: Title | None = None
    body_el: Body | None = None
    body_en: Body | None = None
    format: NewsFormat | None = None
    publish_at: Moment | None = None
    expire_at: Moment | None = None
    offices: list[uuid.UUID] | None = Field(default=None, max_length=OFFICES_MAX, description="[]: every office")
    roles: list[TargetRole] | None = Field(default=None, max_length=3, description="[]: every role")
    pinned: bool | None = None
    reason: Reason | None = None


class Withdrawal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: Reason | None = None


class NewsItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    title_el: str
    title_en: str | None
    format: NewsFormat
    body_el: str
    body_en: str | None
    html_el: str
    html_en: str | None
    publish_at: datetime
    expire_at: datetime | None
    pinned: bool
    offices: list[uuid.UUID]
    roles: list[str]
    author: str
    created_at: datetime
    updated_at: datetime
    withdrawn_at: datetime | None
    state: NewsState
    read: bool = Field(description="whether the caller has read it")
    read_at: datetime | None


class NewsRead(BaseModel):
    model_config = ConfigDict(frozen=True)

    news_id: uuid.UUID
    read_at: datetime


class StaffMember(BaseModel):
    model_config = ConfigDict(frozen=True)

    subject: str
    display_name: str | None
    office_id: uuid.UUID | None


class Receipt(StaffMember):
    read_at: datetime


class Receipts(BaseModel):
    """Who read it and when (anyone who did, targeted now or not), and which of the active staff it targets have not."""

    model_config = ConfigDict(frozen=True)

    news_id: uuid.UUID
    targeted: int = Field(description="active staff it targets now")
    read_count: int
    read: list[Receipt]
    not_read: list[StaffMember]

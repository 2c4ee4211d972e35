"""External applications employees sign on to through Keycloak (issue 17, part 6): what administrators send, what
the API answers. Each one is an OIDC client of realm `kep`, its `client_id` fixed once registered."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from messages.offices import LongText, Text, Website

# The staff roles an application may be limited to (none listed: every one).
AppRole = Literal["employee", "supervisor", "administrator"]
# The realm's client scopes an application may ask for, besides `openid`.
AppScope = Literal["profile", "email", "roles", "web-origins", "acr", "basic"]
DEFAULT_SCOPES: tuple[AppScope, ...] = ("profile", "email")
MAX_SVG = 8192

_UNSAFE_SVG = re.compile(r"<\s*(script|foreignobject|iframe|object|embed)|\bon[a-z]+\s*=|javascript:|<!entity", re.I)


def _icon(value: str) -> str:
    """An http(s) address of an image, or a small inline SVG without scripts, handlers or entities."""
    if value.lower().startswith(("https://", "http://")):
        if len(value) > 500:
            raise ValueError("an icon address is at most 500 characters")
        return value
    if not value.lstrip().lower().startswith("<svg") or not value.rstrip().lower().endswith("</svg>"):
        raise ValueError("an icon is an http(s) address or an inline <svg>…</svg>")
    if len(value.encode()) > MAX_SVG:
        raise ValueError(f"an inline SVG icon is at most {MAX_SVG} bytes")
    if _UNSAFE_SVG.search(value):
        raise ValueError("an inline SVG icon must not contain scripts, event handlers, embedded content or entities")
    return value


ClientId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")]
Icon = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1), AfterValidator(_icon)]
Roles = Annotated[list[AppRole], Field(max_length=3)]
Offices = Annotated[list[uuid.UUID], Field(max_length=500)]
Scopes = Annotated[list[AppScope], Field(max_length=6)]


class AppNew(BaseModel):
    """A new application; `client_id` names its Keycloak client and cannot change afterwards."""

    model_config = ConfigDict(extra="forbid")

    client_id: ClientId
    name: Text
    url: Website
    description: LongText | None = None
    icon: Icon | None = None
    roles: Roles = Field(default_factory=list)
    office_ids: Offices = Field(default_factory=list)
    scopes: Scopes = Field(default_factory=lambda: list(DEFAULT_SCOPES))
    active: bool = True


class AppChange(BaseModel):
    """What an administrator changes of an application: the fields sent (null clears description and icon)."""

    model_config = ConfigDict(extra="forbid")

    name: Text | None = None
    url: Website | None = None
    description: LongText | None = None
    icon: Icon | None = None
    roles: Roles | None = None
    office_ids: Offices | None = None
    scopes: Scopes | None = None
    active: bool | None = None


class ExternalApp(BaseModel):
    id: uuid.UUID
    client_id: str
    name: str
    url: str
    description: str | None
    icon: str | None
    roles: list[str]
    office_ids: list[uuid.UUID]
    scopes: list[str]
    active: bool
    created_at: datetime
    updated_at: datetime


class AppPage(BaseModel):
    items: list[ExternalApp]
    total: int
    page: int
    size: int


class MyApp(BaseModel):
    """An application the caller may open."""

    id: uuid.UUID
    name: str
    url: str
    description: str | None
    icon: str | None

"""People (issue 17, part 2): the staff's accounts as administrators send them and the API answers them. Each one is
a user of Keycloak's realm `kep` too (its id there is the `subject` of the person's tokens)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints, field_validator

from messages.offices import MAX_PAGE, LongText

UserRole = Literal["employee", "supervisor", "administrator"]
# Keycloak's person-name-prohibited-characters validator (the realm's user profile): refused here first, so that
# the pointer is ours and Keycloak never sees the request
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{2,62}")
_NAME_REFUSED = re.compile(r"[<>&\"$%!#?§;*~/\\|^=\[\]{}()\x00-\x1f\x7f]")


def _person_name(value: str) -> str:
    if _NAME_REFUSED.search(value):
        raise ValueError(
            'a name must not contain control characters nor any of < > & " $ % ! # ? § ; * ~ / \\ | ^ = [ ] { } ( )'
        )
    return value


def _username(value: str) -> str:
    if not _USERNAME.fullmatch(value):
        raise ValueError("a username is 3-63 letters a-z, digits, '.', '_' or '-', from a letter or a digit")
    return value


def _lower(value: str) -> str:
    return value.lower()  # Keycloak keeps e-mail addresses in lower case: so do we, and uniqueness means the same


def _not_null(value: Any) -> Any:
    if value is None:  # only an explicit null reaches a validator; leaving a field out keeps it as it is
        raise ValueError("may be left out but not null")
    return value


# Keycloak keeps usernames in lower case; one that is not is lowered, not refused (after: a pattern in the
# constraints would be checked before the lowering)
Username = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, max_length=63),
    AfterValidator(_username),
]
PersonName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), AfterValidator(_person_name)
]
Email = Annotated[EmailStr, Field(max_length=254), AfterValidator(_lower)]
Roles = Annotated[list[UserRole], Field(min_length=1, max_length=3)]


class UserNew(BaseModel):
    """A new account; `username` is fixed once made. It has no password: Keycloak asks for one at the first sign-in
    (required action UPDATE_PASSWORD), after an administrator sent a reset e-mail or set a temporary one there."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    username: Username
    given_name: PersonName
    family_name: PersonName
    email: Email | None = None
    office_id: uuid.UUID
    roles: Roles
    reason: LongText | None = None


class UserChange(BaseModel):
    """The fields sent change; a field left out stays; null clears `email`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    given_name: PersonName | None = None
    family_name: PersonName | None = None
    email: Email | None = None
    roles: Roles | None = None
    reason: LongText | None = None

    not_null = field_validator("given_name", "family_name", "roles")(_not_null)


class Move(BaseModel):
    """To another office: the person's tokens name the new one from their next sign-in; the old one's are refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    office_id: uuid.UUID
    reason: LongText | None = None


class Reason(BaseModel):
    """Why (deactivation, reactivation): it lands in the audit row."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: LongText | None = None


class User(BaseModel):
    """`username`, `given_name`, `family_name` are null for accounts made before user administration (the demo
    seed's), which only `display_name` names."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    subject: str
    username: str | None
    display_name: str
    given_name: str | None
    family_name: str | None
    email: str | None
    office_id: uuid.UUID | None
    roles: list[str]
    active: bool
    created_at: datetime
    updated_at: datetime
    deactivated_at: datetime | None


class UserFilter(BaseModel):
    """`q` holds every word somewhere in the username, the name or the e-mail (case and accents aside)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    q: str | None = Field(default=None, max_length=200)
    office_id: uuid.UUID | None = None
    role: UserRole | None = None
    active: bool | None = None
    page: int = Field(default=1, ge=1, le=MAX_PAGE)
    size: int = Field(default=50, ge=1, le=200)


class UserPage(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[User]
    total: int
    page: int
    size: int

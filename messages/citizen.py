"""Citizens as the back office records them."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints, model_validator


def _check_afm(value: str) -> str:
    """The ΑΦΜ's ninth digit is the sum of the first eight weighted by powers of two, mod 11, mod 10."""
    if len(value) != 9 or not value.isdigit():
        raise ValueError("ΑΦΜ must be exactly 9 digits")
    if value == "000000000":
        raise ValueError("ΑΦΜ cannot be all zeros")
    total = sum(int(d) << (8 - i) for i, d in enumerate(value[:8]))
    if total % 11 % 10 != int(value[8]):
        raise ValueError("ΑΦΜ check digit does not match")
    return value


Afm = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_check_afm)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9 ]{6,20}$")]


class EidasIdentity(BaseModel):
    """A citizen of another member state as eIDAS names them: the country of their eID and the person identifier
    it gives (the `<id>` of `<country>/EL/<id>`). Such a citizen has no ΑΦΜ, and none is ever assumed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # eIDAS writes Greece EL, as the EU does (ISO 3166 would say GR)
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
    person_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]


class Citizen(BaseModel):
    """Who the case is for: a Greek citizen by their ΑΦΜ, a citizen of another member state by their eIDAS
    identity (EUGO), or both."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    afm: Afm | None = None
    eidas: EidasIdentity | None = None
    first_name: Name
    last_name: Name
    father_name: Name | None = None
    email: EmailStr | None = None
    phone: Phone | None = None
    address: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _identified(self) -> Citizen:
        if self.afm is None and self.eidas is None:
            raise ValueError("a citizen is identified by an ΑΦΜ or by an eIDAS identity")
        return self

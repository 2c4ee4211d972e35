"""Citizens as the back office records them."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints


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


class Citizen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    afm: Afm
    first_name: Name
    last_name: Name
    father_name: Name | None = None
    email: EmailStr | None = None
    phone: Phone | None = None
    address: str | None = Field(default=None, max_length=500)

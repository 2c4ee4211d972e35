"""ΑΦΜ check digits, table-driven."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from messages.citizen import Citizen


@pytest.mark.parametrize("afm", ["090000045", "094019245", "997000000"])
def test_valid_afm(afm: str) -> None:
    assert Citizen(afm=afm, first_name="Α", last_name="Β").afm == afm


@pytest.mark.parametrize(
    ("afm", "reason"),
    [
        ("090000046", "check digit"),
        ("09000004", "9 digits"),
        ("0900000450", "9 digits"),
        ("09000004a", "9 digits"),
        ("000000000", "all zeros"),
        ("", "9 digits"),
    ],
)
def test_invalid_afm(afm: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        Citizen(afm=afm, first_name="Α", last_name="Β")


def test_surrounding_spaces_are_dropped() -> None:
    assert Citizen(afm=" 090000045 ", first_name=" Άννα ", last_name="Β").first_name == "Άννα"

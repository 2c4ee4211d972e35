"""Service through the gov.gr mailbox counts ten Greek working days: weekends, fixed feasts and the Orthodox
Easter cycle (a different date every year) are not counted."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from actors.delivery.calendar import add_working_days, deemed_served_at, is_working_day


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2027, 4, 30), False),  # Good Friday (Orthodox Easter is 2 May 2027)
        (date(2027, 5, 3), False),  # Easter Monday
        (date(2027, 5, 4), False),  # Labour Day falls on a Saturday: observed on Tuesday
        (date(2027, 3, 15), False),  # Clean Monday, 48 days before Easter
        (date(2027, 6, 21), False),  # Whit Monday, 50 days after Easter
        (date(2027, 3, 25), False),  # Independence Day
        (date(2027, 5, 5), True),
        (date(2027, 5, 8), False),  # a Saturday
    ],
)
def test_which_days_are_working_days(day: date, working: bool) -> None:
    assert is_working_day(day) is working


def test_ten_working_days_over_easter() -> None:
    # Thursday before Easter: Good Friday, the weekend, Easter Monday and the observed Labour Day are skipped
    assert add_working_days(date(2027, 4, 29), 10) == date(2027, 5, 18)
    # an ordinary fortnight
    assert add_working_days(date(2027, 9, 6), 10) == date(2027, 9, 20)


def test_deemed_served_at_the_end_of_the_tenth_working_day_in_athens() -> None:
    # 23:30 UTC on Wednesday 28 April is already Thursday 29 April in Athens
    served = deemed_served_at(datetime(2027, 4, 28, 23, 30, tzinfo=UTC))
    assert served.date() == date(2027, 5, 18)
    assert (served.hour, served.minute) == (23, 59)

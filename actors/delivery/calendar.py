"""The Greek working-day calendar (the `holidays` library's Greece: fixed feasts, the Orthodox Easter cycle, observed
days): when a document posted to the gov.gr mailbox counts as served — ten working days after its posting
(ν. 5142/2024, arts 26–27)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays

ATHENS = ZoneInfo("Europe/Athens")
SERVICE_WORKING_DAYS = 10


@cache
def _greece(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("GR", years=year)


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _greece(day.year)


def add_working_days(start: date, days: int) -> date:
    """The `days`-th working day after `start` (`start` itself does not count)."""
    current, left = start, days
    while left > 0:
        current += timedelta(days=1)
        if is_working_day(current):
            left -= 1
    return current


def deemed_served_at(posted_at: datetime) -> datetime:
    """The end of the tenth working day after the posting's day, in Athens."""
    served_on = add_working_days(posted_at.astimezone(ATHENS).date(), SERVICE_WORKING_DAYS)
    return datetime.combine(served_on, time(23, 59, 59), tzinfo=ATHENS)

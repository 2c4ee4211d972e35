"""Statistics of cases (issue 17, part 8): the query and the rows each report answers with."""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

MAX_RANGE_DAYS = 3 * 366  # a report covers at most three years
DEFAULT_RANGE_DAYS = 30
# rows of one answer at most (the next page in the `Link` header): every office over a month by week per procedure
# is some 33 000 rows at a million cases, three years of them by day some millions. A page's cost is grouping the
# periods or offices up to its last row (store.py) and then its rows (~10 µs each: the transfer, Python, JSON), so
# 1 000 keeps a page within the 200 ms on this two-core machine also while other work loads it to 10 and
# more (bench/statistics_reports.py), and is more than a screen shows; a CSV export follows the `Link`s
MAX_PAGE_ROWS = 1000


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class Breakdown(StrEnum):
    """What the rows of a report are per: each office (summed over its procedures), or each office and procedure."""

    OFFICE = "office"
    OFFICE_PROCEDURE = "office,procedure"


class VolumeRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    period: date  # the first day of the day, week (Monday) or month
    office_id: uuid.UUID
    procedure_id: uuid.UUID | None  # None: summed over the procedures (`by=office`)
    opened: int
    completed: int
    rejected: int


class StatusTimeRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    office_id: uuid.UUID
    procedure_id: uuid.UUID | None  # None: summed over the procedures (`by=office`)
    status: str
    stays: int  # stays in the status that ended in the range
    mean_hours: float
    max_hours: float


class ComplianceRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    office_id: uuid.UUID
    procedure_id: uuid.UUID | None  # None: summed over the procedures (`by=office`)
    completed: int
    on_time: int
    late: int
    no_deadline: int
    on_time_share: float | None  # of those with a deadline
    mean_late_days: float | None  # over the late ones
    max_late_days: int


class BacklogRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    office_id: uuid.UUID
    status: str
    cases: int


class WorkloadRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    office_id: uuid.UUID
    assignee: str
    cases: int

"""ΚΣΗΔΕ's org chart as this system keeps it: the units documents can be addressed to, and what a sync did."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class Department(BaseModel):
    """A department of a unit: a recipient may name one besides the unit's SectorCode."""

    model_config = ConfigDict(frozen=True)

    code: str
    name: str


class KshdeUnit(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str  # the SectorCode
    name: str
    name_en: str | None = None
    parent_code: str | None = None
    is_active: bool
    is_sddd: bool  # can receive documents: only these are recipients
    departments: list[Department] = []
    chart_version: int  # the last chart the unit was in
    synced_at: datetime
    removed_at: datetime | None = None  # when it left the chart (it is kept, inactive)


class SyncReport(BaseModel):
    """One sync: the chart's version and what changed here. `applied` is false when the chart was the one already
    stored (same version, same number of units) and nothing was written."""

    model_config = ConfigDict(frozen=True)

    version: int
    previous_version: int | None
    applied: bool
    units: int  # in the chart
    added: int = 0
    changed: int = 0  # name, parent, flags or departments changed, or back in the chart
    removed: int = 0  # left the chart: now inactive
    checked_at: datetime

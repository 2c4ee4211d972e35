"""Mitos (ΕΜΔΔ) records as we read them off the wire, and the normalised procedure the catalogue keeps."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

MYKEPLIVE_GROUP_ID = "8256"

_ISO_DURATION = re.compile(
    r"^P(?:(?P<y>\d+(?:\.\d+)?)Y)?(?:(?P<mo>\d+(?:\.\d+)?)M)?(?:(?P<w>\d+(?:\.\d+)?)W)?(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<mi>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)
_DAYS_PER = {"y": 365.0, "mo": 30.0, "w": 7.0, "d": 1.0, "h": 1 / 24, "mi": 1 / 1440, "s": 1 / 86400}


def duration_days(value: object) -> float | None:
    """Days from either encoding: ISO-8601 (`P20D`, `P2W`, `PT48H`) or seconds (`1728000`, also as a string).

    Anything else is None: a missing duration must not cost us the whole procedure.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return round(value / 86400, 4) if value >= 0 else None
    if not isinstance(value, str):
        return None
    text = value.strip().upper()
    if text.isdigit():
        return round(int(text) / 86400, 4)
    match = _ISO_DURATION.match(text)
    if match is None or text in ("P", "PT"):
        return None
    return round(sum(float(v) * _DAYS_PER[k] for k, v in match.groupdict().items() if v), 4)


def _id_text(value: object) -> object:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


IdText = Annotated[str, BeforeValidator(_id_text)]


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class LocalizedText(_Tolerant):
    el: str | None = None
    en: str | None = None


class MitosRef(_Tolerant):
    """A registry object once embedded: organisation, unit, provision-org group, evidence type, code."""

    id: IdText | None = None
    title: LocalizedText | None = None


# A reference is a bare id in `/services/{id}` and an object in `/services-extended/{id}`.
RefOrId = MitosRef | IdText


class MitosListItem(_Tolerant):
    """One row of `/v1/services`."""

    id: int
    title: LocalizedText | None = None
    ns: int | None = None
    last_updated: datetime | None = None


class MitosServicePage(_Tolerant):
    """`/v1/services?page&limit` minus `success`."""

    data: list[MitosListItem]
    total: int
    current_page: int | None = None
    next_page: int | None = None
    limit: int | None = None


class MitosProcessFields(_Tolerant):
    """`metadata.process`: only the fields we extract; the payload itself is kept whole elsewhere."""

    uuid: str | None = None
    id: IdText | None = None
    official_title: str | None = None
    alternative_titles: list[str] | None = None
    description: str | None = None
    status: str | None = None
    org_owner: RefOrId | None = None
    provision_org_group: list[RefOrId] | None = None
    provision_org_group_remote: list[RefOrId] | None = None
    is_served_via_mykeplive: bool | None = None
    provided_to: list[str] | None = None
    life_events: list[str] | None = None
    border_provision: str | None = None
    source: str | None = None
    cost_min: float | None = None
    cost_max: float | None = None
    estimated_implementation_time: str | float | None = None
    deadline_duration: str | float | None = None
    validity_duration: str | float | None = None


class MitosMetadata(_Tolerant):
    process: MitosProcessFields | None = None


class MitosProcessRecord(_Tolerant):
    """The `data` of `/v1/services-extended/{id}`; the id is often missing there, so it is optional here."""

    id: int | None = None
    title: LocalizedText | None = None
    url: str | None = None
    last_updated: datetime | None = None
    metadata: MitosMetadata | None = None


class CatalogProcedure(BaseModel):
    """A procedure as the catalogue extracts it from Mitos, one per Mitos id."""

    model_config = ConfigDict(frozen=True)

    mitos_id: int
    uuid: str | None = None
    title_el: str
    title_en: str | None = None
    official_title: str | None = None
    alternative_titles: list[str] = Field(default_factory=list)
    description_el: str | None = None
    description_en: str | None = None
    status: str | None = None
    owner_org_id: str | None = None
    owner_org_title: LocalizedText | None = None
    categories: list[str] = Field(default_factory=list)
    provided_to: list[str] = Field(default_factory=list)
    is_eugo: bool = False
    is_served_via_mykeplive: bool = False
    cost_min: float | None = None
    cost_max: float | None = None
    implementation_days: float | None = None
    deadline_days: float | None = None
    validity_days: float | None = None
    url: str | None = None
    last_updated: datetime | None = None
    payload: dict[str, Any] = Field(default_factory=dict, repr=False)


def ref_id(ref: RefOrId | None) -> str | None:
    return ref.id if isinstance(ref, MitosRef) else ref


def is_mykeplive_group(ref: RefOrId) -> bool:
    """pyemdd's rule, made tolerant of int ids: group 8256, or a group titled myKEPlive."""
    if isinstance(ref, MitosRef):
        return ref.id == MYKEPLIVE_GROUP_ID or (ref.title is not None and ref.title.el == "myKEPlive")
    return ref == MYKEPLIVE_GROUP_ID


def is_eugo(fields: MitosProcessFields) -> bool:
    """EUGO (Point of Single Contact) procedures are marked by `source` (EU-GO) or by `border_provision`."""
    source = (fields.source or "").upper().replace("-", "")
    border = (fields.border_provision or "").lower()
    return "EUGO" in source or "cross-border" in border or "διασυνοριακ" in border

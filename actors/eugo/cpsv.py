"""A Mitos record (`procedures.payload` and the row's columns) as a CPSV-AP public service, in both languages.

Mitos fields map as CPSV-AP says: `process_conditions` → Requirement, `process_evidences` → Evidence,
`process_evidences_cost` and `cost_min/max` → Cost, `output_type` → Output, ΚΕΠ/ΕΚΕ, myKEPlive and the digital
locations → Channel, `process_rules` → Rule/LegalResource, `provision_org` (else `org_owner`) → competent
PublicOrganisation, `life_events` → LifeEvent/BusinessEvent, `estimated_implementation_time` → processing time.
Every field may be missing or of another type than documented: what cannot be read is left out, never fatal.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from actors.eugo.labels import BUSINESS_EVENTS, ENGLISH
from messages import eugo as m
from messages.mitos import MYKEPLIVE_GROUP_ID, duration_days

Json = Mapping[str, Any]


@dataclass(frozen=True)
class Text:
    """A text in Greek, English or both (at least one)."""

    el: str | None
    en: str | None = None

    def pick(self, lang: m.Lang) -> str:
        first, second = (self.en, self.el) if lang == "en" else (self.el, self.en)
        return first or second or ""

    def tagged(self) -> dict[str, str]:
        """A JSON-LD language map."""
        return {k: v for k, v in (("el", self.el), ("en", self.en)) if v}

    @classmethod
    def label(cls, greek: str) -> Text:
        return cls(greek, ENGLISH.get(greek.strip()))

    @classmethod
    def of(cls, value: object) -> Text | None:
        """From a `{el, en}` object, or a bare string (Greek)."""
        if isinstance(value, Mapping):
            el, en = _str(value.get("el")), _str(value.get("en"))
            return cls(el, en) if el or en else None
        text = _str(value)
        return cls.label(text) if text else None


@dataclass(frozen=True)
class Org:
    id: str | None
    name: Text | None


@dataclass(frozen=True)
class Requirement:
    id: str
    name: Text
    type: Text | None
    alternative: bool
    url: str | None


@dataclass(frozen=True)
class Evidence:
    id: str
    name: Text
    type_id: str | None
    description: Text | None
    note: str | None
    submission: tuple[Text, ...]
    alternative: bool
    url: str | None


@dataclass(frozen=True)
class Cost:
    id: str
    type: Text | None
    description: Text | None
    min: float | None
    max: float | None


@dataclass(frozen=True)
class Output:
    id: str
    name: Text
    registries: tuple[Text, ...]


@dataclass(frozen=True)
class Place:
    """A service point (`service_points`) where the procedure is offered."""

    id: uuid.UUID
    name: Text
    address: str
    postal_code: str | None
    municipality: str | None
    latitude: float
    longitude: float
    procedure_ids: frozenset[uuid.UUID]
    categories: frozenset[str]

    def offers(self, procedure_id: uuid.UUID, categories: frozenset[str]) -> bool:
        """The rule of actors/service_points/store.py `_offers`: by the procedure's id, or one of its categories."""
        return procedure_id in self.procedure_ids or bool(self.categories & categories)

    @classmethod
    def of(cls, row: Json) -> Place:
        return cls(
            row["id"],
            Text(row["name_el"], row.get("name_en")),
            row["address"],
            row.get("postal_code"),
            row.get("municipality"),
            float(row["lat"]),
            float(row["lon"]),
            frozenset(row.get("procedure_ids") or ()),
            frozenset(row.get("categories") or ()),
        )


@dataclass(frozen=True)
class Channel:
    id: str
    kind: m.ChannelKind
    name: Text
    url: str | None
    place: Place | None = None


@dataclass(frozen=True)
class Rule:
    id: str
    type: Text | None
    number: str | None
    year: str | None
    article: str | None
    description: str | None
    gazette_issue: str | None
    gazette_number: str | None
    ada: str | None
    url: str | None

    @property
    def gazette(self) -> str | None:
        if self.gazette_number is None:
            return None
        return " ".join(p for p in ("ΦΕΚ", self.gazette_issue, self.gazette_number) if p)


@dataclass(frozen=True)
class Event:
    kind: m.EventKind
    name: Text


@dataclass(frozen=True)
class Service:
    id: uuid.UUID
    mitos_id: str
    title: Text
    alternative_titles: tuple[str, ...]
    description: Text | None
    languages: tuple[Text, ...]
    audience: tuple[Text, ...]
    authorities: tuple[Org, ...]
    owner: Org | None
    requirements: tuple[Requirement, ...]
    evidence: tuple[Evidence, ...]
    costs: tuple[Cost, ...]
    cost_min: float | None
    cost_max: float | None
    outputs: tuple[Output, ...]
    channels: tuple[Channel, ...]
    rules: tuple[Rule, ...]
    events: tuple[Event, ...]
    processing_time: str | None
    processing_days: float | None
    deadline_days: float | None
    validity_days: float | None
    updated_at: datetime | None


# the two channels every EUGO procedure has or may have, besides its own digital locations
IN_PERSON = Text(
    "Αυτοπρόσωπα σε ΚΕΠ που λειτουργεί ως Ενιαίο Κέντρο Εξυπηρέτησης (ΕΚΕ)",
    "In person at a KEP citizen service centre that works as a Point of Single Contact (EKE)",
)
VIDEO_CALL = Text("Με βιντεοκλήση μέσω myKEPlive", "By video call with a KEP through myKEPlive")


def _str(value: object) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return str(value)
    return value.strip() or None if isinstance(value, str) else None


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.replace(",", "."))
        except ValueError:
            return None
    return None


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _map(value: object) -> Json:
    return value if isinstance(value, Mapping) else {}


def _dicts(value: object) -> list[Json]:
    return [v for v in _list(value) if isinstance(v, Mapping)]


def _org(ref: object) -> Org | None:
    if isinstance(ref, Mapping):
        org_id = _str(ref.get("id"))
        name = Text.of(ref.get("title"))
        return Org(org_id, name) if org_id or name else None
    org_id = _str(ref)
    return Org(org_id, None) if org_id else None


def iso_duration(value: object) -> str | None:
    """The duration as ISO 8601 whichever encoding Mitos used (`P20D`, or seconds)."""
    days = duration_days(value)
    if days is None:
        return None
    if isinstance(value, str) and value.strip().upper().startswith("P"):
        return value.strip().upper()
    seconds = round(days * 86400)
    return f"P{seconds // 86400}D" if seconds % 86400 == 0 else f"PT{seconds}S"


def _requirements(meta: Json) -> tuple[Requirement, ...]:
    found = []
    for i, c in enumerate(_dicts(meta.get("process_conditions")), start=1):
        name = _str(c.get("conditions_name"))
        if name is None:
            continue
        kind = _str(c.get("conditions_type"))
        number = _str(c.get("conditions_num_id")) or str(i)
        found.append(
            Requirement(
                f"requirement-{number}",
                Text.label(name),
                Text.label(kind) if kind else None,
                c.get("conditions_alternative") is True,
                _str(c.get("conditions_url")),
            )
        )
    return tuple(found)


def _evidence(meta: Json) -> tuple[Evidence, ...]:
    found = []
    for i, e in enumerate(_dicts(meta.get("process_evidences")), start=1):
        kind = e.get("evidence_type")
        description = _str(e.get("evidence_description"))
        name = Text.of(kind.get("title")) if isinstance(kind, Mapping) else None
        name = name or (Text(description) if description else None)
        if name is None:
            continue
        number = _str(e.get("evidence_num_id")) or str(i)
        found.append(
            Evidence(
                f"evidence-{number}",
                name,
                _str(kind.get("id")) if isinstance(kind, Mapping) else _str(kind),
                Text.label(description) if description else None,
                _str(e.get("evidence_note")),
                tuple(Text.label(s) for s in _list(e.get("evidence_submission_type")) if _str(s)),
                e.get("evidence_alternative") is True,
                _str(e.get("evidence_url")) or _str(e.get("evidence_related_url")),
            )
        )
    return tuple(found)


def _costs(meta: Json, process: Json) -> tuple[Cost, ...]:
    found = []
    for i, c in enumerate(_dicts(meta.get("process_evidences_cost")), start=1):
        low, high = _number(c.get("evidence_cost_min")), _number(c.get("evidence_cost_max"))
        kind, text = _str(c.get("evidence_cost_type")), _str(c.get("evidence_cost_description"))
        if low is None and high is None and kind is None and text is None:
            continue
        found.append(
            Cost(f"cost-{i}", Text.label(kind) if kind else None, Text.label(text) if text else None, low, high)
        )
    low, high = _number(process.get("cost_min")), _number(process.get("cost_max"))
    if not found and (low is not None or high is not None):
        found.append(Cost("cost-1", Text("Κόστος διαδικασίας", "Cost of the procedure"), None, low, high))
    return tuple(found)


def _outputs(process: Json) -> tuple[Output, ...]:
    kinds = [_str(k) for k in _list(process.get("output_type"))] or [_str(process.get("output_type"))]
    registries = tuple(
        t for t in (Text.of(r.get("title")) for r in _dicts(process.get("output_registries"))) if t is not None
    )
    return tuple(Output(f"output-{i}", Text.label(k), registries) for i, k in enumerate((k for k in kinds if k), 1))


def _is_mykeplive(process: Json) -> bool:
    if process.get("is_served_via_mykeplive") is True:
        return True
    groups = [*_list(process.get("provision_org_group")), *_list(process.get("provision_org_group_remote"))]
    ids = [g.get("id") if isinstance(g, Mapping) else g for g in groups]
    return any(_str(i) == str(MYKEPLIVE_GROUP_ID) for i in ids)


def _channels(meta: Json, process: Json, mykeplive: bool, places: list[Place]) -> tuple[Channel, ...]:
    found = [Channel("channel-in-person", m.ChannelKind.IN_PERSON, IN_PERSON, None)]
    found += [Channel(f"service-point-{p.id}", m.ChannelKind.IN_PERSON, p.name, None, p) for p in places]
    if mykeplive or _is_mykeplive(process):
        found.append(Channel("channel-video-call", m.ChannelKind.VIDEO_CALL, VIDEO_CALL, None))
    online = [
        (_str(d.get("provision_digital_location_title")), _str(d.get("provision_digital_location_url")))
        for d in _dicts(meta.get("process_provision_digital_locations"))
    ]
    online += [(_str(g.get("title")), _str(g.get("url"))) for g in _dicts(process.get("govgr_codes"))]
    seen: set[str] = set()
    for title, url in online:
        if url is None or url in seen:
            continue
        seen.add(url)
        name = Text(title, None) if title else Text("Ηλεκτρονικά", "Online")
        found.append(Channel(f"channel-online-{len(seen)}", m.ChannelKind.ONLINE, name, url))
    return tuple(found)


def _rules(meta: Json) -> tuple[Rule, ...]:
    found = []
    for i, r in enumerate(_dicts(meta.get("process_rules")), start=1):
        kind = _str(r.get("rule_type"))
        found.append(
            Rule(
                f"legal-resource-{i}",
                Text.label(kind) if kind else None,
                _str(r.get("rule_decision_number")),
                _str(r.get("rule_decision_year")),
                _str(r.get("rule_article")),
                _str(r.get("rule_description")),
                _str(r.get("rule_gazette_doc_issue")),
                _str(r.get("rule_gazette_doc_number")),
                _str(r.get("rule_ada")),
                _str(r.get("rule_url")),
            )
        )
    return tuple(found)


def _events(process: Json) -> tuple[Event, ...]:
    labels = [s for s in (_str(e) for e in _list(process.get("life_events"))) if s]
    return tuple(
        Event(m.EventKind.BUSINESS if s in BUSINESS_EVENTS else m.EventKind.LIFE, Text.label(s)) for s in labels
    )


def service(row: Json, places: Sequence[Place] = ()) -> Service:
    """The public service of one `procedures` row: its `payload` (the Greek extended record), and the columns the
    sync extracted (English title and description, which only the English record has); `places` are the active
    service points, of which those that offer it become its in-person channels."""
    categories = frozenset(row.get("categories") or ())
    offering = [p for p in places if p.offers(row["id"], categories)]
    payload = _map(row.get("payload"))
    meta = _map(payload.get("metadata"))
    process = _map(meta.get("process"))
    title = _map(payload.get("title"))
    owner = _org(process.get("org_owner"))
    authorities = [o for o in (_org(r) for r in _list(process.get("provision_org"))) if o is not None]
    description_el = _str(row.get("description_el")) or _str(process.get("description"))
    description_en = _str(row.get("description_en"))
    implementation = process.get("estimated_implementation_time")
    return Service(
        id=row["id"],
        mitos_id=str(row["mitos_id"]),
        title=Text(
            _str(row.get("title_el")) or _str(title.get("el")), _str(row.get("title_en")) or _str(title.get("en"))
        ),
        alternative_titles=tuple(s for s in (_str(a) for a in _list(process.get("alternative_titles"))) if s),
        description=Text(description_el, description_en) if description_el or description_en else None,
        languages=tuple(
            Text.label(s.strip()) for s in (_str(process.get("provided_language")) or "").split(",") if s.strip()
        ),
        audience=tuple(Text.label(s) for s in (_str(p) for p in _list(process.get("provided_to"))) if s),
        authorities=tuple(authorities) or ((owner,) if owner else ()),
        owner=owner,
        requirements=_requirements(meta),
        evidence=_evidence(meta),
        costs=_costs(meta, process),
        cost_min=_number(process.get("cost_min")),
        cost_max=_number(process.get("cost_max")),
        outputs=_outputs(process),
        channels=_channels(meta, process, row.get("mykeplive") is True, offering),
        rules=_rules(meta),
        events=_events(process),
        processing_time=iso_duration(implementation),
        processing_days=duration_days(implementation),
        deadline_days=duration_days(process.get("deadline_duration")),
        validity_days=duration_days(process.get("validity_duration")),
        updated_at=row.get("mitos_updated_at"),
    )

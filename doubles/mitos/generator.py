"""A seeded, deterministic synthetic Mitos data set, in the shapes the API answers, and the means to change it."""

from __future__ import annotations

import copy
import random
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from doubles.mitos import vocabulary

MYKEPLIVE_GROUP_ID = vocabulary.MYKEPLIVE_GROUP_ID
MIN_COUNT, MAX_COUNT, DEFAULT_COUNT = 300, 3000, 800
_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
_DAY = 86400

Json = dict[str, Any]


def _ref(id_: int | str, el: str, en: str | None) -> Json:
    return {"id": str(id_), "title": {"el": el, "en": en}}


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def _iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass
class Procedure:
    """One synthetic procedure: its flat Greek record, and English free text when it has a translation."""

    id: int
    record: Json
    english: dict[str, str] | None
    omit_id_in_extended: bool = False


@dataclass
class MitosDataset:
    """Procedures plus the registries they refer to; `now` only moves forward, so `last_updated` grows."""

    seed: int
    procedures: dict[int, Procedure]
    organizations: dict[str, Json]
    units: dict[str, Json]
    groups: dict[str, Json]
    evidence_types: dict[str, Json]
    nace: dict[str, Json]
    sdg: dict[str, Json]
    registries: dict[str, Json]
    now: datetime
    rng: random.Random = field(repr=False)

    def list_items(self) -> list[Json]:
        return [
            {
                "id": p.id,
                "title": copy.deepcopy(p.record["title"]),
                "ns": 3000,
                "last_updated": p.record["last_updated"],
            }
            for p in sorted(self.procedures.values(), key=lambda p: p.id)
        ]

    def flat(self, mitos_id: int, lang: str | None = None) -> Json | None:
        proc = self.procedures.get(mitos_id)
        if proc is None:
            return None
        data = copy.deepcopy(proc.record)
        if lang == "en" and proc.english is not None:
            data["metadata"]["process"].update(proc.english)
        return data

    def extended(self, mitos_id: int, lang: str | None = None) -> Json | None:
        data = self.flat(mitos_id, lang)
        if data is None:
            return None
        proc_fields = data["metadata"]["process"]
        if proc_fields.get("org_owner") is not None:
            proc_fields["org_owner"] = self._embed(self.organizations, proc_fields["org_owner"])
        proc_fields["provision_org"] = [self._embed(self.organizations, i) for i in proc_fields["provision_org"]]
        directory = proc_fields["provision_org_owner_directory"]
        proc_fields["provision_org_owner_directory"] = [self._embed(self.units, i) for i in directory]
        for key in ("provision_org_group", "provision_org_group_remote"):
            proc_fields[key] = [self._embed(self.groups, i, drop_children=True) for i in proc_fields[key]]
        proc_fields["nace_codes"] = [self._embed(self.nace, i) for i in proc_fields["nace_codes"]]
        proc_fields["sdg_codes"] = [self._embed(self.sdg, i) for i in proc_fields["sdg_codes"]]
        proc_fields["output_registries"] = [self._embed(self.registries, i) for i in proc_fields["output_registries"]]
        for ev in data["metadata"]["process_evidences"]:
            ev["evidence_type"] = self._embed(self.evidence_types, ev["evidence_type"])
        data["metadata"]["glance"] = {
            "cost": {"value": proc_fields.get("cost_min")},
            "evidences": {"value": len(data["metadata"]["process_evidences"])},
            "duration_steps_digital": {"value": proc_fields.get("estimated_implementation_time")},
            "service_points": {"value": [{"title": "ΚΕΠ", "url": "https://www.kep.gov.gr"}]},
        }
        if self.procedures[mitos_id].omit_id_in_extended:
            del data["id"]
        return data

    @staticmethod
    def _embed(table: dict[str, Json], id_: int | str, *, drop_children: bool = False) -> Json:
        found = table.get(str(id_))
        if found is None:
            return _ref(id_, str(id_), str(id_))
        out = copy.deepcopy(found)
        out.pop("org", None)  # our own link from unit to organisation, not part of the wire format
        if drop_children:
            out.pop("children", None)
        return out

    # mutations, for incremental-sync tests

    def _tick(self) -> str:
        self.now += timedelta(minutes=1)
        return _iso_z(self.now)

    def add(self, count: int = 1) -> list[int]:
        new_ids = []
        for _ in range(count):
            mitos_id = _fresh_id(self.rng, self.procedures)
            self.procedures[mitos_id] = _make_procedure(self.rng, mitos_id, self, self._tick())
            new_ids.append(mitos_id)
        return new_ids

    def change(self, ids: list[int]) -> None:
        for mitos_id in ids:
            rec = self.procedures[mitos_id].record
            rec["title"]["el"] = f"{rec['title']['el']} (αναθεώρηση)"
            rec["metadata"]["process"]["description"] = f"{rec['metadata']['process']['description']} Αναθεωρήθηκε."
            rec["metadata"]["process"]["cost_max"] = (rec["metadata"]["process"].get("cost_max") or 0) + 5
            self.touch([mitos_id])

    def touch(self, ids: list[int]) -> None:
        for mitos_id in ids:
            stamp = self._tick()
            self.procedures[mitos_id].record["last_updated"] = stamp
            self.procedures[mitos_id].record["metadata"]["process"]["last_updated"] = stamp

    def remove(self, ids: list[int]) -> None:
        for mitos_id in ids:
            del self.procedures[mitos_id]


def _fresh_id(rng: random.Random, taken: dict[int, Procedure]) -> int:
    while True:
        candidate = rng.randint(100000, 999999)
        if candidate not in taken:
            return candidate


def _duration(rng: random.Random, days: int) -> str | int | None:
    """The API speaks ISO-8601, the wiki seconds; either may come, or nothing."""
    roll = rng.random()
    if roll < 0.1:
        return None
    if roll < 0.4:
        return days * _DAY
    if roll < 0.5 and days % 7 == 0:
        return f"P{days // 7}W"
    return f"P{days}D"


def _title(rng: random.Random) -> tuple[str, str, str, str]:
    """Greek title, English title, Greek and English noun phrase for the description."""
    if rng.random() < 0.12:
        el, en = rng.choice(vocabulary.STANDALONE)
        return el, en, el.lower(), en.lower()
    action_el, action_en = rng.choice(vocabulary.ACTIONS)
    _nom, gen, obj_en = rng.choice(vocabulary.OBJECTS)
    qual_el, qual_en = rng.choice(vocabulary.QUALIFIERS)
    el = f"{action_el} {gen}{qual_el}"
    en = action_en.format(obj_en) + qual_en
    return el, en, el[0].lower() + el[1:], en[0].lower() + en[1:]


def _make_procedure(rng: random.Random, mitos_id: int, ds: MitosDataset, stamp: str) -> Procedure:
    el, en, phrase_el, phrase_en = _title(rng)
    caps = rng.random()
    display_el = el.upper() if caps < 0.04 else _strip_accents(el).upper() if caps < 0.07 else el
    has_en = rng.random() < 0.5
    owner = rng.choice(vocabulary.ORGS)
    group_pool = [g[0] for g in vocabulary.GROUPS]
    groups: list[int | str] = [str(g) if rng.random() < 0.5 else g for g in rng.sample(group_pool, rng.randint(0, 2))]
    remote: list[int | str] = [str(MYKEPLIVE_GROUP_ID)] if rng.random() < 0.15 else []
    eugo = rng.random() < 0.2
    cost_min = rng.choice([None, 0, 0, 5, 10, 20.5, 84.4])
    cost_max = None if cost_min is None else cost_min + rng.choice([0, 0, 10, 40])
    unit_ids = [k for k, u in ds.units.items() if u["org"] == str(owner[0])]
    process: Json = {
        "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "id": str(mitos_id) if rng.random() < 0.5 else mitos_id,
        "official_title": el,
        "alternative_titles": [phrase_el] if rng.random() < 0.4 else [],
        "description": f"Η διαδικασία αφορά {phrase_el} από τον φορέα «{owner[1]}». Ο ενδιαφερόμενος υποβάλλει "
        "αίτηση σε ΚΕΠ ή ηλεκτρονικά μέσω του gov.gr και παραλαμβάνει την πράξη.",
        "remarks": None if rng.random() < 0.5 else "Η υπηρεσία παρέχεται και μέσω εξουσιοδοτημένου προσώπου.",
        "application_note": None,
        "status": rng.choice(["Ενεργή", "Ενεργή", "Ενεργή", "Υπό μεταβολή θεσμικού πλαισίου"]),
        "org_owner": None if rng.random() < 0.03 else owner[0],
        "org_owner_is_private": "Όχι",
        "provision_org": [owner[0]],
        "provision_org_owner_directory": rng.sample(unit_ids, min(len(unit_ids), rng.randint(0, 2))),
        "provision_org_group": groups,
        "provision_org_group_remote": remote,
        "provided_to": rng.sample(vocabulary.PROVIDED_TO, rng.randint(1, 2)),
        "life_events": rng.sample(vocabulary.LIFE_EVENTS, rng.randint(0, 3)),
        "provided_language": "Ελληνικά, Αγγλικά" if has_en else "Ελληνικά",
        "border_provision": "Cross-border" if eugo and rng.random() < 0.7 else None,
        "source": "EU-GO, SDG" if eugo else rng.choice([None, "ΕΜΔΔ"]),
        "type": rng.choice(["Εξωστρεφής", "Εσωστρεφής"]),
        "trigger": "Αίτηση",
        "output_type": rng.choice(["Πιστοποιητικό", "Άδεια", "Βεβαίωση", "Επίδομα"]),
        "cost_min": cost_min,
        "cost_max": cost_max,
        "estimated_implementation_time": _duration(rng, rng.choice([1, 3, 7, 14, 20, 30, 60])),
        "deadline_duration": _duration(rng, rng.choice([15, 30, 50])),
        "validity_duration": _duration(rng, rng.choice([90, 180, 365, 3650])),
        "delivery_type": rng.sample(["Ψηφιακά", "Φυσική παρουσία", "Ταχυδρομικά"], rng.randint(1, 2)),
        "output_registries": [r[0] for r in rng.sample(vocabulary.REGISTRIES, rng.randint(0, 1))],
        "nace_codes": [n[0] for n in rng.sample(vocabulary.NACE, rng.randint(0, 1))],
        "sdg_codes": [s[0] for s in rng.sample(vocabulary.SDG, 1 if eugo else 0)],
        "govgr_codes": [{"title": el, "url": f"https://www.gov.gr/ipiresies/{mitos_id}"}] if rng.random() < 0.3 else [],
        "is_simplified": rng.random() < 0.2,
        "last_updated": stamp,
    }
    rules = []
    for n in range(rng.randint(0, 3)):
        rule: Json = {
            "rule_type": rng.choice(vocabulary.RULE_TYPES),
            "rule_decision_number": str(rng.randint(1000, 5200)),
            "rule_decision_year": str(rng.randint(1990, 2025)),
            "rule_article": str(rng.randint(1, 80)),
            "rule_description": f"Ρύθμιση θεμάτων σχετικά με {phrase_el}",
            "rule_gazette_doc_number": rng.randint(1, 300),
            "rule_gazette_doc_issue": rng.choice(["Α", "Β", "Δ"]),
            "rule_url": None,
        }
        if rng.random() < 0.5:
            rule["rule_ada"] = f"Ω{rng.randint(100, 999)}Ψ{n}-ΑΒΓ"
        rules.append(rule)
    record: Json = {
        "id": mitos_id,
        "title": {"el": display_el, "en": en if has_en else None},
        "url": f"https://mitos.gov.gr/index.php/ΔΔ:{mitos_id}",
        "last_updated": stamp,
        "metadata": {
            "process": process,
            "process_conditions": [
                {
                    "conditions_num_id": i + 1,
                    "conditions_name": rng.choice(["Ενηλικίωση", "Μόνιμη κατοικία στην Ελλάδα", "Ελληνική ιθαγένεια"]),
                    "conditions_type": "Προϋπόθεση",
                    "conditions_alternative": rng.random() < 0.2,
                    "conditions_url": None,
                }
                for i in range(rng.randint(0, 2))
            ],
            "process_evidences": [
                {
                    "evidence_num_id": i + 1,
                    "evidence_type": str(rng.randint(1, len(vocabulary.EVIDENCE))),
                    "evidence_description": "Προσκομίζεται κατά την υποβολή της αίτησης",
                    "evidence_note": None,
                    "evidence_submission_type": ["Ψηφιακά"] if rng.random() < 0.5 else ["Φυσική παρουσία"],
                    "evidence_alternative": rng.random() < 0.1,
                    "evidence_url": None,
                    "evidence_owner": None,
                    "evidence_related_url": None,
                }
                for i in range(rng.randint(0, 4))
            ],
            "process_evidences_cost": (
                [
                    {
                        "evidence_cost_type": "Παράβολο",
                        "evidence_cost_description": "e-Παράβολο",
                        "evidence_cost_min": cost_min,
                        "evidence_cost_max": cost_max,
                    }
                ]
                if cost_min
                else []
            ),
            "process_steps": [
                {
                    "step_title": "Υποβολή αίτησης",
                    "step_description": "Ο πολίτης υποβάλλει αίτηση.",
                    "step_duration_max": "P1D",
                },
                {
                    "step_title": "Έλεγχος δικαιολογητικών",
                    "step_description": "Η υπηρεσία ελέγχει.",
                    "step_duration_max": f"P{rng.randint(1, 20)}D",
                },
            ],
            "process_steps_digital": [],
            "process_rules": rules,
            "process_provision_digital_locations": [],
            "process_useful_links": [],
        },
    }
    english = None
    if has_en:
        english = {
            "official_title": en,
            "description": f"The procedure concerns {phrase_en} by “{owner[2]}”. Apply at a KEP or online on gov.gr.",
        }
    return Procedure(mitos_id, record, english, omit_id_in_extended=rng.random() < 0.08)


def _hand_written(ds: MitosDataset) -> None:
    """Two recognisable records; the rest of the data set is random."""
    specs: list[tuple[int, str, str, int, str | int]] = [
        (144400, "Έκδοση διαβατηρίου", "Issue of passport", 23371, "P5D"),
        (439993, "Έκδοση βεβαίωσης φορολογικής ενημερότητας", "Issue of tax clearance certificate", 23373, 86400),
    ]
    for mitos_id, el, en, owner, duration in specs:
        rng = random.Random(mitos_id)  # noqa: S311 - synthetic data, not secrets
        proc = _make_procedure(rng, mitos_id, ds, _iso_z(_EPOCH))
        proc.record["title"] = {"el": el, "en": en}
        proc.english = {"official_title": en, "description": f"{en}."}
        proc.omit_id_in_extended = False
        fields = proc.record["metadata"]["process"]
        fields.update(official_title=el, org_owner=owner, provision_org=[owner], estimated_implementation_time=duration)
        fields.update(description=f"{el} σε πολίτες, με αίτηση σε ΚΕΠ ή ηλεκτρονικά μέσω του gov.gr.")
        fields["provision_org_owner_directory"] = [k for k, u in ds.units.items() if u["org"] == str(owner)][:1]
        fields.update(
            provision_org_group=[str(MYKEPLIVE_GROUP_ID)], source="EU-GO, SDG", border_provision="Cross-border"
        )
        if mitos_id == 439993:
            fields["uuid"] = "39e2d21a-0ee2-415f-8600-76b499ccf8d7"
        ds.procedures[mitos_id] = proc


def generate(seed: int = 42, count: int = DEFAULT_COUNT) -> MitosDataset:
    """The same seed and count always give the same data set."""
    if not MIN_COUNT <= count <= MAX_COUNT:
        raise ValueError(f"count must be between {MIN_COUNT} and {MAX_COUNT}, got {count}")
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
    organizations = {str(i): {**_ref(i, el, en), "type": "Φορέας"} for i, el, en in vocabulary.ORGS}
    units: dict[str, Json] = {}
    for n, (org_id, org_el, _org_en) in enumerate(vocabulary.ORGS):
        for k, (unit_el, unit_en) in enumerate(vocabulary.UNIT_KINDS):
            unit_id = str(90000 + n * 10 + k)
            units[unit_id] = {**_ref(unit_id, f"{unit_el} — {org_el}", unit_en), "org": str(org_id)}
    groups = {
        str(i): {**_ref(i, el, en), "children": [{"id": str(i * 10 + c)} for c in range(2)]}
        for i, el, en in vocabulary.GROUPS
    }
    ds = MitosDataset(
        seed=seed,
        procedures={},
        organizations=organizations,
        units=units,
        groups=groups,
        evidence_types={str(i + 1): _ref(i + 1, el, en) for i, (el, en) in enumerate(vocabulary.EVIDENCE)},
        nace={c: _ref(c, el, en) for c, el, en in vocabulary.NACE},
        sdg={c: _ref(c, el, en) for c, el, en in vocabulary.SDG},
        registries={str(i): _ref(i, el, en) for i, el, en in vocabulary.REGISTRIES},
        now=_EPOCH + timedelta(days=365),
        rng=rng,
    )
    _hand_written(ds)
    while len(ds.procedures) < count:
        mitos_id = _fresh_id(rng, ds.procedures)
        stamp = _iso_z(_EPOCH + timedelta(seconds=rng.randint(0, 364 * _DAY)))
        ds.procedures[mitos_id] = _make_procedure(rng, mitos_id, ds, stamp)
    return ds

"""Mitos records as CPSV-AP public services: every field where CPSV-AP puts it, on the Mitos double's synthetic
records; what is missing or malformed left out; Greek and English; the JSON-LD expanding to CPSV-AP's IRIs and
read as RDF."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest
import rdflib
from pyld import jsonld as pyld
from rdflib.namespace import RDF

from actors.catalog.mitos_client import normalise
from actors.eugo import cpsv, jsonld, render
from doubles.mitos.generator import MitosDataset, generate
from messages.eugo import ChannelKind, EventKind
from messages.mitos import duration_days

CPSV = rdflib.Namespace("http://purl.org/vocab/cpsv#")
CV = rdflib.Namespace("http://data.europa.eu/m8g/")
DCT = rdflib.Namespace("http://purl.org/dc/terms/")
ELI = rdflib.Namespace("http://data.europa.eu/eli/ontology#")
SKOS = rdflib.Namespace("http://www.w3.org/2004/02/skos/core#")
URL = "https://kep.example/api/public/eugo/procedures/0b6f3f5e-0000-4000-8000-000000000001"


@pytest.fixture(scope="module")
def ds() -> MitosDataset:
    return generate(seed=11, count=300)


def row_of(ds: MitosDataset, mitos_id: int) -> dict[str, Any]:
    """A `procedures` row as the sync writes it."""
    english = ds.procedures[mitos_id].english is not None
    proc = normalise(ds.extended(mitos_id), ds.extended(mitos_id, "en") if english else None, mitos_id=mitos_id)
    return {
        "id": uuid.uuid5(uuid.NAMESPACE_URL, str(mitos_id)),
        "mitos_id": str(proc.mitos_id),
        "title_el": proc.title_el,
        "title_en": proc.title_en,
        "description_el": proc.description_el,
        "description_en": proc.description_en,
        "payload": proc.payload,
        "mitos_updated_at": proc.last_updated,
        "eugo": proc.is_eugo,
        "mykeplive": proc.is_served_via_mykeplive,
    }


def eugo_rows(ds: MitosDataset) -> list[dict[str, Any]]:
    rows = [row_of(ds, i) for i in sorted(ds.procedures)]
    return [r for r in rows if r["eugo"]]


def test_every_mitos_field_lands_where_cpsv_ap_puts_it(ds: MitosDataset) -> None:
    rows = eugo_rows(ds)
    assert len(rows) > 30
    for row in rows:
        meta = row["payload"]["metadata"]
        process = meta["process"]
        s = cpsv.service(row)
        # requirements: process_conditions
        assert [r.name.el for r in s.requirements] == [c["conditions_name"] for c in meta["process_conditions"]]
        assert [r.alternative for r in s.requirements] == [
            c["conditions_alternative"] for c in meta["process_conditions"]
        ]
        # evidence: process_evidences, named by their (embedded) evidence type
        assert [e.name for e in s.evidence] == [
            cpsv.Text(e["evidence_type"]["title"]["el"], e["evidence_type"]["title"]["en"])
            for e in meta["process_evidences"]
        ]
        assert [e.type_id for e in s.evidence] == [e["evidence_type"]["id"] for e in meta["process_evidences"]]
        # costs: process_evidences_cost, else the procedure's own range
        if meta["process_evidences_cost"]:
            assert [(c.min, c.max) for c in s.costs] == [
                (c["evidence_cost_min"], c["evidence_cost_max"]) for c in meta["process_evidences_cost"]
            ]
        elif process["cost_min"] is not None:
            assert [(c.min, c.max) for c in s.costs] == [(process["cost_min"], process["cost_max"])]
        else:
            assert s.costs == ()
        assert (s.cost_min, s.cost_max) == (process["cost_min"], process["cost_max"])
        # output
        assert [o.name.el for o in s.outputs] == [process["output_type"]]
        assert [r.el for r in s.outputs[0].registries] == [r["title"]["el"] for r in process["output_registries"]]
        # legal basis: process_rules with ΦΕΚ and ΑΔΑ
        assert len(s.rules) == len(meta["process_rules"])
        for rule, raw in zip(s.rules, meta["process_rules"], strict=True):
            gazette = f"ΦΕΚ {raw['rule_gazette_doc_issue']} {raw['rule_gazette_doc_number']}"
            assert (rule.gazette, rule.ada, rule.number, rule.year, rule.article) == (
                gazette,
                raw.get("rule_ada"),
                raw["rule_decision_number"],
                raw["rule_decision_year"],
                raw["rule_article"],
            )
        # competent authority: provision_org; owner: org_owner
        assert [a.id for a in s.authorities] == [o["id"] for o in process["provision_org"]]
        if process["org_owner"] is not None:
            assert s.owner == cpsv.Org(process["org_owner"]["id"], cpsv.Text.of(process["org_owner"]["title"]))
        # channels: in person at a ΚΕΠ/ΕΚΕ always, myKEPlive when a group says so
        kinds = [c.kind for c in s.channels]
        assert kinds[0] is ChannelKind.IN_PERSON
        assert (ChannelKind.VIDEO_CALL in kinds) == row["mykeplive"]
        assert [c.url for c in s.channels if c.kind is ChannelKind.ONLINE] == [g["url"] for g in process["govgr_codes"]]
        # events, deadline
        assert [e.name.el for e in s.events] == process["life_events"]
        assert s.processing_days == duration_days(process["estimated_implementation_time"])
        assert s.deadline_days == duration_days(process["deadline_duration"])
        assert s.validity_days == duration_days(process["validity_duration"])


def test_a_record_with_only_a_title_is_a_service_with_nothing_else() -> None:
    s = cpsv.service({"id": uuid.uuid4(), "mitos_id": "1", "title_el": "Έκδοση άδειας", "payload": {}})
    assert s.title == cpsv.Text("Έκδοση άδειας", None)
    assert (s.requirements, s.evidence, s.costs, s.outputs, s.rules, s.events, s.authorities) == ((),) * 7
    assert [c.kind for c in s.channels] == [ChannelKind.IN_PERSON]
    assert (s.processing_time, s.cost_min, s.owner, s.description) == (None, None, None, None)
    answer = render.procedure(s, "en", URL)
    assert answer.title == "Έκδοση άδειας"  # no English title: the Greek one
    assert pyld.expand(jsonld.document(s, URL))  # and it is still valid JSON-LD


def test_fields_of_the_wrong_shape_are_left_out(ds: MitosDataset) -> None:
    row = eugo_rows(ds)[0]
    payload = copy.deepcopy(row["payload"])
    meta = payload["metadata"]
    meta["process_conditions"] = "not a list"
    meta["process_evidences"] = [None, 3, {"evidence_num_id": 1}]  # no type, no description: nothing to name it
    meta["process_rules"] = [{"rule_type": "Νόμος", "rule_gazette_doc_number": 12}]  # no issue, no ΑΔΑ
    meta["process"].update(cost_min="12,5", cost_max=True, provision_org=None, estimated_implementation_time="soon")
    meta["process_evidences_cost"] = []
    s = cpsv.service({**row, "payload": payload})
    assert (s.requirements, s.evidence, s.authorities) == ((), (), ((s.owner,) if s.owner else ()))
    assert [(r.gazette, r.ada, r.type) for r in s.rules] == [("ΦΕΚ 12", None, cpsv.Text("Νόμος", "Law"))]
    assert (s.cost_min, s.cost_max, [(c.min, c.max) for c in s.costs]) == (12.5, None, [(12.5, None)])
    assert (s.processing_time, s.processing_days) == (None, None)


@pytest.mark.parametrize(
    ("raw", "iso", "days"),
    [("P20D", "P20D", 20.0), (1728000, "P20D", 20.0), ("1728000", "P20D", 20.0), ("P2W", "P2W", 14.0),
     ("PT36H", "PT36H", 1.5), (5400, "PT5400S", 0.0625), (None, None, None), ("", None, None)],
)  # fmt: skip
def test_both_duration_encodings_become_iso_8601(raw: object, iso: str | None, days: float | None) -> None:
    assert cpsv.iso_duration(raw) == iso
    assert duration_days(raw) == days


def test_english_where_mitos_has_it_and_greek_where_it_has_not(ds: MitosDataset) -> None:
    row = row_of(ds, 439993)  # hand-written, translated
    s = cpsv.service(row)
    en, el = render.procedure(s, "en", URL), render.procedure(s, "el", URL)
    assert (en.lang, en.title, el.title) == ("en", "Issue of tax clearance certificate", row["title_el"])
    assert en.description == "Issue of tax clearance certificate."
    assert el.description == row["description_el"]
    assert en.competent_authorities[0].name == "Independent Authority for Public Revenue"
    assert el.competent_authorities[0].name == "Ανεξάρτητη Αρχή Δημοσίων Εσόδων (ΑΑΔΕ)"
    assert en.channels[0].name.startswith("In person at a KEP")
    assert el.channels[0].name.startswith("Αυτοπρόσωπα")
    assert [e.name for e in en.evidence] == [t.en for t in (e.name for e in s.evidence)]
    assert en.languages == ["Greek", "English"]
    assert el.languages == ["Ελληνικά", "Αγγλικά"]
    # a rule's description Mitos has only in Greek stays Greek in English
    assert [r.description for r in en.legal_basis] == [
        r["rule_description"] for r in row["payload"]["metadata"]["process_rules"]
    ]
    # an untranslated procedure answers in Greek whatever is asked
    untranslated = next(r for r in eugo_rows(ds) if r["title_en"] is None)
    assert render.procedure(cpsv.service(untranslated), "en", URL).title == untranslated["title_el"]


def _values(node: dict[str, Any], iri: str) -> list[Any]:
    return list(node.get(iri, []))


def test_the_json_ld_expands_to_cpsv_ap_iris(ds: MitosDataset) -> None:
    row = row_of(ds, 439993)
    s = cpsv.service(row)
    [service] = pyld.expand(jsonld.document(s, URL))
    assert service["@id"] == URL
    assert service["@type"] == [f"{CPSV}PublicService"]
    assert service[f"{DCT}identifier"] == [{"@value": "439993"}]
    assert {"@value": "Issue of tax clearance certificate", "@language": "en"} in service[f"{DCT}title"]
    assert {"@value": row["title_el"], "@language": "el"} in service[f"{DCT}title"]
    expected_types = {
        f"{CV}holdsRequirement": (f"{CV}Requirement", len(s.requirements)),
        f"{CPSV}hasInput": (f"{CV}Evidence", len(s.evidence)),
        f"{CPSV}produces": (f"{CV}Output", 1),
        f"{CV}hasCost": (f"{CV}Cost", len(s.costs)),
        f"{CV}hasChannel": (f"{CV}Channel", len(s.channels)),
        f"{CV}hasLegalResource": (f"{ELI}LegalResource", len(s.rules)),
        f"{CPSV}follows": (f"{CPSV}Rule", len(s.rules)),
        f"{CV}hasCompetentAuthority": (f"{CV}PublicOrganisation", 1),
        f"{CV}isGroupedBy": (f"{CV}LifeEvent", len(s.events)),
    }
    for prop, (cls, count) in expected_types.items():
        nodes = _values(service, prop)
        assert len(nodes) == count, prop
        assert all(n["@type"] == [cls] for n in nodes), prop
    assert s.costs
    assert s.rules
    assert s.evidence
    [cost] = service[f"{CV}hasCost"]
    assert cost[f"{CV}hasValue"] == [{"@value": s.costs[0].min, "@type": "http://www.w3.org/2001/XMLSchema#double"}]
    assert cost[f"{CV}currency"] == [{"@id": "http://publications.europa.eu/resource/authority/currency/EUR"}]
    assert service[f"{CV}processingTime"] == [
        {"@value": s.processing_time, "@type": "http://www.w3.org/2001/XMLSchema#duration"}
    ]
    [authority] = service[f"{CV}hasCompetentAuthority"]
    assert authority["@id"] == "urn:mitos:organization:23373"
    assert {"@value": "Independent Authority for Public Revenue", "@language": "en"} in authority[f"{SKOS}prefLabel"]
    ada = [r.ada for r in s.rules]
    assert [n.get("http://data.europa.eu/eli/ontology#id_local", [{}])[0].get("@value") for n in
            service[f"{CV}hasLegalResource"]] == ada  # fmt: skip


def test_a_business_event_groups_as_one() -> None:
    payload = {"metadata": {"process": {"life_events": ["Επιχειρηματικότητα", "Οικογένεια"]}}}
    s = cpsv.service({"id": uuid.uuid4(), "mitos_id": "2", "title_el": "Άδεια", "payload": payload})
    assert [e.kind for e in s.events] == [EventKind.BUSINESS, EventKind.LIFE]
    [service] = pyld.expand(jsonld.document(s, URL))
    assert [n["@type"] for n in service[f"{CV}isGroupedBy"]] == [[f"{CV}BusinessEvent"], [f"{CV}LifeEvent"]]


def test_the_json_ld_of_every_eugo_procedure_is_rdf(ds: MitosDataset) -> None:
    for row in eugo_rows(ds):
        s = cpsv.service(row)
        url = f"https://kep.example/api/public/eugo/procedures/{s.id}"
        graph = rdflib.Graph().parse(data=jsonld.document(s, url), format="json-ld")
        subject = rdflib.URIRef(url)
        assert (subject, RDF.type, CPSV.PublicService) in graph
        assert len(list(graph.objects(subject, CV.hasCost))) == len(s.costs)
        assert len(list(graph.objects(subject, CPSV.hasInput))) == len(s.evidence)
        for cost in graph.objects(subject, CV.hasCost):
            assert (cost, RDF.type, CV.Cost) in graph
        for evidence in graph.objects(subject, CPSV.hasInput):
            assert (evidence, RDF.type, CV.Evidence) in graph
        titles = {t.language for t in graph.objects(subject, DCT.title) if isinstance(t, rdflib.Literal)}
        assert titles == ({"el", "en"} if s.title.en else {"el"})


def test_a_cost_range_is_described_and_a_fixed_cost_has_its_value() -> None:
    costs = [
        {"evidence_cost_type": "Παράβολο", "evidence_cost_min": 5, "evidence_cost_max": 45},
        {"evidence_cost_type": "Παράβολο", "evidence_cost_min": 10, "evidence_cost_max": 10},
    ]
    payload = {"metadata": {"process_evidences_cost": costs, "process": {"cost_min": 15, "cost_max": 55}}}
    s = cpsv.service({"id": uuid.uuid4(), "mitos_id": "3", "title_el": "Άδεια", "payload": payload})
    [service] = pyld.expand(jsonld.document(s, URL))
    ranged, fixed = service[f"{CV}hasCost"]
    assert f"{CV}hasValue" not in ranged
    assert {"@value": "from 5.00 to 45.00 EUR", "@language": "en"} in ranged[f"{DCT}description"]
    assert fixed[f"{CV}hasValue"][0]["@value"] == 10
    assert {"@value": "Fee", "@language": "en"} in fixed[f"{DCT}type"]
    answer = render.procedure(s, "en", URL)
    assert [(c.type, c.min, c.max) for c in answer.costs] == [("Fee", 5, 45), ("Fee", 10, 10)]
    assert (answer.cost_min, answer.cost_max) == (15, 55)


def test_the_service_points_that_offer_a_procedure_are_its_in_person_channels() -> None:
    pid = uuid.uuid4()

    def place(name: str, procedure_ids: list[uuid.UUID], categories: list[str]) -> cpsv.Place:
        return cpsv.Place.of({
            "id": uuid.uuid5(uuid.NAMESPACE_URL, name), "name_el": name, "name_en": f"{name} (en)",
            "address": "Οδός 1", "postal_code": "10431", "municipality": "Αθήνα", "lat": 37.98, "lon": 23.72,
            "procedure_ids": procedure_ids, "categories": categories,
        })  # fmt: skip

    by_id, by_category, neither = place("Α", [pid], []), place("Β", [], ["Οικογένεια"]), place("Γ", [], ["Άλλο"])
    row = {"id": pid, "mitos_id": "4", "title_el": "Άδεια", "payload": {}, "categories": ["Οικογένεια"]}
    s = cpsv.service(row, [by_id, by_category, neither])
    assert [c.place for c in s.channels] == [None, by_id, by_category]
    assert {c.kind for c in s.channels} == {ChannelKind.IN_PERSON}
    [_, first, _] = render.procedure(s, "en", URL).channels
    assert (first.name, first.service_point_id, first.postal_code, first.latitude) == (
        "Α (en)",
        by_id.id,
        "10431",
        37.98,
    )
    graph = rdflib.Graph().parse(data=jsonld.document(s, URL), format="json-ld")
    channel = rdflib.URIRef(f"{URL}#service-point-{by_id.id}")
    assert (rdflib.URIRef(URL), CV.hasChannel, channel) in graph
    [address] = graph.objects(channel, rdflib.URIRef("http://www.w3.org/ns/locn#address"))
    assert str(graph.value(address, rdflib.URIRef("http://www.w3.org/ns/locn#postCode"))) == "10431"

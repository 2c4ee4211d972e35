"""A public service as JSON-LD with the CPSV-AP vocabulary, both languages tagged, for machines.

The context is inline (a consumer needs no second request and nothing remote is trusted); its terms expand to the
IRIs of CPSV-AP 3.2 (`cpsv:`, `cv:`), Dublin Core, ELI and SKOS. Nodes of the procedure are fragments of its own
address; organisations are named by their Mitos id. Mitos's enumerated labels (output, requirement and legal
types) are literals, not IRIs of a controlled vocabulary: Mitos has none.
"""

from __future__ import annotations

from typing import Any

from actors.eugo.cpsv import Channel, Cost, Org, Rule, Service, Text
from messages import eugo as m

CPSV = "http://purl.org/vocab/cpsv#"
CV = "http://data.europa.eu/m8g/"
DCT = "http://purl.org/dc/terms/"
ELI = "http://data.europa.eu/eli/ontology#"
EUR = "http://publications.europa.eu/resource/authority/currency/EUR"
LANGUAGE = "http://publications.europa.eu/resource/authority/language/"
CHANNEL = "urn:kep:eugo:channel:"  # our own: CPSV-AP names no controlled list of channel types
ORGANISATION = "urn:mitos:organization:"
_LANGUAGES = {"Ελληνικά": "ELL", "Αγγλικά": "ENG", "Γαλλικά": "FRA", "Γερμανικά": "DEU"}


def _ref(iri: str) -> dict[str, Any]:
    return {"@id": iri, "@type": "@id"}


def _lang(iri: str) -> dict[str, Any]:
    return {"@id": iri, "@container": "@language"}


def _set(iri: str) -> dict[str, Any]:
    return {"@id": iri, "@type": "@id", "@container": "@set"}


CONTEXT: dict[str, Any] = {
    "cpsv": CPSV,
    "cv": CV,
    "dct": DCT,
    "eli": ELI,
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "locn": "http://www.w3.org/ns/locn#",
    "geo": "http://www.opengis.net/ont/geosparql#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "PublicService": "cpsv:PublicService",
    "Requirement": "cv:Requirement",
    "Evidence": "cv:Evidence",
    "Output": "cv:Output",
    "Cost": "cv:Cost",
    "Channel": "cv:Channel",
    "Rule": "cpsv:Rule",
    "LegalResource": "eli:LegalResource",
    "PublicOrganisation": "cv:PublicOrganisation",
    "LifeEvent": "cv:LifeEvent",
    "BusinessEvent": "cv:BusinessEvent",
    "Address": "locn:Address",
    "address": _ref("locn:address"),
    "fullAddress": "locn:fullAddress",
    "postCode": "locn:postCode",
    "postName": "locn:postName",
    "geometry": {"@id": "locn:geometry", "@type": "geo:wktLiteral"},
    "identifier": "dct:identifier",
    "title": _lang("dct:title"),
    "alternative": {"@id": "dct:alternative", "@language": "el"},
    "description": _lang("dct:description"),
    "prefLabel": _lang("skos:prefLabel"),
    "kind": _lang("dct:type"),
    "channelType": _ref("dct:type"),
    "audience": _lang("dct:audience"),
    "language": _set("dct:language"),
    "modified": {"@id": "dct:modified", "@type": "xsd:dateTime"},
    "page": _ref("foaf:page"),
    "hasCompetentAuthority": _set("cv:hasCompetentAuthority"),
    "ownedBy": _set("cv:ownedBy"),
    "holdsRequirement": _set("cv:holdsRequirement"),
    "hasInput": _set("cpsv:hasInput"),
    "produces": _set("cpsv:produces"),
    "hasCost": _set("cv:hasCost"),
    "hasChannel": _set("cv:hasChannel"),
    "hasLegalResource": _set("cv:hasLegalResource"),
    "follows": _set("cpsv:follows"),
    "implements": _set("cpsv:implements"),
    "isGroupedBy": _set("cv:isGroupedBy"),
    "processingTime": {"@id": "cv:processingTime", "@type": "xsd:duration"},
    "hasValue": {"@id": "cv:hasValue", "@type": "xsd:double"},
    "currency": _ref("cv:currency"),
    "number": "eli:number",
    "idLocal": "eli:id_local",
    "citation": {"@id": "dct:bibliographicCitation", "@language": "el"},
    "date": {"@id": "dct:date", "@type": "xsd:gYear"},
}


def _texts(text: Text | None) -> dict[str, str] | None:
    return text.tagged() or None if text is not None else None


def _node(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v not in (None, [], {})}


def _org(org: Org) -> dict[str, Any]:
    return _node(**{"@id": ORGANISATION + org.id if org.id else None, "@type": "PublicOrganisation"},
                 identifier=org.id, prefLabel=_texts(org.name))  # fmt: skip


def _cost(url: str, c: Cost) -> dict[str, Any]:
    fixed = c.min if c.max is None or c.max == c.min else c.max if c.min is None else None
    description: dict[str, list[str]] = {k: [v] for k, v in (c.description.tagged() if c.description else {}).items()}
    if fixed is None and c.min is not None and c.max is not None:  # a range: CPSV-AP's Cost has one value
        description.setdefault("en", []).append(f"from {c.min:.2f} to {c.max:.2f} EUR")
        description.setdefault("el", []).append(f"από {c.min:.2f} έως {c.max:.2f} EUR")
    return _node(**{"@id": f"{url}#{c.id}", "@type": "Cost"}, kind=_texts(c.type), description=description,
                 hasValue=fixed, currency=EUR)  # fmt: skip


def _channel(url: str, c: Channel) -> dict[str, Any]:
    p = c.place
    address = None
    if p is not None:
        address = _node(**{"@type": "Address"}, fullAddress=p.address, postCode=p.postal_code, postName=p.municipality,
                        geometry=f"POINT({p.longitude} {p.latitude})")  # fmt: skip
    return _node(**{"@id": f"{url}#{c.id}", "@type": "Channel"}, channelType=CHANNEL + c.kind.value,
                 description=c.name.tagged(), page=c.url, address=address)  # fmt: skip


def _legal(url: str, r: Rule) -> dict[str, Any]:
    number = "/".join(p for p in (r.number, r.year) if p)
    title = " ".join(p for p in (r.type.el if r.type else None, number) if p)
    return _node(
        **{"@id": f"{url}#{r.id}", "@type": "LegalResource"},
        title={"el": title} if title else None,
        description={"el": r.description} if r.description else None,
        kind=_texts(r.type),
        number=r.number,
        date=r.year if r.year and r.year.isdigit() else None,
        citation=r.gazette,
        idLocal=r.ada,
        page=r.url,
    )


def _rule(url: str, r: Rule) -> dict[str, Any]:
    article = f"Άρθρο {r.article}" if r.article else None
    return _node(**{"@id": f"{url}#rule-{r.id}", "@type": "Rule"}, title={"el": article} if article else None,
                 implements=[f"{url}#{r.id}"])  # fmt: skip


def document(s: Service, url: str) -> dict[str, Any]:
    """The JSON-LD document of a service published at `url`."""
    languages = [LANGUAGE + _LANGUAGES[t.el] for t in s.languages if t.el in _LANGUAGES]
    return {
        "@context": CONTEXT,
        **_node(
            **{"@id": url, "@type": "PublicService"},
            identifier=s.mitos_id,
            title=s.title.tagged(),
            alternative=list(s.alternative_titles),
            description=_texts(s.description),
            language=languages,
            audience=_merge(s.audience),
            modified=s.updated_at.isoformat() if s.updated_at else None,
            hasCompetentAuthority=[_org(o) for o in s.authorities],
            ownedBy=[_org(s.owner)] if s.owner else [],
            holdsRequirement=[
                _node(
                    **{"@id": f"{url}#{r.id}", "@type": "Requirement"},
                    identifier=r.id,
                    title=r.name.tagged(),
                    kind=_texts(r.type),
                    page=r.url,
                )
                for r in s.requirements
            ],
            hasInput=[
                _node(
                    **{"@id": f"{url}#{e.id}", "@type": "Evidence"},
                    identifier=e.id,
                    title=e.name.tagged(),
                    description=_texts(e.description),
                    page=e.url,
                )
                for e in s.evidence
            ],
            produces=[
                _node(**{"@id": f"{url}#{o.id}", "@type": "Output"}, title=o.name.tagged(), kind=o.name.tagged())
                for o in s.outputs
            ],
            hasCost=[_cost(url, c) for c in s.costs],
            hasChannel=[_channel(url, c) for c in s.channels],
            hasLegalResource=[_legal(url, r) for r in s.rules],
            follows=[_rule(url, r) for r in s.rules],
            isGroupedBy=[
                _node(**{"@id": f"{url}#event-{i}", "@type": _EVENT[e.kind]}, title=e.name.tagged())
                for i, e in enumerate(s.events, 1)
            ],
            processingTime=s.processing_time,
        ),
    }


_EVENT = {m.EventKind.LIFE: "LifeEvent", m.EventKind.BUSINESS: "BusinessEvent"}


def _merge(texts: tuple[Text, ...]) -> dict[str, list[str]] | None:
    """Several texts as one language map (each language a list)."""
    merged: dict[str, list[str]] = {}
    for t in texts:
        for lang, value in t.tagged().items():
            merged.setdefault(lang, []).append(value)
    return merged or None

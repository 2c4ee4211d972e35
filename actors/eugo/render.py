"""A public service in one language: the plain JSON answers of the EUGO catalogue."""

from __future__ import annotations

from actors.eugo.cpsv import Channel, Org, Service, Text
from messages import eugo as m


def _text(text: Text | None, lang: m.Lang) -> str | None:
    return text.pick(lang) if text is not None else None


def _org(org: Org | None, lang: m.Lang) -> m.Organisation | None:
    return m.Organisation(id=org.id, name=_text(org.name, lang)) if org is not None else None


def _channel(c: Channel, lang: m.Lang) -> m.Channel:
    p = c.place
    if p is None:
        return m.Channel(id=c.id, kind=c.kind, name=c.name.pick(lang), url=c.url)
    return m.Channel(id=c.id, kind=c.kind, name=c.name.pick(lang), url=c.url, service_point_id=p.id,
                     address=p.address, postal_code=p.postal_code, municipality=p.municipality, latitude=p.latitude,
                     longitude=p.longitude)  # fmt: skip


def summary(s: Service, lang: m.Lang, url: str) -> m.EugoProcedureSummary:
    return m.EugoProcedureSummary(
        id=s.id,
        mitos_id=s.mitos_id,
        title=s.title.pick(lang),
        competent_authority=_org(s.authorities[0], lang) if s.authorities else None,
        cost_min=s.cost_min,
        cost_max=s.cost_max,
        processing_days=s.processing_days,
        url=url,
    )


def procedure(s: Service, lang: m.Lang, url: str) -> m.EugoProcedure:
    return m.EugoProcedure(
        id=s.id,
        mitos_id=s.mitos_id,
        lang=lang,
        title=s.title.pick(lang),
        alternative_titles=list(s.alternative_titles),
        description=_text(s.description, lang),
        languages=[t.pick(lang) for t in s.languages],
        audience=[a.pick(lang) for a in s.audience],
        competent_authorities=[o for o in (_org(a, lang) for a in s.authorities) if o is not None],
        owner=_org(s.owner, lang),
        requirements=[
            m.Requirement(
                id=r.id, name=r.name.pick(lang), type=_text(r.type, lang), alternative=r.alternative, url=r.url
            )
            for r in s.requirements
        ],
        evidence=[
            m.Evidence(
                id=e.id,
                name=e.name.pick(lang),
                description=_text(e.description, lang),
                note=e.note,
                submission=[t.pick(lang) for t in e.submission],
                alternative=e.alternative,
                url=e.url,
            )
            for e in s.evidence
        ],
        costs=[
            m.Cost(id=c.id, type=_text(c.type, lang), description=_text(c.description, lang), min=c.min, max=c.max)
            for c in s.costs
        ],
        cost_min=s.cost_min,
        cost_max=s.cost_max,
        outputs=[
            m.Output(id=o.id, name=o.name.pick(lang), registries=[r.pick(lang) for r in o.registries])
            for o in s.outputs
        ],
        channels=[_channel(c, lang) for c in s.channels],
        legal_basis=[
            m.LegalResource(
                id=r.id,
                type=_text(r.type, lang),
                number=r.number,
                year=r.year,
                article=r.article,
                description=r.description,
                gazette=r.gazette,
                ada=r.ada,
                url=r.url,
            )
            for r in s.rules
        ],
        events=[m.Event(kind=e.kind, name=e.name.pick(lang)) for e in s.events],
        processing_time=s.processing_time,
        processing_days=s.processing_days,
        deadline_days=s.deadline_days,
        validity_days=s.validity_days,
        updated_at=s.updated_at,
        url=url,
        jsonld_url=f"{url}.jsonld",
    )

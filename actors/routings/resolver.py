"""The competent office for a procedure, a citizen's municipality or region and a channel: the most specific
active rule with an active office wins (municipality+channel > municipality > region+channel > region > channel >
the procedure's default), and the answer says which rule and why the others lost.

A municipality is known by its region (Ηρακλείου is in Αττική and in Κρήτη): with no region given, the region is
taken from the procedure's rules for that municipality when they name one region, and left unknown when they
name several (then neither municipality nor region rules apply)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg
from pydantic import TypeAdapter, ValidationError

from infra.db import Conn
from messages.cases import Channel
from messages.errors import InvalidInput
from messages.routings import Candidate, Key, NoCompetentOffice, Outcome, Region, Resolution, fold

_REGION: TypeAdapter[str] = TypeAdapter(Region)
_RULES = """
    SELECT r.id, r.office_id, o.code AS office_code, o.active AS office_active, r.region, r.municipality,
           r.municipality_key, r.channel, r.specificity, r.active
    FROM routings r JOIN offices o ON o.id = r.office_id
    WHERE r.procedure_id = $1 AND (r.municipality_key IS NULL OR r.municipality_key = translate(kep_fold($2), 'ς', 'σ'))
    ORDER BY r.specificity DESC, r.active DESC, r.created_at, r.id"""


@dataclass(frozen=True)
class _Asked:
    municipality: str | None
    region: str | None
    channel: str | None


def _checked(region: str | None, channel: str | None) -> tuple[str | None, str | None]:
    """The region in its stored spelling and a known channel, else 422 with the pointer of the query key."""
    if region is not None:
        try:
            region = _REGION.validate_python(region)
        except ValidationError:
            raise InvalidInput.at("/region", f"{region!r} is not one of the 13 regions", "unknown_region") from None
    if channel is not None and channel not in Channel.__members__.values():
        raise InvalidInput.at("/channel", f"{channel!r} is not a channel", "unknown_channel")
    return region, channel


def _region_of(rules: list[asyncpg.Record], municipality: str | None) -> str | None:
    """The one region of the active rules for the municipality; none, or several: unknown."""
    if municipality is None:
        return None
    regions = {r["region"] for r in rules if r["municipality_key"] is not None and r["active"]}
    return regions.pop() if len(regions) == 1 else None


def _place(r: asyncpg.Record) -> str:
    parts = [f"municipality {r['municipality']}"] if r["municipality"] else []
    parts += [f"region {r['region']}"] if r["region"] else []
    parts += [f"channel {r['channel']}"] if r["channel"] else []
    return ", ".join(parts) or "the default"


def _fails(r: asyncpg.Record, asked: _Asked) -> tuple[Outcome, str] | None:
    """Why the rule does not apply to what was asked, or None where it does."""
    if r["region"] is not None and r["region"] != asked.region:
        if asked.region is None:
            return "no_region", f"for {r['region']}; the region is not known"
        if r["municipality"] is None:
            return "other_region", f"for {r['region']}, not {asked.region}"
        return "other_region", f"for {r['municipality']} in {r['region']}, not in {asked.region}"
    if r["channel"] is not None and r["channel"] != asked.channel:
        return "other_channel", f"for channel {r['channel']}, not {asked.channel or 'an unknown channel'}"
    if not r["active"]:
        return "inactive_rule", "the rule is inactive"
    if not r["office_active"]:
        return "inactive_office", f"its office {r['office_code']} is inactive"
    return None


def _shown(r: asyncpg.Record, asked: _Asked) -> bool:
    """Rules of other regions are not listed (a procedure may have one per region); a municipality's namesake in
    another region is."""
    return r["region"] is None or r["municipality"] is not None or asked.region is None or r["region"] == asked.region


async def resolve(
    conn: Conn, *, procedure_id: uuid.UUID, municipality: str | None, region: str | None, channel: str | None
) -> Resolution:
    """The competent office and the rule that named it; an unknown procedure, region or channel is InvalidInput
    (422 at /procedure_id, /region, /channel); no rule at all is NoCompetentOffice (409)."""
    region, channel = _checked(region, channel)
    municipality = (municipality or "").strip() or None
    title = await conn.fetchval("SELECT title_el FROM procedures WHERE id = $1", procedure_id)
    if title is None:
        raise InvalidInput.at("/procedure_id", f"no procedure {procedure_id}", "unknown_procedure")
    rules = await conn.fetch(_RULES, procedure_id, municipality and fold(municipality))
    asked = _Asked(municipality, region or _region_of(rules, municipality), channel)
    considered: list[Candidate] = []
    winner: asyncpg.Record | None = None
    for r in rules:
        if not _shown(r, asked):
            continue
        failed = _fails(r, asked)
        if failed is None:
            failed = ("less_specific", f"less specific than rule {winner['id']}") if winner else None
            winner = winner or r
        outcome, why = failed or ("matched", "the most specific rule that applies")
        considered.append(
            Candidate(
                rule_id=r["id"],
                office_id=r["office_id"],
                office_code=r["office_code"],
                region=r["region"],
                municipality=r["municipality"],
                channel=r["channel"],
                specificity=r["specificity"],
                outcome=outcome,
                why=why,
            )
        )
    place = ", ".join(
        f"{k} {v}" for k, v in (("municipality", municipality), ("region", asked.region), ("channel", channel)) if v
    )
    if winner is None:
        raise NoCompetentOffice(
            f"no active rule names an active office for procedure «{title}» ({place or 'no place or channel given'})"
            f" and it has no default: {len(considered)} rules looked at",
            procedure_id=str(procedure_id),
            considered=[c.model_dump(mode="json") for c in considered],
        )
    matched: list[Key] = [k for k in ("municipality", "region", "channel") if winner[k] is not None]
    inferred = f" (region {asked.region} from the municipality's rules)" if region is None and asked.region else ""
    how = "the procedure's default" if not matched else "the most specific match"
    explanation = (
        f"rule {winner['id']} for procedure «{title}», {_place(winner)}, routes to {winner['office_code']}: {how}"
        f" for {place or 'no place or channel given'}{inferred}; {len(considered)} rules looked at"
    )
    return Resolution(
        procedure_id=procedure_id,
        office_id=winner["office_id"],
        office_code=winner["office_code"],
        rule_id=winner["id"],
        matched=matched,
        region=asked.region,
        explanation=explanation,
        considered=considered,
    )

"""The resolver on the real database against a plain-Python oracle, over generated rule sets and every question
about them: the most specific active rule with an active office wins (municipality+channel > municipality >
region+channel > region > channel > default); municipalities compared folded and known by their region (a
namesake in two regions leaves the region unknown unless it is given)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.routings.store import resolve
from messages.errors import InvalidInput
from messages.routings import NoCompetentOffice, RouteQuery, fold
from tests.conftest import OfficeFactory

Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"
State = Literal["active", "inactive_rule", "inactive_office"]
ATTICA, CRETE = "Αττική", "Κρήτη"
# (municipality, region): Ηρακλείου is a municipality of Αττική and one of Κρήτη
PLACES = (("Αθηναίων", ATTICA), ("Ηρακλείου", ATTICA), ("Ηρακλείου", CRETE))
CHANNELS = (None, "counter", "eugo")
SLOTS: tuple[tuple[str | None, str | None, str | None], ...] = (
    *((m, r, c) for m, r in PLACES for c in CHANNELS),
    *((None, r, c) for r in (ATTICA, CRETE) for c in CHANNELS),
    *((None, None, c) for c in CHANNELS),
)
# asked the way people write: upper case, no accents, an English region name
MUNICIPALITIES = (None, "ΑΘΗΝΑΙΩΝ", "ηρακλειου", "Πατρέων")
REGIONS = (None, "Attica", CRETE)
ASKED_CHANNELS = (None, "counter", "eugo", "phone")


@dataclass(frozen=True)
class Rule:
    id: uuid.UUID
    municipality: str | None
    region: str | None
    channel: str | None
    state: State

    @property
    def specificity(self) -> int:
        return (4 if self.municipality else 2 if self.region else 0) + (1 if self.channel else 0)


def oracle(rules: list[Rule], municipality: str | None, region: str | None, channel: str | None) -> Rule | None:
    """The rule that should win, said as plainly as possible."""
    region = {"Attica": ATTICA}.get(region or "", region)
    if region is None and municipality is not None:
        named = {r.region for r in rules if r.municipality and fold(r.municipality) == fold(municipality)
                 and r.state != "inactive_rule"}  # fmt: skip
        region = named.pop() if len(named) == 1 else None
    applicable = [
        r
        for r in rules
        if r.state == "active"
        and (r.municipality is None or (municipality is not None and fold(r.municipality) == fold(municipality)))
        and (r.region is None or r.region == region)
        and (r.channel is None or r.channel == channel)
    ]
    return max(applicable, key=lambda r: r.specificity, default=None)


rule_sets = st.dictionaries(
    st.sampled_from(SLOTS), st.sampled_from(("active", "active", "inactive_rule", "inactive_office")), max_size=12
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(slots=rule_sets)
async def test_the_most_specific_applicable_rule_wins(
    slots: dict[tuple[str | None, str | None, str | None], State],
    pool: Pool,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
) -> None:
    # given: a procedure with a rule in some of the slots, each active, inactive or of an inactive office
    procedure = await make_procedure()
    office, closed = await make_office(), await make_office()
    await pool.execute("UPDATE offices SET active = false WHERE id = $1", closed)
    rules = [Rule(uuid.uuid4(), m, r, c, state) for (m, r, c), state in slots.items()]
    await pool.executemany(
        """INSERT INTO routings (id, procedure_id, office_id, municipality, region, channel, active)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        [
            (
                r.id,
                procedure,
                closed if r.state == "inactive_office" else office,
                r.municipality,
                r.region,
                r.channel,
                r.state != "inactive_rule",
            )
            for r in rules
        ],
    )
    async with pool.acquire() as conn:
        for municipality in MUNICIPALITIES:
            for region in REGIONS:
                for channel in ASKED_CHANNELS:
                    # when: every question about it
                    expected = oracle(rules, municipality, region, channel)
                    asked = {"municipality": municipality, "region": region, "channel": channel}
                    if expected is None:
                        with pytest.raises(NoCompetentOffice):
                            await resolve(conn, procedure_id=procedure, **asked)
                        continue
                    got = await resolve(conn, procedure_id=procedure, **asked)
                    # then: the oracle's rule, with the keys it matched, and it alone matched among those looked at
                    assert got.rule_id == expected.id, (asked, slots, got.explanation)
                    assert got.office_id == office
                    keys = [k for k in ("municipality", "region", "channel") if getattr(expected, k) is not None]
                    assert got.matched == keys
                    assert [c.rule_id for c in got.considered if c.outcome == "matched"] == [expected.id]
                    assert str(expected.id) in got.explanation


async def test_explanation_says_why_each_rule_lost(
    pool: Pool, make_office: OfficeFactory, make_procedure: Callable[..., Any]
) -> None:
    procedure, office, other = await make_procedure(), await make_office(), await make_office()
    ids = {name: uuid.uuid4() for name in ("default", "attica", "athens_eugo", "athens_phone", "crete")}
    rows = [
        (ids["default"], other, None, None, None),
        (ids["attica"], other, None, ATTICA, None),
        (ids["athens_eugo"], office, "Αθηναίων", ATTICA, "eugo"),
        (ids["athens_phone"], other, "Αθηναίων", ATTICA, "phone"),
        (ids["crete"], other, None, CRETE, None),
    ]
    await pool.executemany(
        "INSERT INTO routings (id, procedure_id, office_id, municipality, region, channel) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        [(i, procedure, o, m, r, c) for i, o, m, r, c in rows],
    )
    async with pool.acquire() as conn:
        got = await resolve(conn, procedure_id=procedure, municipality="αθηναιων", region=None, channel="eugo")
    assert (got.rule_id, got.office_id, got.matched, got.region) == (
        ids["athens_eugo"],
        office,
        ["municipality", "region", "channel"],
        ATTICA,
    )
    assert "municipality Αθηναίων, region Αττική, channel eugo" in got.explanation
    assert "region Αττική from the municipality's rules" in got.explanation
    outcomes = {c.rule_id: c.outcome for c in got.considered}
    # the rule of another region is not listed
    assert outcomes == {
        ids["athens_eugo"]: "matched",
        ids["athens_phone"]: "other_channel",
        ids["attica"]: "less_specific",
        ids["default"]: "less_specific",
    }


async def test_bad_questions_are_invalid_input(pool: Pool, make_procedure: Callable[..., Any]) -> None:
    procedure = await make_procedure()
    async with pool.acquire() as conn:
        for asked, pointer in (
            ({"procedure_id": uuid.uuid4()}, "/procedure_id"),
            ({"procedure_id": procedure, "region": "Βαυαρία"}, "/region"),
            ({"procedure_id": procedure, "channel": "fax"}, "/channel"),
        ):
            with pytest.raises(InvalidInput) as refused:
                await resolve(conn, **{"municipality": None, "region": None, "channel": None, **asked})
            assert refused.value.errors[0].path == pointer
        with pytest.raises(NoCompetentOffice) as none:
            await resolve(conn, procedure_id=procedure, municipality=None, region=None, channel=None)
        assert none.value.status == 409


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("Αττική", ATTICA),
        ("ΑΤΤΙΚΗ", ATTICA),
        ("Περιφέρεια Αττικής", ATTICA),
        ("attica", ATTICA),
        ("  κρητη ", CRETE),
        ("Ανατολικής Μακεδονίας και Θράκης", "Ανατολική Μακεδονία και Θράκη"),
        ("Region of Ionian Islands", "Ιόνια Νησιά"),
    ],
)
def test_regions_are_known_however_written(written: str, stored: str) -> None:
    assert RouteQuery.model_validate({"procedure_id": uuid.uuid4(), "region": written}).region == stored

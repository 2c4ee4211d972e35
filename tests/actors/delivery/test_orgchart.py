"""ΚΣΗΔΕ's org chart in PostgreSQL: synced from the stack's double and searched the way administrators type (no
accents, capitals, English, codes); the same chart again changes nothing; a unit that leaves the chart is kept,
inactive, and refused as a recipient; a chart that lost most units, or a ΚΣΗΔΕ that does not answer, applies
nothing. The charts that change are served by an in-process double whose chart the test holds."""

from __future__ import annotations

import copy
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest

from actors.delivery import orgchart
from actors.delivery.adapters import RemoteUnavailable
from actors.delivery.configured import configured
from actors.delivery.kshde import Kshde, KshdeOptions
from doubles import serving
from doubles.faults import Fault
from doubles.kshde import server
from doubles.kshde.server import CLIENTS, KshdeApp
from infra.settings import Settings
from messages.errors import InvalidInput, NotFound

Chart = dict[str, Any]


@pytest.fixture(scope="module")
def chart() -> Chart:
    """The chart the in-process double serves: the test changes it in place between syncs."""
    return copy.deepcopy(server.org_chart())


@pytest.fixture(scope="module")
def served(chart: Chart) -> Iterator[tuple[KshdeApp, str]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(server, "org_chart", lambda: chart)  # create_app serves the chart object it is given
        app = server.create_app()
    with serving.serve_in_thread(app, "kshde-orgchart") as base:
        yield app, base + "/api/v1"


@pytest.fixture
async def kshde(served: tuple[KshdeApp, str]) -> AsyncIterator[Kshde]:
    served[0].faults.clear()
    client_id, secret = CLIENTS["KEP-ATH"]
    adapter = Kshde(KshdeOptions(url=served[1], sector_code="KEP-ATH", client_id=client_id, client_secret=secret,
                                 timeout_s=2.0, attempts=1))  # fmt: skip
    yield adapter
    await adapter.close()
    served[0].faults.clear()


def node(code: str, name: str, english: str | None = None, *, sddd: bool = True, active: bool = True,
         departments: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:  # fmt: skip
    return {"Code": code, "Name": name, "NameEnglish": english, "IsActive": active, "IsSDDDNode": sddd,
            "Departments": [{"Code": c, "Name": n} for c, n in departments], "ChildNodes": []}  # fmt: skip


def publish(chart: Chart, *extra: dict[str, Any]) -> int:
    """The stack double's chart with `extra` units under its root, as a new version (so a sync applies it)."""
    fresh = server.org_chart()
    fresh["RootNode"]["ChildNodes"].extend(extra)
    fresh["Version"] = random.randrange(10**6, 2 * 10**9)
    chart.clear()
    chart.update(fresh)
    return int(fresh["Version"])


async def codes(pool: asyncpg.Pool, q: str, **options: Any) -> list[str]:
    async with pool.acquire() as conn:
        return [u.code for u in await orgchart.search(conn, q, **options)]


async def test_the_chart_is_searched_without_accents_or_case_by_either_name_or_code(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    adapters = configured(settings, pool.acquire)
    assert adapters.kshde is not None
    try:
        first = await orgchart.sync(pool.acquire, adapters.kshde)
        assert (first.version, first.units) == (1, 4)

        assert await codes(pool, "δημοσ αθηναιων") == ["DHM-ATH"]
        assert await codes(pool, "ΔΗΜΟΣ ΑΘΗΝΑΙΩΝ") == ["DHM-ATH"]
        assert await codes(pool, "αθηναίων δήμος") == ["DHM-ATH"]  # words in any order
        assert await codes(pool, "ΥΠΟΥΡΓΕΙΟ εσωτερικων") == ["MIN-INT"]
        assert await codes(pool, "Ministry of the INTERIOR") == ["MIN-INT"]
        assert await codes(pool, "kep-ath") == ["KEP-ATH"]
        assert await codes(pool, "100%") == []  # LIKE's wildcards are plain characters
        # the root receives nothing: a recipient search leaves it out unless asked
        assert await codes(pool, "ελληνικο δημοσιο") == []
        assert await codes(pool, "ελληνικο δημοσιο", only_sddd=False) == ["GR"]

        # by name, a page at a time after the last code seen
        assert await codes(pool, "αθην") == ["DHM-ATH", "KEP-ATH"]  # «Δήμος…» before «ΚΕΠ…»
        assert await codes(pool, "αθην", limit=1) == ["DHM-ATH"]
        assert await codes(pool, "αθην", after="DHM-ATH") == ["KEP-ATH"]
        with pytest.raises(InvalidInput) as refused:
            await codes(pool, "αθην", after="NO-SUCH-UNIT")
        assert refused.value.errors[0].path == "/after"

        async with pool.acquire() as conn:
            municipality = await orgchart.get(conn, "DHM-ATH")
            assert (municipality.name, municipality.name_en, municipality.parent_code) == (
                "Δήμος Αθηναίων", "Municipality of Athens", "GR")  # fmt: skip
            assert [(d.code, d.name) for d in municipality.departments] == [("DHM-ATH-LX", "Ληξιαρχείο")]
            assert (await orgchart.require_recipient(conn, "DHM-ATH")).code == "DHM-ATH"
            with pytest.raises(NotFound):
                await orgchart.get(conn, "NO-SUCH-UNIT")
            rows_before = [dict(r) for r in await conn.fetch("SELECT * FROM kshde_units ORDER BY code")]

        # the same chart again: nothing written
        again = await orgchart.sync(pool.acquire, adapters.kshde)
        assert (again.applied, again.version, again.previous_version) == (False, 1, 1)
        assert (again.added, again.changed, again.removed) == (0, 0, 0)
        async with pool.acquire() as conn:
            assert [dict(r) for r in await conn.fetch("SELECT * FROM kshde_units ORDER BY code")] == rows_before
    finally:
        await adapters.close()


async def test_a_unit_that_leaves_the_chart_is_kept_inactive_and_refused_as_a_recipient(
    pool: asyncpg.Pool, kshde: Kshde, chart: Chart
) -> None:
    tag = uuid.uuid4().hex[:8].upper()
    office, root_only = f"T-{tag}-OFFICE", f"T-{tag}-GROUP"
    units = (node(office, f"Γραφείο Δοκιμής {tag}", f"Test Office {tag}", departments=((f"{office}-1", "Πρωτόκολλο"),)),
             node(root_only, f"Ομάδα Δοκιμής {tag}", sddd=False))  # fmt: skip
    version = publish(chart, *units)
    report = await orgchart.sync(pool.acquire, kshde)
    assert (report.applied, report.version, report.units, report.added) == (True, version, 6, 2)
    assert await codes(pool, f"γραφειο δοκιμησ {tag}") == [office]
    async with pool.acquire() as conn:
        assert (await orgchart.require_recipient(conn, office)).departments[0].name == "Πρωτόκολλο"
        with pytest.raises(InvalidInput) as refused:
            await orgchart.require_recipient(conn, root_only, pointer="/delivery/kshde_recipient")
        assert (refused.value.errors[0].path, refused.value.errors[0].type) == (
            "/delivery/kshde_recipient", "kshde_not_sddd")  # fmt: skip
        with pytest.raises(InvalidInput) as refused:
            await orgchart.require_recipient(conn, f"T-{tag}-NOWHERE")
        assert (refused.value.errors[0].path, refused.value.errors[0].type) == ("/kshde_recipient", "kshde_unknown")

    # the office leaves the chart; the group is renamed
    renamed = node(root_only, f"Ομάδα Εργασίας {tag}", sddd=False)
    later = publish(chart, renamed)
    report = await orgchart.sync(pool.acquire, kshde)
    assert (report.version, report.previous_version, report.units) == (later, version, 5)
    assert (report.added, report.changed, report.removed) == (0, 1, 1)
    async with pool.acquire() as conn:
        gone = await orgchart.get(conn, office)  # still there: a recipient chosen yesterday resolves
        assert (gone.is_active, gone.chart_version, gone.removed_at is not None) == (False, version, True)
        with pytest.raises(InvalidInput) as refused:
            await orgchart.require_recipient(conn, office)
        assert refused.value.errors[0].type == "kshde_inactive"
        assert (await orgchart.get(conn, root_only)).name == f"Ομάδα Εργασίας {tag}"
    assert await codes(pool, f"δοκιμησ {tag}") == []
    assert await codes(pool, f"δοκιμησ {tag}", include_inactive=True) == [office]

    # back in the chart: active again
    publish(chart, *units)
    report = await orgchart.sync(pool.acquire, kshde)
    assert (report.added, report.changed, report.removed) == (0, 2, 0)
    async with pool.acquire() as conn:
        back = await orgchart.require_recipient(conn, office)
        assert (back.is_active, back.removed_at) == (True, None)


async def test_a_chart_that_lost_most_units_or_no_answer_applies_nothing(
    pool: asyncpg.Pool, kshde: Kshde, chart: Chart, served: tuple[KshdeApp, str]
) -> None:
    publish(chart)
    await orgchart.sync(pool.acquire, kshde)
    async with pool.acquire() as conn:
        stored = await conn.fetchrow("SELECT version, units, synced_at FROM kshde_sync")

    truncated = publish(chart)
    chart["RootNode"]["ChildNodes"] = []  # only the root: a broken answer, not a reorganisation
    with pytest.raises(orgchart.SuspectChart, match=f"version {truncated} lacks 3 of the 4"):
        await orgchart.sync(pool.acquire, kshde)

    publish(chart)
    served[0].faults.arm(Fault("orgchart", "status", times=-1, status=503))
    with pytest.raises(RemoteUnavailable):
        await orgchart.sync(pool.acquire, kshde)

    async with pool.acquire() as conn:
        assert await conn.fetchrow("SELECT version, units, synced_at FROM kshde_sync") == stored
        assert (await orgchart.require_recipient(conn, "MIN-INT")).is_active

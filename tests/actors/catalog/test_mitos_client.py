"""The async Mitos client against the local double: paging, normalisation, retries, timeouts, bad records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from actors.catalog.errors import (
    MalformedRecord,
    MitosAuthFailed,
    MitosBadResponse,
    MitosError,
    MitosNotFound,
    MitosRejected,
    MitosTimeout,
    MitosUnavailable,
)
from actors.catalog.mitos_client import MitosClient, normalise
from doubles.mitos.generator import MitosDataset, generate
from doubles.mitos.server import MitosApp, create_app, serve_in_thread
from doubles.serving import free_port
from infra.retry import Backoff
from messages.mitos import MitosListItem, duration_days

COUNT = 800
MITOS_COUNT = COUNT
FAST = Backoff(attempts=3, initial_s=0.01, max_s=0.05, jitter_s=0.01)


@pytest.fixture(autouse=True)
def _no_faults(mitos_app: MitosApp) -> Iterator[None]:
    mitos_app.faults.clear()
    yield
    mitos_app.faults.clear()


def client(url: str, **kw: Any) -> MitosClient:
    return MitosClient(url, **{"retry": FAST, "timeout_s": 5.0, **kw})


def _item(mitos_id: int) -> MitosListItem:
    return MitosListItem(id=mitos_id)


def _raw_process(ds: MitosDataset, mitos_id: int) -> dict[str, Any]:
    process: dict[str, Any] = ds.procedures[mitos_id].record["metadata"]["process"]
    return process


# paging and fetching


@pytest.mark.parametrize("limit", [50, 97, 800, 1000])
async def test_list_all_pages_until_total(mitos_url: str, limit: int) -> None:
    async with client(mitos_url) as mitos:
        items = await mitos.list_all(limit=limit)

    assert len({i.id for i in items}) == len(items) == COUNT


async def test_fetch_many_normalises_every_record(mitos_url: str, mitos_app: MitosApp) -> None:
    async with client(mitos_url, concurrency=16) as mitos:
        results = await mitos.fetch_many(await mitos.list_all())

    procedures = {r.procedure.mitos_id: r.procedure for r in results if r.procedure is not None}
    assert [r.error for r in results if r.error is not None] == []
    assert set(procedures) == set(mitos_app.dataset.procedures)
    assert all(p.title_el for p in procedures.values())
    assert any(p.title_en is None for p in procedures.values())
    assert any(p.description_en for p in procedures.values())


async def test_missing_id_in_extended_body_is_carried_over(mitos_url: str, mitos_app: MitosApp) -> None:
    mitos_id = next(p.id for p in mitos_app.dataset.procedures.values() if p.omit_id_in_extended)

    async with client(mitos_url) as mitos:
        procedure = await mitos.fetch_procedure(_item(mitos_id))

    assert procedure.mitos_id == mitos_id
    assert procedure.payload["id"] == mitos_id


# normalisation


@pytest.mark.parametrize(
    ("raw", "days"),
    [
        ("P20D", 20.0),
        (1728000, 20.0),
        ("1728000", 20.0),
        (1728000.0, 20.0),
        ("P2W", 14.0),
        ("PT48H", 2.0),
        ("P1DT12H", 1.5),
        ("p5d", 5.0),
        ("P1M", 30.0),
        (None, None),
        ("", None),
        ("P", None),
        ("20 ημέρες", None),
        (True, None),
        (-5, None),
    ],
)
def test_duration_days_accepts_both_encodings(raw: object, days: float | None) -> None:
    assert duration_days(raw) == days


@pytest.mark.parametrize("encoding", [int, str], ids=["seconds", "iso"])
async def test_both_duration_encodings_in_the_data_set(mitos_url: str, mitos_app: MitosApp, encoding: type) -> None:
    mitos_id = next(
        p.id
        for p in mitos_app.dataset.procedures.values()
        if isinstance(p.record["metadata"]["process"]["estimated_implementation_time"], encoding)
    )
    raw = _raw_process(mitos_app.dataset, mitos_id)["estimated_implementation_time"]
    expected = raw / 86400 if isinstance(raw, int) else float(raw[1:-1]) * (7 if raw.endswith("W") else 1)

    async with client(mitos_url) as mitos:
        procedure = await mitos.fetch_procedure(_item(mitos_id))

    assert procedure.implementation_days == expected


async def test_mykeplive_flag_matches_provision_groups(mitos_url: str, mitos_app: MitosApp) -> None:
    def served(mitos_id: int) -> bool:
        process = _raw_process(mitos_app.dataset, mitos_id)
        groups = process["provision_org_group"] + process["provision_org_group_remote"]
        return "8256" in {str(g) for g in groups}

    async with client(mitos_url, concurrency=16) as mitos:
        results = await mitos.fetch_many(await mitos.list_all(), english=False)

    flags = {r.item.id: r.procedure.is_served_via_mykeplive for r in results if r.procedure}
    assert flags == {i: served(i) for i in flags}
    assert any(flags.values())
    assert not all(flags.values())
    assert flags[144400] is True


async def test_raw_extended_record_is_marked_as_pyemdd_does(mitos_url: str) -> None:
    async with client(mitos_url) as mitos:
        data = await mitos.get_extended_process(144400)

    assert data["metadata"]["process"]["is_served_via_mykeplive"] is True


def _payload(**process: Any) -> dict[str, Any]:
    return {"id": 100001, "title": {"el": "Έκδοση πιστοποιητικού", "en": None}, "metadata": {"process": process}}


@pytest.mark.parametrize(
    ("process", "eugo", "mykeplive"),
    [
        ({"source": "EU-GO, SDG"}, True, False),
        ({"source": "EUGO"}, True, False),
        ({"border_provision": "Cross-border"}, True, False),
        ({"source": "ΕΜΔΔ", "border_provision": None}, False, False),
        ({}, False, False),
        ({"provision_org_group": ["8256"]}, False, True),
        ({"provision_org_group": [8256]}, False, True),
        ({"provision_org_group": [{"id": "8256"}]}, False, True),
        ({"provision_org_group": [{"id": "1", "title": {"el": "myKEPlive"}}]}, False, True),
        ({"provision_org_group": [3777], "provision_org_group_remote": ["8256"]}, False, True),
        ({"provision_org_group": [3777, "4272"]}, False, False),
    ],
)
def test_eugo_and_mykeplive_flags(process: dict[str, Any], eugo: bool, mykeplive: bool) -> None:
    procedure = normalise(_payload(**process))

    assert (procedure.is_eugo, procedure.is_served_via_mykeplive) == (eugo, mykeplive)


def test_normalise_extracts_the_catalogue_columns() -> None:
    payload = _payload(
        id="100001",
        official_title="Έκδοση πιστοποιητικού",
        org_owner={"id": 23371, "title": {"el": "Υπουργείο", "en": "Ministry"}},
        life_events=["Οικογένεια"],
        cost_min=0,
        cost_max="10.5",
        deadline_duration="P30D",
        validity_duration=31536000,
    )
    payload["last_updated"] = "2026-03-01T10:00:00.000Z"

    procedure = normalise(payload, {**payload, "title": {"el": "x", "en": "Certificate"}})

    assert procedure.mitos_id == 100001
    assert (procedure.title_el, procedure.title_en) == ("Έκδοση πιστοποιητικού", "Certificate")
    assert procedure.owner_org_id == "23371"
    assert procedure.owner_org_title is not None
    assert procedure.owner_org_title.en == "Ministry"
    assert procedure.categories == ["Οικογένεια"]
    assert (procedure.cost_min, procedure.cost_max) == (0, 10.5)
    assert (procedure.deadline_days, procedure.validity_days, procedure.implementation_days) == (30, 365, None)
    assert procedure.last_updated is not None
    assert procedure.last_updated.year == 2026


@pytest.mark.parametrize(
    "payload",
    [
        {"id": 1, "title": "not-an-object", "metadata": {"process": {}}},
        {"id": 1, "title": {"el": "Τίτλος"}, "metadata": "not-an-object"},
        {"id": 1, "title": {"el": "Τίτλος"}, "metadata": {}},
        {"id": 1, "title": {"el": None}, "metadata": {"process": {"official_title": None}}},
        {"title": {"el": "Τίτλος"}, "metadata": {"process": {}}},
        {"id": 1, "title": {"el": "Τίτλος"}, "metadata": {"process": {"life_events": "not-a-list"}}},
    ],
)
def test_normalise_rejects_malformed_records(payload: dict[str, Any]) -> None:
    with pytest.raises(MalformedRecord) as caught:
        normalise(payload)

    assert caught.value.retryable is False


# failures


async def test_malformed_record_fails_alone(mitos_url: str, mitos_app: MitosApp) -> None:
    items = (await _list(mitos_url))[:20]
    bad = items[3].id
    mitos_app.faults.malformed(bad)

    async with client(mitos_url) as mitos:
        results = await mitos.fetch_many(items)
        with pytest.raises(MalformedRecord) as caught:
            await mitos.fetch_procedure(items[3])

    errors = {r.item.id: r.error for r in results if r.error is not None}
    assert list(errors) == [bad]
    assert isinstance(errors[bad], MalformedRecord)
    assert caught.value.mitos_id == bad
    assert not caught.value.retryable
    assert sum(r.procedure is not None for r in results) == 19


async def _list(mitos_url: str) -> list[MitosListItem]:
    async with client(mitos_url) as mitos:
        return await mitos.list_all()


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_retries_server_errors_then_succeeds(mitos_url: str, mitos_app: MitosApp, status: int) -> None:
    mitos_app.faults.fail("/v1/services-extended/144400", status=status, times=2)

    async with client(mitos_url) as mitos:
        procedure = await mitos.fetch_procedure(_item(144400), english=False)

    assert procedure.mitos_id == 144400
    assert mitos_app.faults.hits["/v1/services-extended/144400"] == 3


async def test_gives_up_after_the_attempts_with_a_retryable_error(mitos_url: str, mitos_app: MitosApp) -> None:
    mitos_app.faults.fail("/v1/services", status=500, times=10)

    async with client(mitos_url) as mitos:
        with pytest.raises(MitosUnavailable) as caught:
            await mitos.list_all()

    assert caught.value.retryable is True
    assert mitos_app.faults.hits["/v1/services"] == FAST.attempts


@pytest.mark.parametrize(
    ("path", "call", "error"),
    [
        ("/v1/services-extended/1", lambda m: m.get_extended_process(1), MitosNotFound),
        ("/v1/services", lambda m: m.list_page(0, 10), MitosRejected),
    ],
)
async def test_client_errors_are_not_retried(
    mitos_url: str, mitos_app: MitosApp, path: str, call: Any, error: type[MitosError]
) -> None:
    async with client(mitos_url) as mitos:
        with pytest.raises(error) as caught:
            await call(mitos)

    assert caught.value.retryable is False
    assert mitos_app.faults.hits[path] == 1


async def test_failed_envelope_is_a_bad_response(mitos_url: str, mitos_app: MitosApp) -> None:
    mitos_app.faults.envelope_false("/v1/services-extended/*")

    async with client(mitos_url) as mitos:
        with pytest.raises(MitosBadResponse) as caught:
            await mitos.get_extended_process(144400)

    assert caught.value.retryable is False


async def test_timeouts_are_retried(mitos_url: str, mitos_app: MitosApp) -> None:
    mitos_app.faults.delay("/v1/services-extended/144400", seconds=1.0, times=1)

    async with client(mitos_url, timeout_s=0.2) as mitos:
        procedure = await mitos.fetch_procedure(_item(144400), english=False)

    assert procedure.mitos_id == 144400
    assert mitos_app.faults.hits["/v1/services-extended/144400"] == 2


async def test_timeouts_give_up_with_a_retryable_error(mitos_url: str, mitos_app: MitosApp) -> None:
    mitos_app.faults.delay("/v1/services-extended/144400", seconds=1.0, times=10)

    async with client(mitos_url, timeout_s=0.2, retry=Backoff(attempts=2, initial_s=0.01, jitter_s=0)) as mitos:
        with pytest.raises(MitosTimeout) as caught:
            await mitos.get_extended_process(144400)

    assert caught.value.retryable is True
    assert mitos_app.faults.hits["/v1/services-extended/144400"] == 2


async def test_unreachable_server_is_retryable() -> None:
    async with client(f"http://127.0.0.1:{free_port()}") as mitos:
        with pytest.raises(MitosUnavailable) as caught:
            await mitos.check_health()

    assert caught.value.retryable is True


async def test_wrong_api_key_is_a_configuration_error() -> None:
    mitos_app = create_app(generate(seed=3, count=300), api_key="right")
    with serve_in_thread(mitos_app) as url:
        async with client(url, api_key="wrong") as mitos:
            with pytest.raises(MitosAuthFailed) as caught:
                await mitos.check_health()
        async with client(url, api_key="right") as mitos:
            await mitos.check_health()

    assert caught.value.retryable is False
    assert mitos_app.faults.hits["/v1/services"] == 2


# the generator behind the double


def _snapshot(ds: MitosDataset) -> str:
    records = {i: (ds.extended(i), ds.extended(i, "en"), ds.flat(i)) for i in sorted(ds.procedures)}
    return json.dumps([ds.list_items(), records], ensure_ascii=False, sort_keys=True)


def test_generator_is_deterministic_for_a_seed() -> None:
    assert _snapshot(generate(seed=7, count=300)) == _snapshot(generate(seed=7, count=300))
    assert _snapshot(generate(seed=7, count=300)) != _snapshot(generate(seed=8, count=300))


@pytest.mark.parametrize("count", [299, 3001])
def test_generator_count_is_bounded(count: int) -> None:
    with pytest.raises(ValueError, match="count"):
        generate(count=count)


def test_generator_covers_the_edge_cases_of_the_sheet() -> None:
    ds = generate(seed=42, count=COUNT)
    records = [p.record for p in ds.procedures.values()]
    processes = [r["metadata"]["process"] for r in records]
    rules = [rule for r in records for rule in r["metadata"]["process_rules"]]
    titles = [r["title"]["el"] for r in records]

    assert {type(p["id"]) for p in processes} == {int, str}
    assert {type(p["estimated_implementation_time"]) for p in processes} == {int, str, type(None)}
    assert any("rule_ada" in r for r in rules)
    assert any("rule_ada" not in r for r in rules)
    assert all(isinstance(r["rule_gazette_doc_number"], int) for r in rules)
    assert any(r["title"]["en"] is None for r in records)
    assert any(r["title"]["en"] for r in records)
    assert any(p["org_owner"] is None for p in processes)
    assert any(r["metadata"]["process_evidences"] == [] for r in records)
    assert any(c["conditions_alternative"] for r in records for c in r["metadata"]["process_conditions"])
    assert any(t.isupper() for t in titles)
    assert any(t.endswith("ς") for t in titles)
    assert any(p["source"] == "EU-GO, SDG" for p in processes)
    assert any(p.omit_id_in_extended for p in ds.procedures.values())


def test_mutations_bump_last_updated() -> None:
    ds = generate(seed=42, count=300)
    newest = max(i["last_updated"] for i in ds.list_items())
    first, second = sorted(ds.procedures)[:2]

    added = ds.add(3)
    ds.change([first])
    ds.remove([second])

    stamps = {i["id"]: i["last_updated"] for i in ds.list_items()}
    assert len(stamps) == 302
    assert second not in stamps
    assert all(stamps[i] > newest for i in [*added, first])

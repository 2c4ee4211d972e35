"""The Mitos double speaks the wire protocol of the sheet: envelope, paging, languages, errors, key, faults."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from doubles.mitos.generator import MYKEPLIVE_GROUP_ID, MitosDataset, generate
from doubles.mitos.server import MitosApp, create_app, serve_in_thread

COUNT = 800
MITOS_COUNT = COUNT
API_KEY = "test-key"


@pytest.fixture
def http(mitos_url: str, mitos_app: MitosApp) -> Iterator[httpx.Client]:
    mitos_app.faults.clear()
    with httpx.Client(base_url=mitos_url, timeout=10) as client:
        yield client
    mitos_app.faults.clear()


def _english_id(ds: MitosDataset) -> int:
    return next(p.id for p in ds.procedures.values() if p.english is not None and p.id not in (144400, 439993))


def test_list_answers_the_envelope(http: httpx.Client) -> None:
    body = http.get("/v1/services", params={"page": 1, "limit": 10}).json()

    assert body["success"] is True
    assert body["total"] == COUNT
    assert (body["current_page"], body["next_page"], body["limit"]) == (1, 2, 10)
    assert set(body["data"][0]) == {"id", "title", "ns", "last_updated"}
    assert set(body["data"][0]["title"]) == {"el", "en"}


@pytest.mark.parametrize(
    ("page", "limit", "size", "next_page"),
    [(1, 100, 100, 2), (8, 100, 100, None), (3, 300, 200, None), (9, 100, 0, None), (1, 1000, COUNT, None)],
)
def test_paging(http: httpx.Client, page: int, limit: int, size: int, next_page: int | None) -> None:
    body = http.get("/v1/services", params={"page": page, "limit": limit}).json()

    assert len(body["data"]) == size
    assert body["next_page"] == next_page
    assert body["total"] == COUNT


def test_pages_cover_every_procedure_once(http: httpx.Client) -> None:
    ids: list[int] = []
    page: int | None = 1
    while page is not None:
        body = http.get("/v1/services", params={"page": page, "limit": 97}).json()
        ids += [item["id"] for item in body["data"]]
        page = body["next_page"]

    assert len(ids) == len(set(ids)) == COUNT


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/v1/services", {"page": 0}, 400),
        ("/v1/services", {"limit": 0}, 400),
        ("/v1/services", {"limit": "many"}, 400),
        ("/v1/services", {"limit": 5000}, 400),
        ("/v1/services/search/filter/passport", {}, 400),
        ("/v1/services/abc", {}, 400),
        ("/v1/services/1", {}, 404),
        ("/v1/services-extended/1", {}, 404),
        ("/v1/services-extended/144400", {"lang": "fr"}, 400),
        ("/v1/organization", {}, 400),
        ("/v1/organization", {"id": "1"}, 404),
        ("/v1/unit", {"id": "1"}, 404),
        ("/v1/registries/evidence/999", {}, 404),
        ("/v1/no-such-endpoint", {}, 404),
    ],
)
def test_errors_answer_an_envelope(http: httpx.Client, path: str, params: dict[str, object], status: int) -> None:
    response = http.get(path, params=params)  # type: ignore[arg-type]

    assert response.status_code == status
    assert response.json()["success"] is False
    assert response.json()["message"]


def test_flat_record_has_ids_and_extended_embeds_objects(http: httpx.Client) -> None:
    flat = http.get("/v1/services/144400").json()["data"]
    extended = http.get("/v1/services-extended/144400").json()["data"]

    assert flat["metadata"]["process"]["org_owner"] == 23371
    assert extended["metadata"]["process"]["org_owner"]["id"] == "23371"
    assert extended["metadata"]["process"]["org_owner"]["title"]["en"] == "Ministry of Citizen Protection"
    assert extended["metadata"]["process"]["provision_org_group"][0]["title"]["el"] == "myKEPlive"
    assert "children" not in extended["metadata"]["process"]["provision_org_group"][0]
    assert "glance" in extended["metadata"]
    assert "glance" not in flat["metadata"]
    assert all(isinstance(ev["evidence_type"], dict) for ev in extended["metadata"]["process_evidences"])


def test_lang_en_switches_free_text(http: httpx.Client, mitos_app: MitosApp) -> None:
    mitos_id = _english_id(mitos_app.dataset)

    el = http.get(f"/v1/services-extended/{mitos_id}").json()["data"]
    en = http.get(f"/v1/services-extended/{mitos_id}", params={"lang": "en"}).json()["data"]

    assert el["title"] == en["title"]
    assert el["metadata"]["process"]["description"].startswith("Η διαδικασία")
    assert en["metadata"]["process"]["description"].startswith("The procedure")


def test_extended_body_sometimes_lacks_the_id(http: httpx.Client, mitos_app: MitosApp) -> None:
    mitos_id = next(p.id for p in mitos_app.dataset.procedures.values() if p.omit_id_in_extended)

    assert "id" not in http.get(f"/v1/services-extended/{mitos_id}").json()["data"]
    assert http.get(f"/v1/services/{mitos_id}").json()["data"]["id"] == mitos_id


@pytest.mark.parametrize(
    ("path", "params", "title_el"),
    [
        ("/v1/organization", {"id": "23371"}, "Υπουργείο Προστασίας του Πολίτη"),
        ("/v1/unit", {"id": "90000"}, None),
        (f"/v1/registries/evidence/taxonomy/provision_org_gro/{MYKEPLIVE_GROUP_ID}", {}, "myKEPlive"),
        ("/v1/registries/evidence/2", {}, "Διαβατήριο"),
        ("/v1/registries/nace/84.11", {}, None),
        ("/v1/registries/sdg/A1", {}, None),
        ("/v1/registry/id/501", {}, "Μητρώο Πολιτών"),
    ],
)
def test_registries(http: httpx.Client, path: str, params: dict[str, str], title_el: str | None) -> None:
    body = http.get(path, params=params).json()

    assert body["success"] is True
    assert {"id", "title"} <= set(body["data"])
    if title_el is not None:
        assert body["data"]["title"]["el"] == title_el


def test_provision_org_group_keeps_children_as_the_api_does(http: httpx.Client) -> None:
    body = http.get(f"/v1/registries/evidence/taxonomy/provision_org_gro/{MYKEPLIVE_GROUP_ID}").json()

    assert body["data"]["children"]


def test_api_key_is_checked_when_configured() -> None:
    mitos_app = create_app(generate(seed=1, count=300), api_key=API_KEY)
    with serve_in_thread(mitos_app) as url, httpx.Client(base_url=url) as http:
        missing = http.get("/v1/services")
        wrong = http.get("/v1/services", headers={"x-api-key": "nope"})
        right = http.get("/v1/services", headers={"x-api-key": API_KEY})

    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert missing.json()["success"] is False


def test_injected_status_faults_pass(http: httpx.Client, mitos_app: MitosApp) -> None:
    mitos_app.faults.fail("/v1/services-extended/*", status=503, times=2)

    codes = [http.get("/v1/services-extended/144400").status_code for _ in range(3)]

    assert codes == [503, 503, 200]
    assert mitos_app.faults.hits["/v1/services-extended/144400"] == 3


def test_injected_faults_through_the_admin_endpoint(http: httpx.Client) -> None:
    http.post("/_admin/faults", json={"kind": "envelope_false", "path": "/v1/services"}).raise_for_status()
    http.post("/_admin/faults", json={"kind": "malformed", "id": 144400}).raise_for_status()

    failed = http.get("/v1/services")
    malformed = http.get("/v1/services-extended/144400").json()["data"]
    http.delete("/_admin/faults").raise_for_status()

    assert (failed.status_code, failed.json()["success"]) == (200, False)
    assert malformed["metadata"] == "not-an-object"
    assert http.get("/v1/services-extended/144400").json()["data"]["metadata"]["process"]


def test_mutations_show_in_the_list() -> None:
    mitos_app = create_app(generate(seed=5, count=300))
    with serve_in_thread(mitos_app) as url, httpx.Client(base_url=url) as http:
        before = {i["id"]: i for i in http.get("/v1/services", params={"limit": 1000}).json()["data"]}
        victim, changed = sorted(before)[:2]
        added = http.post("/_admin/mutate", json={"add": 2, "change": [changed], "remove": [victim]}).json()
        after = {i["id"]: i for i in http.get("/v1/services", params={"limit": 1000}).json()["data"]}

    assert set(after) == set(before) - {victim} | set(added["data"]["added"])
    newest = max(i["last_updated"] for i in before.values())
    assert after[changed]["last_updated"] > newest
    assert after[changed]["title"]["el"] != before[changed]["title"]["el"]


def test_pyemdd_reads_the_double(mitos_url: str) -> None:
    from pyemdd.emdd import EmddClient

    client = EmddClient(api_url=mitos_url)

    extended = client.get_extended_process(144400)
    group = client.get_provision_org_group(MYKEPLIVE_GROUP_ID)
    listing = client.get_process_list(limit=20)

    assert extended["metadata"]["process"]["is_served_via_mykeplive"] is True
    assert "children" not in group
    assert len(listing) == 20
    assert client.get_process(1) is None

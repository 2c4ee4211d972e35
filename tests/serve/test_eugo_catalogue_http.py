"""The public EUGO catalogue over HTTP: no token; only active EUGO procedures; English and Greek; JSON-LD by
`Accept` or `.jsonld`; strong ETags and 304; answers kept per catalogue version until it changes; an anonymous
caller's rate is its address's; limits hold before any work."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest
from limits import parse
from pyld import jsonld as pyld

from actors.catalog.mitos_client import normalise
from doubles.mitos.generator import generate
from infra.settings import Settings
from tests.conftest import OfficeFactory

PATH = "/api/public/eugo/procedures"
CPSV = "http://purl.org/vocab/cpsv#"
CV = "http://data.europa.eu/m8g/"
DATASET = generate(seed=5, count=300)
TEMPLATE = 439993  # hand-written, EUGO, translated, with evidence, costs and rules

Insert = Callable[..., Awaitable[uuid.UUID]]
Pool = asyncpg.Pool  # type: ignore[type-arg]


@pytest.fixture
async def public(settings: Settings, ray_app: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    """An anonymous caller from an address of its own (its own rate window), that waits out a 429."""
    address = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{settings.http_port}", transport=transport, timeout=30
    ) as client:
        yield client


@pytest.fixture
async def insert(pool: Pool) -> Insert:
    """An EUGO procedure made from the Mitos double's record, titled with a word of its own."""

    async def create(word: str, *, eugo: bool = True, active: bool = True, english: bool = True) -> uuid.UUID:
        proc = normalise(DATASET.extended(TEMPLATE), DATASET.extended(TEMPLATE, "en"), mitos_id=TEMPLATE)
        pid, mitos_id = uuid.uuid4(), str(uuid.uuid4().int % 10**12)
        await pool.execute(
            """INSERT INTO procedures (id, mitos_id, title_el, title_en, description_el, description_en, payload,
                                       active, eugo, mykeplive, cost_min, cost_max, mitos_updated_at, content_hash)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)""",
            pid,
            mitos_id,
            f"Έκδοση βεβαίωσης {word}",
            f"Issue of {word} certificate" if english else None,
            proc.description_el,
            proc.description_en if english else None,
            {**proc.payload, "id": int(mitos_id)},
            active,
            eugo,
            proc.is_served_via_mykeplive,
            proc.cost_min,
            proc.cost_max,
            proc.last_updated,
            uuid.uuid4().hex,
        )
        return pid

    return create


def unique() -> str:
    return "ζ" + uuid.uuid4().hex[:8]


async def shows(public: httpx.AsyncClient, path: str, want: int, **params: Any) -> httpx.Response:
    """The answer once the replica has seen the catalogue change (it looks again every couple of seconds)."""
    for _ in range(60):
        resp = await get(public, path, params=params)
        if resp.status_code == want:
            return resp
        await asyncio.sleep(0.5)
    raise AssertionError(f"{path} still answers {resp.status_code}: {resp.text[:300]}")


async def get(client: httpx.AsyncClient, path: str, **kw: Any) -> httpx.Response:
    resp = await client.get(path, **kw)
    while resp.status_code == 429:  # another test of this address's window: wait, as any client would
        await asyncio.sleep(float(resp.headers.get("retry-after", "1")))
        resp = await client.get(path, **kw)
    return resp


async def listed(public: httpx.AsyncClient, q: str, **params: Any) -> dict[str, Any]:
    for _ in range(60):
        resp = await get(public, PATH, params={"q": q, **params})
        assert resp.status_code == 200, resp.text
        if resp.json()["total"]:
            return dict(resp.json())
        await asyncio.sleep(0.5)
    raise AssertionError(f"nothing found for {q!r}")


async def test_anyone_finds_eugo_procedures_in_english_and_greek_without_a_token(
    public: httpx.AsyncClient, insert: Insert
) -> None:
    word = unique()
    pid = await insert(word)
    en = await listed(public, f"issue {word} certificate")
    assert [(i["id"], i["title"]) for i in en["items"]] == [(str(pid), f"Issue of {word} certificate")]
    assert (en["total"], en["page"], en["size"], en["lang"]) == (1, 1, 20, "en")
    item = en["items"][0]
    assert item["competent_authority"] == {"id": "23373", "name": "Independent Authority for Public Revenue"}
    assert item["url"].endswith(f"{PATH}/{pid}")
    # Greek, without accents or capitals, in the other language's index too
    el = await listed(public, f"εκδοση βεβαιωσησ {word.upper()}", lang="el")
    assert [(i["id"], i["title"]) for i in el["items"]] == [(str(pid), f"Έκδοση βεβαίωσης {word}")]
    assert el["items"][0]["competent_authority"]["name"] == "Ανεξάρτητη Αρχή Δημοσίων Εσόδων (ΑΑΔΕ)"
    assert (await listed(public, word, lang="en"))["items"][0]["id"] == str(pid)


async def test_pages_with_totals(public: httpx.AsyncClient, insert: Insert) -> None:
    word = unique()
    ids = {await insert(f"{word} {n}") for n in range(3)}
    await listed(public, word)
    for _ in range(60):  # until the replica has all three
        first = (await get(public, PATH, params={"q": word, "size": 2})).json()
        if first["total"] == 3:
            break
        await asyncio.sleep(0.5)
    second = (await get(public, PATH, params={"q": word, "size": 2, "page": 2})).json()
    assert (first["total"], len(first["items"]), second["total"], len(second["items"])) == (3, 2, 3, 1)
    assert {i["id"] for i in first["items"] + second["items"]} == {str(i) for i in ids}
    beyond = (await get(public, PATH, params={"q": word, "size": 2, "page": 3})).json()
    assert (beyond["total"], beyond["items"]) == (3, [])
    everything = (await get(public, PATH, params={"size": 100})).json()
    assert everything["total"] >= 3
    assert len(everything["items"]) == min(100, everything["total"])


async def test_one_procedure_in_cpsv_ap_terms(public: httpx.AsyncClient, insert: Insert, settings: Settings) -> None:
    pid = await insert(unique())
    resp = await shows(public, f"{PATH}/{pid}", 200)
    body = resp.json()
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["content-language"] == "en"
    assert body["url"] == f"{settings.public_url.rstrip('/')}{PATH}/{pid}"
    assert body["jsonld_url"] == body["url"] + ".jsonld"
    record = DATASET.extended(TEMPLATE)
    assert record is not None
    meta = record["metadata"]
    assert [r["name"] for r in body["requirements"]] == [
        {"Ελληνική ιθαγένεια": "Greek citizenship", "Ενηλικίωση": "Being of age",
         "Μόνιμη κατοικία στην Ελλάδα": "Permanent residence in Greece"}[c["conditions_name"]]
        for c in meta["process_conditions"]
    ]  # fmt: skip
    assert [e["name"] for e in body["evidence"]] == [
        e["evidence_type"]["title"]["en"] for e in meta["process_evidences"]
    ]
    assert [(c["min"], c["max"], c["currency"]) for c in body["costs"]] == [
        (c["evidence_cost_min"], c["evidence_cost_max"], "EUR") for c in meta["process_evidences_cost"]
    ]
    assert [r["ada"] for r in body["legal_basis"]] == [r.get("rule_ada") for r in meta["process_rules"]]
    assert body["competent_authorities"] == [{"id": "23373", "name": "Independent Authority for Public Revenue"}]
    assert body["channels"][0]["kind"] == "in_person"
    assert body["processing_time"] == "P1D"
    greek = (await get(public, f"{PATH}/{pid}", params={"lang": "el"})).json()
    assert greek["lang"] == "el"
    assert greek["competent_authorities"][0]["name"].startswith("Ανεξάρτητη Αρχή")


async def test_the_service_points_offering_it_are_where_to_go_in_person(
    public: httpx.AsyncClient, insert: Insert, pool: Pool, make_office: OfficeFactory
) -> None:
    pid = await insert(unique())
    await shows(public, f"{PATH}/{pid}", 200)
    point = uuid.uuid4()
    await pool.execute(
        """INSERT INTO service_points (id, office_id, kind, name_el, name_en, address, postal_code, municipality,
                                       location, procedure_ids)
           VALUES ($1, $2, 'counter', 'ΚΕΠ Δοκιμής', 'Test KEP', 'Ερμού 1', '10563', 'Αθήνα',
                   ST_SetSRID(ST_MakePoint(23.73, 37.97), 4326)::geography, $3)""",
        point,
        await make_office("eke"),
        [pid],
    )

    async def channel() -> dict[str, Any] | None:
        body = (await get(public, f"{PATH}/{pid}")).json()
        return next((c for c in body["channels"] if c.get("service_point_id") == str(point)), None)

    for _ in range(60):  # a new service point changes the catalogue's version
        if found := await channel():
            break
        await asyncio.sleep(0.5)
    assert found is not None
    assert (found["kind"], found["name"], found["address"], found["postal_code"]) == (
        "in_person", "Test KEP", "Ερμού 1", "10563"
    )  # fmt: skip
    assert (round(found["latitude"], 2), round(found["longitude"], 2)) == (37.97, 23.73)
    # closed: gone from the channels at the next look
    await pool.execute("UPDATE service_points SET active = false, updated_at = now() WHERE id = $1", point)
    for _ in range(60):
        if await channel() is None:
            break
        await asyncio.sleep(0.5)
    assert await channel() is None


async def test_json_ld_by_accept_or_by_its_own_address(public: httpx.AsyncClient, insert: Insert) -> None:
    pid = await insert(unique())
    await shows(public, f"{PATH}/{pid}", 200)
    by_accept = await get(public, f"{PATH}/{pid}", headers={"Accept": "application/ld+json, application/json;q=0.5"})
    by_path = await get(public, f"{PATH}/{pid}.jsonld")
    plain = await get(public, f"{PATH}/{pid}", headers={"Accept": "application/json, application/ld+json;q=0.1"})
    assert by_accept.status_code == by_path.status_code == 200, by_path.text
    assert by_accept.headers["content-type"] == by_path.headers["content-type"] == "application/ld+json"
    assert by_accept.content == by_path.content
    assert by_accept.headers["etag"] == by_path.headers["etag"]
    assert plain.headers["content-type"] == "application/json"
    [service] = pyld.expand(by_path.json())
    assert service["@type"] == [f"{CPSV}PublicService"]
    assert service["@id"].endswith(f"{PATH}/{pid}")
    assert all(c["@type"] == [f"{CV}Cost"] for c in service[f"{CV}hasCost"])
    assert service[f"{CV}hasCost"]
    assert all(e["@type"] == [f"{CV}Evidence"] for e in service[f"{CPSV}hasInput"])


async def test_what_is_not_an_active_eugo_procedure_is_not_found(
    public: httpx.AsyncClient, insert: Insert, pool: Pool
) -> None:
    word = unique()
    other = await insert(word + "a", eugo=False)
    inactive = await insert(word + "b", active=False)
    shown = await insert(word + "c")
    await shows(public, f"{PATH}/{shown}", 200)
    for pid in (other, inactive, uuid.uuid4()):
        for path in (f"{PATH}/{pid}", f"{PATH}/{pid}.jsonld"):
            resp = await get(public, path)
            assert resp.status_code == 404, resp.text
            assert resp.headers["content-type"] == "application/problem+json"
            assert resp.json()["status"] == 404
    assert [i["id"] for i in (await listed(public, word))["items"]] == [str(shown)]
    # deactivated or removed by a sync: gone from the catalogue once the replica looks again
    await pool.execute("UPDATE procedures SET active = false WHERE id = $1", shown)
    await shows(public, f"{PATH}/{shown}", 404)
    await pool.execute("UPDATE procedures SET active = true, removed_at = now() WHERE id = $1", shown)
    await asyncio.sleep(3)
    assert (await get(public, f"{PATH}/{shown}")).status_code == 404


async def test_strong_etags_answer_304_and_answers_are_kept_until_the_catalogue_changes(
    public: httpx.AsyncClient, insert: Insert, pool: Pool
) -> None:
    pid = await insert(unique())
    first = await shows(public, f"{PATH}/{pid}", 200)
    again = await get(public, f"{PATH}/{pid}")
    etag = first.headers["etag"]
    assert etag.startswith('"')
    assert not etag.startswith("W/")
    assert again.headers["etag"] == etag
    assert first.headers["cache-control"].startswith("public, max-age=")
    assert again.headers["cache-status"] == "kep-eugo; hit"
    for tag in (etag, f'"other", {etag}', f"W/{etag}", "*"):
        resp = await get(public, f"{PATH}/{pid}", headers={"If-None-Match": tag})
        assert (resp.status_code, resp.content, resp.headers["etag"]) == (304, b"", etag), tag
    assert (await get(public, f"{PATH}/{pid}", headers={"If-None-Match": '"other"'})).status_code == 200
    greek = await get(public, f"{PATH}/{pid}", params={"lang": "el"})
    assert greek.headers["etag"] != etag
    # a sync changes the procedure: a new body, a new tag
    await pool.execute(
        """UPDATE procedures SET title_en = title_en || ' (revised)', content_hash = md5(random()::text),
                                 synced_at = now() WHERE id = $1""",
        pid,
    )
    for _ in range(60):
        changed = await get(public, f"{PATH}/{pid}", headers={"If-None-Match": etag})
        if changed.status_code == 200:
            break
        await asyncio.sleep(0.5)
    assert changed.json()["title"].endswith("(revised)")
    assert changed.headers["etag"] != etag


async def test_an_anonymous_callers_rate_is_its_addresses(
    public: httpx.AsyncClient, insert: Insert, settings: Settings
) -> None:
    anonymous = parse(settings.rate_limit_anonymous)
    resp = await public.get(PATH, params={"size": 1})
    assert resp.headers["ratelimit-policy"] == f'"anonymous";q={anonymous.amount};w={anonymous.get_expiry()}'
    slots = asyncio.Semaphore(16)

    async def one() -> int:
        async with slots:
            return (await public.get(PATH, params={"size": 1})).status_code

    statuses = await asyncio.gather(*(one() for _ in range(anonymous.amount)))
    assert statuses.count(429) >= 1
    assert set(statuses) == {200, 429}
    refused = await public.get(PATH, params={"size": 1})
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert refused.headers["content-type"] == "application/problem+json"
    # another address is another caller
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{settings.http_port}",
        transport=httpx.AsyncHTTPTransport(local_address="127.0.0.1"),
    ) as other:
        assert (await get(other, PATH, params={"size": 1})).status_code == 200


@pytest.mark.parametrize(
    "params",
    [{"size": 101}, {"size": 0}, {"page": 0}, {"page": 1001}, {"q": "x" * 201}, {"q": ""}, {"lang": "fr"}],
)
async def test_limits_hold_before_any_work(public: httpx.AsyncClient, params: dict[str, Any]) -> None:
    resp = await get(public, PATH, params=params)
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert (await get(public, f"{PATH}/not-a-uuid")).status_code == 422

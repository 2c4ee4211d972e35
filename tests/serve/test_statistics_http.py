"""Statistics over HTTP: real cases opened and moved through the API, the kep-statistics consumer's aggregates
following them (eventually), a redelivered event applied once, the rebuild from case_events agreeing with the
consumer, who sees which office, CSV and SVG answers, bad input 422 with pointers."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest
import ray

from actors.statistics import store
from actors.statistics.consumer import STATISTICS_ACTOR, StatisticsActor
from infra import amqp
from infra.settings import Settings
from messages.events import case_event
from messages.statistics import MAX_PAGE_ROWS
from tests.actors.test_statistics_rollup import rollup_mismatches
from tests.conftest import OfficeFactory
from tests.helpers import bearer, eventually
from tests.serve.test_case_lifecycle_http import Desk


@pytest.fixture(scope="module")
def statistics(settings: Settings, ray_app: dict[str, Any]) -> Any:
    """The consumer (bootstrap starts it too; `get_if_exists` finds that one)."""
    handle = StatisticsActor.options(name=STATISTICS_ACTOR, get_if_exists=True).remote(settings)
    ray.get(handle.__ray_ready__.remote())
    return handle


@pytest.fixture
async def desk(
    http: httpx.AsyncClient, token_for: Callable[..., str], make_office: OfficeFactory, statistics: Any
) -> Desk:
    return Desk(http, token_for, await make_office())


async def _get(http: httpx.AsyncClient, url: str, headers: dict[str, str], **params: Any) -> Any:
    resp = await http.get(url, params=params, headers=headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def _work(desk: Desk, procedure: uuid.UUID) -> dict[str, Any]:
    """Three cases: one completed, one in progress (the employee's), one rejected; returns the one in progress."""
    done = await desk.open(procedure)
    for action, fields in (("assign", {"assignee": desk.employee}), ("start", {}), ("complete", {})):
        resp = await desk.act(done, action, **fields)
        assert resp.status_code == 200, (action, resp.text)
        done = resp.json()
    busy = await desk.open(procedure)
    for action, fields in (("assign", {"assignee": desk.employee}), ("start", {})):
        resp = await desk.act(busy, action, **fields)
        assert resp.status_code == 200, (action, resp.text)
        busy = resp.json()
    refused = await desk.open(procedure)
    resp = await desk.act(refused, "reject", reason="δεν είναι αρμοδιότητας του ΚΕΠ")
    assert resp.status_code == 200, resp.text
    return busy


def _snapshot(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(tuple(sorted(r.items())) for r in rows)


async def test_the_statistics_follow_the_cases_and_a_rebuild_agrees(
    desk: Desk, make_procedure: Callable[..., Any], pool: asyncpg.Pool[asyncpg.Record]
) -> None:
    procedure = await make_procedure(duration_days=10)
    await _work(desk, procedure)
    mine = {"office_id": str(desk.office)}
    http, sup = desk.http, desk.as_supervisor

    async def settled() -> bool:
        rows = await _get(http, "/api/statistics/volumes", sup, **mine)
        return [(r["opened"], r["completed"], r["rejected"]) for r in rows] == [(3, 1, 1)]

    await eventually(settled)
    volumes = await _get(http, "/api/statistics/volumes", sup, period="day")
    assert [(r["procedure_id"], r["opened"]) for r in volumes] == [(str(procedure), 3)]
    backlog = await _get(http, "/api/statistics/backlog", sup)
    assert [(r["status"], r["cases"]) for r in backlog] == [("in_progress", 1)]
    workload = await _get(http, "/api/statistics/workload", sup)
    assert [(r["assignee"], r["cases"]) for r in workload] == [(desk.employee, 1)]
    compliance = await _get(http, "/api/statistics/compliance", sup)
    assert [(r["completed"], r["on_time"], r["late"], r["on_time_share"]) for r in compliance] == [(1, 1, 0, 1.0)]
    stays = {r["status"]: r["stays"] for r in await _get(http, "/api/statistics/status-time", sup)}
    assert stays == {"submitted": 3, "in_progress": 1}

    # the employee: their own workload, nothing else
    assert await _get(http, "/api/statistics/workload", desk.as_employee) == workload
    for path in ("volumes", "backlog", "status-time", "compliance", "volumes.csv", "backlog.svg"):
        resp = await http.get(f"/api/statistics/{path}", headers=desk.as_employee)
        assert resp.status_code == 403, path

    # one pass over case_events gives what the consumer kept
    before = {p: await _get(http, f"/api/statistics/{p}", sup) for p in ("volumes", "backlog", "workload")}
    before["compliance"] = compliance
    async with pool.acquire() as conn:
        assert await store.rebuild(conn=conn) >= 3
        assert await rollup_mismatches(conn) == 0  # the month rows rebuilt with the daily ones
    for p, rows in before.items():
        assert _snapshot(await _get(http, f"/api/statistics/{p}", sup)) == _snapshot(rows), p


async def test_a_case_handed_over_counts_for_the_office_that_has_it_and_a_rebuild_agrees(
    desk: Desk,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
    pool: asyncpg.Pool[asyncpg.Record],
) -> None:
    other = Desk(desk.http, token_for, await make_office())
    case = await desk.open(await make_procedure(duration_days=10))
    for action, fields in (("assign", {"assignee": desk.employee}), ("start", {})):
        resp = await desk.act(case, action, **fields)
        assert resp.status_code == 200, (action, resp.text)
        case = resp.json()
    moved = await desk.act(case, "transfer", supervisor=True, office_id=str(other.office), reason="αρμοδιότητα")
    assert moved.status_code == 200, moved.text
    http, old, new = desk.http, desk.as_supervisor, other.as_supervisor

    async def backlog_moved() -> bool:
        backlog = await _get(http, "/api/statistics/backlog", new)
        return [(r["status"], r["cases"]) for r in backlog] == [("in_progress", 1)]

    await eventually(backlog_moved)
    assert await _get(http, "/api/statistics/backlog", old) == []
    assert await _get(http, "/api/statistics/workload", old) == []  # the employee of the old office holds it no more
    done = await other.act(moved.json(), "complete")
    assert done.status_code == 200, done.text

    async def completed() -> bool:
        volumes = await _get(http, "/api/statistics/volumes", new)
        return [(r["opened"], r["completed"]) for r in volumes] == [(0, 1)]

    await eventually(completed)
    volumes = {o: [(r["opened"], r["completed"]) for r in await _get(http, "/api/statistics/volumes", h)]
               for o, h in (("old", old), ("new", new))}  # fmt: skip
    assert volumes == {"old": [(1, 0)], "new": [(0, 1)]}  # opened where it came in, completed where it was done
    offices = {"old": old, "new": new}
    stays = {o: {r["status"]: r["stays"] for r in await _get(http, "/api/statistics/status-time", h)}
             for o, h in offices.items()}  # fmt: skip
    assert stays == {"old": {"submitted": 1, "in_progress": 1}, "new": {"in_progress": 1}}
    compliance = await _get(http, "/api/statistics/compliance", new)
    assert [(r["completed"], r["on_time"]) for r in compliance] == [(1, 1)]

    # counts, not durations: the rebuild times stays by the rows' commit times, the consumer by the events'
    reports = ("volumes", "backlog", "workload", "compliance")
    before = {(o, p): await _get(http, f"/api/statistics/{p}", h) for o, h in offices.items() for p in reports}
    async with pool.acquire() as conn:
        await store.rebuild(conn=conn)
    for (o, p), rows in before.items():
        assert _snapshot(await _get(http, f"/api/statistics/{p}", offices[o])) == _snapshot(rows), (o, p)


async def test_a_redelivered_event_is_applied_once(
    desk: Desk, make_procedure: Callable[..., Any], pool: asyncpg.Pool[asyncpg.Record]
) -> None:
    busy = await _work(desk, await make_procedure(duration_days=10))
    sup = desk.as_supervisor

    async def settled() -> bool:
        # every event of the three cases applied (the rejection is the last), not only the employee's
        rows = await _get(desk.http, "/api/statistics/workload", sup)
        volumes = await _get(desk.http, "/api/statistics/volumes", sup)
        return [(r["assignee"], r["cases"]) for r in rows] == [(desk.employee, 1)] and [
            (r["opened"], r["completed"], r["rejected"]) for r in volumes
        ] == [(3, 1, 1)]

    await eventually(settled)
    before = [await _get(desk.http, f"/api/statistics/{p}", sup) for p in ("volumes", "backlog", "workload")]
    rows = await pool.fetch("SELECT type, envelope FROM outbox WHERE envelope->>'subject' = $1 ORDER BY id", busy["id"])
    async with pool.acquire() as conn:
        for row in rows:
            event = case_event(row["envelope"]["type"], _text(row["envelope"]))
            # the same event again: its id was applied
            assert not await store.apply(conn=conn, event_id=event.id, ev=store.seen(event.data, event.time))
            # the same change under another id (a second publication): the case's version was seen
            assert await store.apply(conn=conn, event_id=uuid.uuid4(), ev=store.seen(event.data, event.time))
    after = [await _get(desk.http, f"/api/statistics/{p}", sup) for p in ("volumes", "backlog", "workload")]
    assert after == before


async def test_an_event_the_broker_delivers_again_is_applied_once(
    desk: Desk,
    make_procedure: Callable[..., Any],
    pool: asyncpg.Pool[asyncpg.Record],
    settings: Settings,
    statistics: Any,
) -> None:
    busy = await _work(desk, await make_procedure(duration_days=10))
    sup = desk.as_supervisor

    async def settled() -> bool:
        rows = await _get(desk.http, "/api/statistics/volumes", sup)
        return [(r["opened"], r["completed"], r["rejected"]) for r in rows] == [(3, 1, 1)]

    await eventually(settled)
    before = [await _get(desk.http, f"/api/statistics/{p}", sup) for p in ("volumes", "backlog", "workload")]
    seen = (await statistics.stats.remote())["repeated"]
    rows = await pool.fetch(
        "SELECT routing_key, envelope FROM outbox WHERE envelope->>'subject' = $1 ORDER BY id", busy["id"]
    )
    connection = await amqp.connect(settings.amqp_url.get_secret_value(), "test-statistics")
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(settings.events_exchange)
        for row in rows:
            body = _text(row["envelope"]).encode()
            message = amqp.raw_message(body, row["envelope"]["id"], row["envelope"]["type"])
            await amqp.publish(exchange, message, row["routing_key"])

    async def repeated() -> bool:
        return bool((await statistics.stats.remote())["repeated"] >= seen + len(rows))

    await eventually(repeated)
    after = [await _get(desk.http, f"/api/statistics/{p}", sup) for p in ("volumes", "backlog", "workload")]
    assert after == before


def _text(envelope: Any) -> str:
    return envelope if isinstance(envelope, str) else json.dumps(envelope)


async def test_each_office_sees_its_own_and_administrators_every_one(
    desk: Desk, make_procedure: Callable[..., Any], make_office: OfficeFactory, token_for: Callable[..., str]
) -> None:
    await _work(desk, await make_procedure(duration_days=10))
    other = Desk(desk.http, token_for, await make_office())
    await other.open(await make_procedure(duration_days=10))
    admin = bearer(token_for(uuid.uuid4(), roles=("administrator",)))
    http = desk.http

    async def settled() -> bool:
        rows = await _get(http, "/api/statistics/backlog", admin, office_id=str(other.office))
        return [(r["status"], r["cases"]) for r in rows] == [("submitted", 1)]

    await eventually(settled)
    for path in ("volumes", "status-time", "compliance", "backlog", "workload", "volumes.csv", "backlog.svg"):
        resp = await http.get(f"/api/statistics/{path}", params={"office_id": str(other.office)},
                              headers=desk.as_supervisor)  # fmt: skip
        assert resp.status_code == 403, path
        resp = await http.get(f"/api/statistics/{path}", params={"office_id": str(desk.office)},
                              headers=other.as_employee)  # fmt: skip
        assert resp.status_code == 403, path
    ours = await _get(http, "/api/statistics/backlog", desk.as_supervisor)
    assert {r["office_id"] for r in ours} == {str(desk.office)}
    everyone = await _get(http, "/api/statistics/backlog", admin)
    assert {str(desk.office), str(other.office)} <= {r["office_id"] for r in everyone}


async def test_csv_and_svg_answers(desk: Desk, make_procedure: Callable[..., Any]) -> None:
    await _work(desk, await make_procedure(duration_days=10))
    http, sup = desk.http, desk.as_supervisor

    async def settled() -> bool:
        rows = await _get(http, "/api/statistics/volumes", sup)
        return [(r["opened"], r["completed"], r["rejected"]) for r in rows] == [(3, 1, 1)]

    await eventually(settled)
    resp = await http.get("/api/statistics/volumes.csv", params={"period": "week"}, headers=sup)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert [(r["opened"], r["completed"], r["rejected"]) for r in rows] == [("3", "1", "1")]
    for path in ("status-time", "compliance", "backlog", "workload"):
        resp = await http.get(f"/api/statistics/{path}.csv", headers=sup)
        assert resp.status_code == 200, path
        assert len(list(csv.DictReader(io.StringIO(resp.text)))) >= 1, path
    for path in ("volumes.svg", "backlog.svg"):
        resp = await http.get(f"/api/statistics/{path}", headers=sup)
        assert resp.status_code == 200, path
        assert resp.headers["content-type"].startswith("image/svg+xml"), path
        assert resp.text.startswith("<svg")
        assert resp.text.rstrip().endswith("</svg>")
        assert "<rect" in resp.text


async def test_by_office_sums_the_procedures_and_pages_link_the_next(
    desk: Desk, make_procedure: Callable[..., Any]
) -> None:
    first, second = await make_procedure(duration_days=10), await make_procedure(duration_days=10)
    await _work(desk, first)
    await _work(desk, second)
    http, sup = desk.http, desk.as_supervisor

    async def settled() -> bool:
        rows = await _get(http, "/api/statistics/volumes", sup, by="office")
        return [(r["opened"], r["completed"], r["rejected"]) for r in rows] == [(6, 2, 2)]

    await eventually(settled)
    (office,) = await _get(http, "/api/statistics/volumes", sup, by="office")
    assert office["procedure_id"] is None
    assert office["office_id"] == str(desk.office)
    for report, per_office in (("status-time", 2), ("compliance", 1)):
        rows = await _get(http, f"/api/statistics/{report}", sup, by="office")
        assert len(rows) == per_office, report
        assert {r["procedure_id"] for r in rows} == {None}, report
    (summed,) = await _get(http, "/api/statistics/compliance", sup, by="office")
    assert (summed["completed"], summed["on_time"]) == (2, 2)

    # a page of one row, then the next from its `Link`, then none
    whole = await _get(http, "/api/statistics/volumes", sup)
    assert len(whole) == 2
    resp = await http.get("/api/statistics/volumes", params={"limit": 1}, headers=sup)
    assert resp.status_code == 200, resp.text
    assert resp.json() == whole[:1]
    link = resp.headers["link"]
    assert link.endswith('>; rel="next"')
    resp = await http.get(link[1 : link.index(">")], headers=sup)
    assert resp.status_code == 200, resp.text
    assert resp.json() == whole[1:]
    assert "link" not in resp.headers
    # CSV pages alike
    resp = await http.get("/api/statistics/status-time.csv", params={"limit": 1}, headers=sup)
    assert resp.status_code == 200
    assert len(list(csv.DictReader(io.StringIO(resp.text)))) == 1
    assert 'rel="next"' in resp.headers["link"]
    # a cursor that is not one of this report's
    for params in ({"after": "nonsense"}, {"after": whole[0]["period"], "by": "office,procedure"}):
        resp = await http.get("/api/statistics/volumes", params=params, headers=sup)
        assert resp.status_code == 422, params
        assert "/after" in [e["path"] for e in resp.json()["errors"]]


async def test_bad_input_is_422_with_pointers(desk: Desk) -> None:
    sup = desk.as_supervisor
    cases = [
        ({"from": "2026-03-01", "to": "2026-02-01"}, "/from"),
        ({"from": "2020-01-01", "to": "2026-01-01"}, "/to"),
        ({"period": "year"}, "/period"),
        ({"from": "yesterday"}, "/from"),
        ({"office_id": "not-an-id"}, "/office_id"),
        ({"by": "procedure"}, "/by"),
        ({"limit": MAX_PAGE_ROWS + 1}, "/limit"),
        ({"limit": 0}, "/limit"),
        ({"to": "0001-01-02"}, "/to"),
        ({"from": "9999-12-30"}, "/from"),
    ]
    for params, pointer in cases:
        resp = await desk.http.get("/api/statistics/volumes", params=params, headers=sup)
        assert resp.status_code == 422, params
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert pointer in [e["path"] for e in resp.json()["errors"]], resp.json()

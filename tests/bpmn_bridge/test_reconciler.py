"""The reconciler finds every case that disagrees with its process instance, repairs what is safe, reports the rest.

Drift is made the way it happens: a case's event lost on its way to the engine (the relay paused, the event
marked sent without being sent), the change then old enough to be judged.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx
import pytest
import ray

from actors.ray_options import call_actor
from bpmn_bridge.bridge import BRIDGE_ACTOR
from bpmn_bridge.engine import EngineClient
from infra import amqp, outbox
from infra.settings import Settings
from serve.bootstrap import OUTBOX_RELAY
from tests.bpmn_bridge.test_bridge import offered, open_online, process_procedure, reaches
from tests.bpmn_bridge.test_lockstep import act, ended_with_the_case, running
from tests.helpers import bearer, eventually

Lose = Callable[[], contextlib.AbstractAsyncContextManager[None]]


@pytest.fixture
def lost_events(settings: Settings, pool: asyncpg.Pool[asyncpg.Record]) -> Lose:
    """`async with lost_events():` — the case events of the block never reach the broker."""
    relay = ray.get_actor(OUTBOX_RELAY, namespace=settings.ray_namespace)

    @contextlib.asynccontextmanager
    async def lose() -> AsyncIterator[None]:
        await call_actor(relay.pause.remote())
        since = await pool.fetchval("SELECT now()")
        try:
            yield
        finally:
            await pool.execute(
                "UPDATE outbox SET published_at = now() WHERE published_at IS NULL AND created_at >= $1", since
            )
            await call_actor(relay.resume.remote())

    return lose


async def settled(pool: asyncpg.Pool[asyncpg.Record], case_id: str) -> None:
    """The case's last change long enough ago to be judged."""
    await pool.execute("UPDATE cases SET updated_at = now() - interval '1 hour' WHERE id = $1", uuid.UUID(case_id))


async def reconcile(http: httpx.AsyncClient, token_for: Callable[..., str], repair: bool = True) -> dict[str, Any]:
    admin = bearer(token_for(uuid.uuid4(), roles=("administrator",)))
    resp = await http.post("/api/admin/reconciler/run", params={"repair": repair}, headers=admin)
    assert resp.status_code == 200, resp.text
    report: dict[str, Any] = resp.json()
    assert (await http.get("/api/admin/reconciler", headers=admin)).json() == report
    return report


def drift_of(report: dict[str, Any], case_id: str) -> list[tuple[str, bool]]:
    return [(d["kind"], d["repaired"]) for d in report["drifts"] if d["case_id"] == case_id]


async def test_a_case_whose_opening_never_reached_the_engine_gets_its_instance(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    engine: EngineClient,
    make_procedure: Callable[..., Any],
    office_with_staff: dict[str, Any],
    token_for: Callable[..., str],
    lost_events: Lose,
) -> None:
    headers = office_with_staff["headers"]
    procedure = await process_procedure(make_procedure, pool)
    async with lost_events():
        case_id = (await open_online(http, headers, procedure))["id"]
    await settled(pool, case_id)
    assert await running(engine, case_id) == []

    dry = await reconcile(http, token_for, repair=False)
    assert drift_of(dry, case_id) == [("case_without_instance", False)]
    assert await running(engine, case_id) == []  # a dry run changes nothing
    report = await reconcile(http, token_for)
    assert drift_of(report, case_id) == [("case_without_instance", True)]
    await offered(http, headers, case_id)
    assert drift_of(await reconcile(http, token_for), case_id) == []  # in step now


async def test_an_instance_whose_case_ended_unheard_is_ended(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    engine: EngineClient,
    make_procedure: Callable[..., Any],
    office_with_staff: dict[str, Any],
    token_for: Callable[..., str],
    lost_events: Lose,
) -> None:
    headers = office_with_staff["headers"]
    case = await open_online(http, headers, await process_procedure(make_procedure, pool))
    await offered(http, headers, case["id"])
    async with lost_events():
        await act(http, headers, pool, case["id"], "reject", reason="εκτός αρμοδιότητας")
    await settled(pool, case["id"])
    assert await running(engine, case["id"])

    report = await reconcile(http, token_for)
    assert drift_of(report, case["id"]) == [("instance_of_ended_case", True)]
    assert await ended_with_the_case(engine, case["id"])


async def test_documents_awaited_by_a_case_an_employee_resumed_unheard_are_no_longer_awaited(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    make_procedure: Callable[..., Any],
    office_with_staff: dict[str, Any],
    token_for: Callable[..., str],
    lost_events: Lose,
) -> None:
    headers = office_with_staff["headers"]
    case = await open_online(http, headers, await process_procedure(make_procedure, pool, evidences=1))

    await reaches(pool, case["id"], "suspended")
    async with lost_events():
        await act(http, headers, pool, case["id"], "resume")
    await settled(pool, case["id"])

    report = await reconcile(http, token_for)
    assert drift_of(report, case["id"]) == [("documents_awaited_in_vain", True)]
    await offered(http, headers, case["id"])


async def test_an_instance_without_a_case_is_reported_not_touched(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    engine: EngineClient,
    token_for: Callable[..., str],
) -> None:
    stray = str(uuid.uuid4())
    instance = await engine.start_process("kep_case", business_key=stray, variables={"escalateAt": "2099-01-01"})

    async def stuck() -> bool:  # its intake finds no case: an incident
        return bool(await engine.incidents(instance.id))

    await eventually(stuck, within=60)
    report = await reconcile(http, token_for)
    kinds = sorted(d["kind"] for d in report["drifts"] if d["instance_id"] == instance.id)
    assert kinds == ["instance_without_case"]
    assert report["unrepaired"] >= 1
    assert await running(engine, stray) == [instance.id]
    await engine.delete_process_instance(instance.id)


async def start_anyway(settings: Settings, case_id: str) -> str:
    """A second instance for the case, started past the client's start-if-absent (as two bridges racing would)."""
    tenant = f"/tenant-id/{settings.engine_tenant}" if settings.engine_tenant else ""
    path = f"/process-definition/key/kep_case{tenant}/start"
    body = {"businessKey": case_id, "variables": {"escalateAt": {"value": "2099-01-01", "type": "String"}}}
    async with httpx.AsyncClient(base_url=settings.engine_url) as raw:
        resp = await raw.post(path, json=body)
    assert resp.status_code == 200, resp.text
    instance_id: str = resp.json()["id"]
    return instance_id


async def test_a_second_instance_of_a_case_is_deleted_the_first_stays(
    ray_app: dict[str, Any],
    settings: Settings,
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    engine: EngineClient,
    make_procedure: Callable[..., Any],
    office_with_staff: dict[str, Any],
    token_for: Callable[..., str],
) -> None:
    headers = office_with_staff["headers"]
    case = await open_online(http, headers, await process_procedure(make_procedure, pool))
    await offered(http, headers, case["id"])
    [first] = await running(engine, case["id"])
    second = await start_anyway(settings, case["id"])
    assert sorted(await running(engine, case["id"])) == sorted([first, second])

    report = await reconcile(http, token_for)
    assert [(d["kind"], d["instance_id"], d["repaired"]) for d in report["drifts"] if d["case_id"] == case["id"]] == [
        ("duplicate_instance", second, True)
    ]
    assert await running(engine, case["id"]) == [first]


async def test_an_opening_published_twice_starts_one_instance(
    ray_app: dict[str, Any],
    settings: Settings,
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    engine: EngineClient,
    make_procedure: Callable[..., Any],
    office_with_staff: dict[str, Any],
) -> None:
    headers = office_with_staff["headers"]
    case = await open_online(http, headers, await process_procedure(make_procedure, pool))
    await offered(http, headers, case["id"])
    bridge = ray.get_actor(BRIDGE_ACTOR, namespace=settings.ray_namespace)
    seen = (await call_actor(bridge.stats.remote()))["case_events"]
    # the relay published it, then (as after a crash between the broker's confirm and its stamp) does so again
    again = await pool.execute(
        "UPDATE outbox SET published_at = NULL WHERE envelope->>'subject' = $1 AND type = 'gr.kep.case.opened.v1'",
        case["id"],
    )
    assert again == "UPDATE 1"

    async def published() -> bool:
        return bool(
            await pool.fetchval(
                """SELECT published_at IS NOT NULL FROM outbox
                   WHERE envelope->>'subject' = $1 AND type = 'gr.kep.case.opened.v1'""",
                case["id"],
            )
        )

    await eventually(published, within=30)

    async def handled() -> bool:  # the bridge has taken the second copy and settled it
        return bool((await call_actor(bridge.stats.remote()))["case_events"] > seen)

    await eventually(handled, within=30)
    assert len(await engine.historic_process_instances(business_key=case["id"])) == 1


async def test_copies_of_an_opening_delivered_at_once_and_after_the_end_start_one_instance(
    ray_app: dict[str, Any],
    settings: Settings,
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    engine: EngineClient,
    make_procedure: Callable[..., Any],
    office_with_staff: dict[str, Any],
) -> None:
    headers = office_with_staff["headers"]
    case = await open_online(http, headers, await process_procedure(make_procedure, pool))
    await offered(http, headers, case["id"])
    row = await pool.fetchrow(
        "SELECT id, type, routing_key, envelope FROM outbox WHERE envelope->>'subject' = $1 AND type = $2",
        case["id"],
        "gr.kep.case.opened.v1",
    )
    assert row is not None
    bridge = ray.get_actor(BRIDGE_ACTOR, namespace=settings.ray_namespace)
    connection = await amqp.connect(settings.amqp_url.get_secret_value(), "test-copies")
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = (await amqp.declare_exchanges(channel, settings.events_exchange)).events

        async def copies(n: int) -> None:
            """`n` more copies of the opening, all at once, as an outbox relay dying again and again would send."""
            seen = (await call_actor(bridge.stats.remote()))["case_events"]
            body = outbox.json_bytes(row["envelope"])
            await asyncio.gather(*(
                amqp.publish(exchange, amqp.raw_message(body, str(row["id"]), row["type"]), row["routing_key"])
                for _ in range(n)
            ))  # fmt: skip

            async def handled() -> bool:
                return bool((await call_actor(bridge.stats.remote()))["case_events"] >= seen + n)

            await eventually(handled, within=60)

        await copies(10)
        assert len(await engine.historic_process_instances(business_key=case["id"])) == 1
        # the case ends, and so its instance; a copy of the opening that arrives later still starts nothing
        await act(http, headers, pool, case["id"], "reject", reason="εκτός αρμοδιότητας")

        async def ended() -> bool:
            return await ended_with_the_case(engine, case["id"])

        await eventually(ended, within=60)
        await copies(3)
        assert len(await engine.historic_process_instances(business_key=case["id"])) == 1
        assert await running(engine, case["id"]) == []
    finally:
        await connection.close()

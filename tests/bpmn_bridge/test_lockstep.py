"""A case and its process instance in lock-step (actors/cases/lockstep.py): what an employee does to the case
reaches the instance, across crashes, and the deadline watcher escalates only a case that is really overdue."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import ray

from actors.cases import lockstep
from actors.ray_options import call_actor
from bpmn_bridge.bridge import BRIDGE_ACTOR
from bpmn_bridge.engine import EngineClient
from infra.settings import Settings
from serve.bootstrap import OUTBOX_RELAY
from tests.bpmn_bridge.test_bridge import (
    PROCESS,
    by_process,
    case_row,
    decide,
    offered,
    open_online,
    process_procedure,
)
from tests.helpers import bearer, eventually

README = (Path(__file__).parents[2] / "README.md").read_text()


def test_the_readme_shows_the_lockstep_tables_as_the_code_has_them() -> None:
    assert lockstep.render_tables() in README


async def act(http: httpx.AsyncClient, headers: dict[str, str], pool: Any, case_id: str, action: str,
              **fields: Any) -> dict[str, Any]:  # fmt: skip
    version = (await case_row(pool, case_id))["version"]
    resp = await http.post(f"/api/cases/{case_id}/{action}", json={"version": version, **fields}, headers=headers)
    assert resp.status_code == 200, (action, resp.text)
    answer: dict[str, Any] = resp.json()
    return answer


async def running(engine: EngineClient, case_id: str) -> list[str]:
    return [i.id for i in await engine.process_instances(business_key=case_id)]


async def ended_with_the_case(engine: EngineClient, case_id: str) -> bool:
    history = await engine.historic_process_instances(business_key=case_id, finished=True)
    return bool(history) and history[-1].end_activity_id == "ended_by_case" and not await running(engine, case_id)


async def end_variables(settings: Settings, case_id: str, engine: EngineClient) -> dict[str, Any]:
    [instance] = await engine.historic_process_instances(business_key=case_id, finished=True)
    async with httpx.AsyncClient(base_url=settings.engine_url, timeout=30) as rest:
        found = (await rest.get("/history/variable-instance", params={"processInstanceId": instance.id})).json()
    return {v["name"]: v["value"] for v in found if v["name"].startswith("end")}


def same_time(a: datetime | None, b: datetime | str | None) -> bool:
    """The engine keeps milliseconds, PostgreSQL microseconds."""
    b = datetime.fromisoformat(b) if isinstance(b, str) else b
    return a is not None and b is not None and abs(a - b) < timedelta(seconds=1)


async def timer_due(engine: EngineClient, case_id: str) -> datetime | None:
    [instance] = await running(engine, case_id)
    jobs = await engine.jobs(process_instance_id=instance, activity_id="due")
    return jobs[0].due_date if jobs else None


@pytest.mark.parametrize("ending", ["reject", "complete"])
async def test_a_case_ended_by_hand_ends_its_instance_with_the_reason(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    settings: Settings,
    engine: EngineClient,
    make_procedure: Callable[..., Any],
    office_with_staff: dict[str, Any],
    ending: str,
) -> None:
    headers = office_with_staff["headers"]
    case = await open_online(http, headers, await process_procedure(make_procedure, pool))
    await offered(http, headers, case["id"])
    if ending == "reject":
        await act(http, headers, pool, case["id"], "reject", reason="εκτός αρμοδιότητας")
    else:
        await act(http, headers, pool, case["id"], "start")
        await act(http, headers, pool, case["id"], "complete")

    async def ended() -> bool:
        return await ended_with_the_case(engine, case["id"])

    await eventually(ended, within=60)
    variables = await end_variables(settings, case["id"], engine)
    assert variables["endStatus"] == ("rejected" if ending == "reject" else "completed")
    assert variables["endedBy"] == office_with_staff["employee"]
    if ending == "reject":
        assert variables["endReason"] == "εκτός αρμοδιότητας"
    # later actions on the case find no instance to disturb, and nothing ends as an incident
    await act(http, headers, pool, case["id"], "close")
    [instance] = await engine.historic_process_instances(business_key=case["id"], finished=True)
    assert await engine.incidents(instance.id) == []


async def test_extending_suspending_and_resuming_move_the_escalation_to_the_real_due_date(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    engine: EngineClient,
    make_procedure: Callable[..., Any],
    office_with_staff: dict[str, Any],
) -> None:
    headers = office_with_staff["headers"]
    case = await open_online(http, headers, await process_procedure(make_procedure, pool))
    await offered(http, headers, case["id"])
    assert same_time(await timer_due(engine, case["id"]), (await case_row(pool, case["id"]))["due_at"])

    def moved_to(due: str) -> Callable[[], Awaitable[bool]]:
        async def there() -> bool:
            return same_time(await timer_due(engine, case["id"]), due)

        return there

    extended = await act(http, headers, pool, case["id"], "extend", days=5, reason="αναμονή απάντησης δήμου")
    await eventually(moved_to(extended["due_at"]), within=60)
    await act(http, headers, pool, case["id"], "suspend", reason="λείπει έγγραφο")
    resumed = await act(http, headers, pool, case["id"], "resume")
    assert resumed["due_at"] > extended["due_at"]  # the suspension's time is given back
    await eventually(moved_to(resumed["due_at"]), within=60)


async def test_a_reopened_case_gets_a_new_instance(
    review_form: None,
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    engine: EngineClient,
    make_procedure: Callable[..., Any],
    office_with_staff: dict[str, Any],
    token_for: Callable[..., str],
) -> None:
    headers = office_with_staff["headers"]
    case = await open_online(http, headers, await process_procedure(make_procedure, pool))
    await decide(http, headers, await offered(http, headers, case["id"]), {"decision": "approve"})

    async def completed() -> bool:
        return (await case_row(pool, case["id"]))["status"] == "completed" and not await running(engine, case["id"])

    await eventually(completed, within=90)
    await act(http, headers, pool, case["id"], "close")
    supervisor = bearer(token_for(office_with_staff["office"], roles=("employee", "supervisor")))
    await act(http, supervisor, pool, case["id"], "reopen", reason="λάθος στο πιστοποιητικό")
    await offered(http, headers, case["id"])  # a new instance, at the review again
    assert len(await engine.historic_process_instances(business_key=case["id"])) == 2


@pytest.mark.parametrize("crash", ["outbox relay", "bridge"])
async def test_a_crash_between_the_case_commit_and_the_engine_call_loses_nothing(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    settings: Settings,
    engine: EngineClient,
    make_procedure: Callable[..., Any],
    office_with_staff: dict[str, Any],
    crash: str,
) -> None:
    headers = office_with_staff["headers"]
    case = await open_online(http, headers, await process_procedure(make_procedure, pool))
    await offered(http, headers, case["id"])
    if crash == "outbox relay":  # committed, not yet published: the relay dies with the event in its table
        relay = ray.get_actor(OUTBOX_RELAY, namespace=settings.ray_namespace)
        await call_actor(relay.pause.remote())
        await act(http, headers, pool, case["id"], "reject", reason="εκτός αρμοδιότητας")
        ray.kill(relay, no_restart=False)
    else:  # published, on its way to the engine: the bridge dies with the event in its queue or in hand
        await act(http, headers, pool, case["id"], "reject", reason="εκτός αρμοδιότητας")
        ray.kill(ray.get_actor(BRIDGE_ACTOR, namespace=settings.ray_namespace), no_restart=False)

    async def ended() -> bool:
        return await ended_with_the_case(engine, case["id"])

    await eventually(ended, within=90)
    assert await by_process(pool, case["id"]) == ["case.assigned"]


async def test_the_deadline_watcher_escalates_once_and_only_when_the_case_is_overdue(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    settings: Settings,
    engine: EngineClient,
    make_procedure: Callable[..., Any],
    office_with_staff: dict[str, Any],
) -> None:
    headers = office_with_staff["headers"]
    supervisor = f"sup-{uuid.uuid4().hex[:8]}"
    await pool.execute(
        "INSERT INTO users (id, subject, office_id, display_name, roles) VALUES ($1, $2, $3, $2, '{supervisor}')",
        uuid.uuid4(),
        supervisor,
        office_with_staff["office"],
    )
    case = await open_online(http, headers, await process_procedure(make_procedure, pool))
    await offered(http, headers, case["id"])

    async def fire_timer() -> None:
        """The engine's own way of letting time pass: run the timer job now."""
        [instance] = await running(engine, case["id"])
        [job] = await engine.jobs(process_instance_id=instance, activity_id="due")
        async with httpx.AsyncClient(base_url=settings.engine_url, timeout=30) as rest:
            assert (await rest.post(f"/job/{job.id}/execute")).status_code == 204

    due = (await case_row(pool, case["id"]))["due_at"]
    await fire_timer()  # early: the case is not due; the watcher waits again for its real due date

    async def rearmed() -> bool:
        return same_time(await timer_due(engine, case["id"]), due)

    await eventually(rearmed, within=60)
    assert (await case_row(pool, case["id"]))["assignee"] == office_with_staff["employee"]

    # ten days later (the due date passed while nobody looked)
    await pool.execute("UPDATE cases SET due_at = $2 WHERE id = $1", uuid.UUID(case["id"]),
                       datetime.now(UTC) - timedelta(days=1))  # fmt: skip
    await fire_timer()

    async def escalated() -> bool:
        return (await case_row(pool, case["id"]))["assignee"] == supervisor

    await eventually(escalated, within=60)
    assert await by_process(pool, case["id"]) == ["case.assigned", "case.noted", "case.assigned"]
    notes = await pool.fetch(
        "SELECT new FROM case_events WHERE case_id = $1 AND type = 'case.noted' AND actor = $2",
        uuid.UUID(case["id"]),
        PROCESS,
    )
    assert "κλιμάκωση" in notes[0]["new"]["note"]
    # once: the watcher has ended; the review stays with the office
    assert await timer_due(engine, case["id"]) is None
    await offered(http, headers, case["id"])
    assert (await case_row(pool, case["id"]))["status"] == "submitted"

"""A case handed over to another office takes its process along: the instance's office and its open user tasks
move to the new office, the new office's staff decide them, and the process's own steps act on the case where it
is now. A hand-over whose event was lost is found and repaired by the reconciler."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest

from bpmn_bridge.engine import EngineClient
from tests.bpmn_bridge.test_bridge import case_row, decide, offered, process_procedure, reaches, review_task
from tests.bpmn_bridge.test_lockstep import running
from tests.bpmn_bridge.test_reconciler import Lose, drift_of, lost_events, reconcile, settled
from tests.conftest import OfficeFactory
from tests.helpers import eventually
from tests.serve.test_case_lifecycle_http import Desk

__all__ = ["lost_events"]  # the fixture, used here


@pytest.fixture
async def desks(
    http: httpx.AsyncClient, token_for: Callable[..., str], make_office: OfficeFactory
) -> tuple[Desk, Desk]:
    return Desk(http, token_for, await make_office()), Desk(http, token_for, await make_office())


async def hand_over(desk: Desk, pool: asyncpg.Pool[asyncpg.Record], case_id: str, office: uuid.UUID) -> None:
    version = (await case_row(pool, case_id))["version"]
    body = {"version": version, "reason": "ο πολίτης κατοικεί αλλού", "office_id": str(office)}
    resp = await desk.http.post(f"/api/cases/{case_id}/transfer", json=body, headers=desk.as_supervisor)
    assert resp.status_code == 200, resp.text


async def instance_office(engine: EngineClient, case_id: str) -> str | None:
    [instance] = await running(engine, case_id)
    office = (await engine.process_variables(instance))["office"]
    return str(office)


async def followed(desks: tuple[Desk, Desk], engine: EngineClient, case_id: str) -> dict[str, Any]:
    """Until the review task is the new office's (offered to it, nobody's) and no longer the old one's."""
    a, b = desks
    task = await offered(b.http, b.as_employee, case_id)
    assert task["assignee"] is None
    assert await review_task(a.http, a.as_employee, case_id) is None
    assert await instance_office(engine, case_id) == str(b.office)
    [instance] = await running(engine, case_id)
    [open_task] = await engine.user_tasks(process_instance_id=instance, include_assigned=True)
    assert await engine.candidate_groups(open_task.id) == {str(b.office)}
    return task


async def test_the_process_follows_its_case_to_the_new_office(
    review_form: None,
    ray_app: dict[str, Any],
    desks: tuple[Desk, Desk],
    pool: asyncpg.Pool[asyncpg.Record],
    engine: EngineClient,
    make_procedure: Callable[..., Any],
) -> None:
    a, b = desks
    case = await a.open(await process_procedure(make_procedure, pool))
    task = await offered(a.http, a.as_employee, case["id"])
    claimed = await a.http.post(f"/api/tasks/{task['id']}/claim", headers=a.as_employee)
    assert claimed.status_code == 204, claimed.text

    await hand_over(a, pool, case["id"], b.office)
    task = await eventually_followed(desks, engine, case["id"])
    # the new office decides the review; the process's own step rejects the case in the office it is in now
    await decide(b.http, b.as_employee, task, {"decision": "reject", "reason": "Λείπει η βεβαίωση του δήμου"})
    await reaches(pool, case["id"], "rejected")
    row = await pool.fetchrow("SELECT office_id FROM cases WHERE id = $1", uuid.UUID(case["id"]))
    assert row is not None
    assert row["office_id"] == b.office


async def eventually_followed(desks: tuple[Desk, Desk], engine: EngineClient, case_id: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    async def there() -> bool:
        try:
            found.update(await followed(desks, engine, case_id))
        except AssertionError:
            return False
        return True

    await eventually(there, within=60)
    return found


async def test_a_hand_over_the_engine_never_heard_of_is_repaired_by_the_reconciler(
    ray_app: dict[str, Any],
    desks: tuple[Desk, Desk],
    pool: asyncpg.Pool[asyncpg.Record],
    engine: EngineClient,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
    lost_events: Lose,
) -> None:
    a, b = desks
    case = await a.open(await process_procedure(make_procedure, pool))
    await offered(a.http, a.as_employee, case["id"])
    async with lost_events():
        await hand_over(a, pool, case["id"], b.office)
    await settled(pool, case["id"])
    assert await instance_office(engine, case["id"]) == str(a.office)  # left behind

    dry = await reconcile(a.http, token_for, repair=False)
    assert drift_of(dry, case["id"]) == [("office_not_followed", False)]
    report = await reconcile(a.http, token_for)
    assert drift_of(report, case["id"]) == [("office_not_followed", True)]
    await followed(desks, engine, case["id"])
    assert drift_of(await reconcile(a.http, token_for), case["id"]) == []  # in step now


async def test_tasks_left_with_the_old_office_are_found_although_the_instance_moved(
    ray_app: dict[str, Any],
    desks: tuple[Desk, Desk],
    pool: asyncpg.Pool[asyncpg.Record],
    engine: EngineClient,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
) -> None:
    """A bridge that died between moving the instance's office and moving its tasks: the variable agrees with the
    case, the task does not."""
    a, b = desks
    case = await a.open(await process_procedure(make_procedure, pool))
    await offered(a.http, a.as_employee, case["id"])
    await hand_over(a, pool, case["id"], b.office)
    await eventually_followed(desks, engine, case["id"])
    [instance] = await running(engine, case["id"])
    [task] = await engine.user_tasks(process_instance_id=instance, include_assigned=True)
    await engine.add_candidate_group(task.id, str(a.office))
    await settled(pool, case["id"])

    report = await reconcile(a.http, token_for)
    assert drift_of(report, case["id"]) == [("office_not_followed", True)]
    await followed(desks, engine, case["id"])

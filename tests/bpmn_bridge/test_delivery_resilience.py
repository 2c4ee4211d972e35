"""Delivery under trouble, counted in the doubles' own request logs: a lock lost while the mailbox is still
answering (the step runs again), RabbitMQ or the engine restarted while postings are in flight, a worker dead after
ΚΣΗΔΕ gave the document its number: one posting per case, one ΚΣΗΔΕ document, no incident."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest

from bpmn_bridge.engine import EngineClient
from doubles.ked.server import REGISTERED_AFM
from infra.settings import Settings
from kepctl import services
from kepctl.stack import StackSettings
from tests.bpmn_bridge.test_bridge import process_procedure, reaches
from tests.bpmn_bridge.test_delivery_process import approve, calls, delivery_worker, open_case
from tests.helpers import eventually


async def arm(url: str, **fault: Any) -> None:
    async with httpx.AsyncClient(base_url=url.removesuffix("/api/v1")) as client:
        (await client.post("/_admin/faults", json=fault)).raise_for_status()


async def effect_started(pool: asyncpg.Pool[asyncpg.Record], case_id: str, effect: str) -> None:
    async def started() -> bool:
        state = await pool.fetchval(
            "SELECT state FROM external_effects WHERE case_id = $1 AND effect = $2", uuid.UUID(case_id), effect
        )
        return state == "started"

    await eventually(started, within=90)


async def postings(settings: Settings, number: str) -> int:
    return len([c for c in await calls(str(settings.mailbox_url), "post") if c["reference"] == number])


async def test_a_lock_lost_while_the_mailbox_answers_runs_the_step_again_and_posts_once(
    review_form: None,
    ray_app: dict[str, Any],
    settings: Settings,
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    make_procedure: Callable[..., Any],
    office_with_staff: dict[str, Any],
) -> None:
    headers = office_with_staff["headers"]
    case = await open_case(http, headers, await process_procedure(make_procedure, pool), REGISTERED_AFM)
    await arm(str(settings.mailbox_url), operation="post", kind="delay", delay_s=4, times=1)
    await approve(http, headers, case["id"])
    await effect_started(pool, case["id"], "mailbox-post")
    # the engine takes the task back while the worker waits for the mailbox: it is fetched and run again
    async with EngineClient(settings.engine_url, tenant_id=settings.engine_tenant) as engine:
        [instance] = await engine.process_instances(business_key=case["id"])
        [task] = [t for t in await engine.locked_by(settings.bridge_worker_id)
                  if t.process_instance_id == instance.id]  # fmt: skip
        assert task.activity_id == "deliver_mailbox"
        await engine.unlock(task.id)
        await reaches(pool, case["id"], "completed", within=90)
        assert await engine.incidents(instance.id) == []
    assert await postings(settings, case["number"]) == 1


@pytest.mark.parametrize("service", ["rabbitmq", "engine"])
async def test_a_restart_of_the_broker_or_the_engine_while_postings_are_in_flight_posts_each_once(
    review_form: None,
    ray_app: dict[str, Any],
    settings: Settings,
    stack: StackSettings,
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    make_procedure: Callable[..., Any],
    office_with_staff: dict[str, Any],
    service: str,
) -> None:
    headers = office_with_staff["headers"]
    procedure = await process_procedure(make_procedure, pool)
    cases = [await open_case(http, headers, procedure, REGISTERED_AFM) for _ in range(3)]
    await arm(str(settings.mailbox_url), operation="post", kind="delay", delay_s=3, times=3)
    for case in cases:
        await approve(http, headers, case["id"])
    await effect_started(pool, cases[0]["id"], "mailbox-post")
    [target] = [s for s in services.all_services(stack, progress=lambda _: None) if s.name == service]
    target.stop()
    target.start()
    for case in cases:  # completed: no step of its process was left in an incident
        await reaches(pool, case["id"], "completed", within=240)
        assert await postings(settings, case["number"]) == 1, case["number"]


async def test_a_worker_dead_after_kshde_numbered_the_document_sends_it_once(
    review_form: None,
    ray_app: dict[str, Any],
    settings: Settings,
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    make_procedure: Callable[..., Any],
    office_with_staff: dict[str, Any],
) -> None:
    headers = office_with_staff["headers"]
    procedure = await process_procedure(make_procedure, pool)
    await pool.execute("UPDATE procedures SET delivery_recipient = 'DHM-ATH' WHERE id = $1", procedure)
    case = await open_case(http, headers, procedure, REGISTERED_AFM)
    # the worker dies once ΚΣΗΔΕ answered the (pending) document and its number was recorded, before the
    # attachments that complete it: the run after the crash completes that document, it sends no second one
    await delivery_worker(settings).arm_crash.remote("after_remote")
    await approve(http, headers, case["id"])
    await reaches(pool, case["id"], "completed", within=120)
    kshde = settings.kshde_url or ""
    [sent] = [c for c in await calls(kshde, "send") if c["key"] == case["number"]]
    finals = [c for c in await calls(kshde, "attach") + await calls(kshde, "version")
              if str(c["key"]).startswith(sent["protocol_no"]) and c["final"]]  # fmt: skip
    assert len(finals) == 1
    attempts = await pool.fetchval(
        "SELECT attempts FROM external_effects WHERE case_id = $1 AND effect = 'kshde-send'", uuid.UUID(case["id"])
    )
    assert attempts == 2

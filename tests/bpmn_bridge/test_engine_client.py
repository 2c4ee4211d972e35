"""The engine client against the real engine, with processes of its own (tests/bpmn_bridge/processes)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from bpmn_bridge.engine import (
    MAX_ASYNC_RESPONSE_TIMEOUT_MS,
    Deployment,
    EngineClient,
    ExternalTask,
    InstanceState,
    JsonValue,
    Long,
    ProcessInstance,
    RunningInstance,
    TaskPosition,
    TaskQuery,
    TopicRequest,
    UserTask,
)
from bpmn_bridge.errors import (
    EngineConflict,
    EngineNotFound,
    EngineOverloaded,
    EngineRejected,
    EngineUnavailable,
    LockExpired,
    LongPollCancelled,
    TaskAlreadyClaimed,
    TaskGone,
    TaskLockedByOther,
)
from infra.retry import Backoff
from infra.settings import Settings

RUN = uuid.uuid4().hex[:8]
DEPLOYMENT = f"engine-client-test-{RUN}"
WORK, REVIEW, WAITING = f"ec_{RUN}_work", f"ec_{RUN}_review", f"ec_{RUN}_message"
MANY, TIMER = f"ec_{RUN}_many", f"ec_{RUN}_timer"
TOPIC, GROUP, MESSAGE, WAKE = f"ec-{RUN}-work", f"ec-{RUN}-group", f"ec-{RUN}-go", f"ec-{RUN}-wake"
BPMN = (Path(__file__).parent / "processes" / "engine_client.bpmn").read_text().replace("RUN", RUN).encode()
EXTRA = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="extra" targetNamespace="urn:kep:tests">
  <bpmn:process id="ec_{RUN}_extra" isExecutable="true" camunda:historyTimeToLive="P1D">
    <bpmn:startEvent id="start"/>
  </bpmn:process>
</bpmn:definitions>
""".encode()
FAST = Backoff(attempts=3, initial_s=0.01, max_s=0.05, jitter_s=0.01)
ATHENS = timezone(timedelta(hours=2))


def new_key() -> str:
    return f"case-{uuid.uuid4()}"


def new_worker() -> str:
    return f"ec-{RUN}-worker-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
async def engine(settings: Settings) -> AsyncIterator[EngineClient]:
    async with EngineClient(settings.engine_url, retry=FAST) as client:
        yield client


@pytest.fixture(scope="module")
async def deployment(engine: EngineClient, settings: Settings) -> AsyncIterator[Deployment]:
    deployed = await engine.deploy(DEPLOYMENT, {"engine_client.bpmn": BPMN})
    yield deployed
    async with httpx.AsyncClient(base_url=settings.engine_url, timeout=30) as http:
        for dep in (await http.get("/deployment", params={"name": DEPLOYMENT})).json():
            await http.delete(f"/deployment/{dep['id']}", params={"cascade": "true"})


@pytest.fixture
async def raw(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Plain HTTP to the engine, to look at what the client wrote."""
    async with httpx.AsyncClient(base_url=settings.engine_url, timeout=30) as http:
        yield http


async def start_and_lock(
    engine: EngineClient, variables: dict[str, Any] | None = None, *, worker: str | None = None, lock_ms: int = 60_000
) -> tuple[ProcessInstance, ExternalTask]:
    """A fresh instance of the work process and its external task, locked by `worker`."""
    key = new_key()
    instance = await engine.start_process(WORK, key, variables or {})
    tasks = await engine.fetch_and_lock(
        worker or new_worker(), [TopicRequest(TOPIC, lock_ms, business_key=key)], 1, 5000
    )
    assert [t.process_instance_id for t in tasks] == [instance.id]
    return instance, tasks[0]


async def fetch_now(engine: EngineClient, worker: str, business_key: str) -> list[ExternalTask]:
    """A fetch that does not wait (no long poll)."""
    return await engine.fetch_and_lock(worker, [TopicRequest(TOPIC, 60_000, business_key=business_key)], 1, 0)


async def eventually(check: Callable[[], Any], within_s: float = 60) -> Any:
    """Ask again until the answer is truthy (the engine's clocks are its own business)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not (answer := await check()):
        assert loop.time() < deadline, "the engine never got there"
        await asyncio.sleep(0.25)
    return answer


async def test_version(engine: EngineClient) -> None:
    assert (await engine.version()).startswith("7.")


# deployments


async def test_deploying_unchanged_files_again_deploys_nothing_new(
    deployment: Deployment, engine: EngineClient
) -> None:
    assert deployment.new_definitions == 5
    again = await engine.deploy(DEPLOYMENT, {"engine_client.bpmn": BPMN})
    assert again == Deployment(deployment.id, 0)
    # a new file next to unchanged ones: only the new one is deployed
    changed = await engine.deploy(DEPLOYMENT, {"engine_client.bpmn": BPMN, "extra.bpmn": EXTRA})
    assert changed.id != deployment.id
    assert changed.new_definitions == 1
    assert await engine.deploy(DEPLOYMENT, {"engine_client.bpmn": BPMN, "extra.bpmn": EXTRA}) == Deployment(
        changed.id, 0
    )


# variables


async def test_every_variable_type_travels_through_a_process(
    deployment: Deployment, engine: EngineClient, raw: httpx.AsyncClient
) -> None:
    # given an instance started with one variable of every type
    sent: dict[str, Any] = {
        "text": "Ελένη Παπαδοπούλου",
        "yes": True,
        "no": False,
        "count": 42,
        "max_long": 2**63 - 1,
        "big": 2**40,
        "forced_long": Long(5),
        "ratio": 0.25,
        "nothing": None,
        "when": datetime(2026, 3, 1, 9, 30, 15, 123000, tzinfo=ATHENS),
        "day": date(2026, 3, 1),
        "citizen": {"afm": "090000045", "name": "Ελένη", "children": [{"age": 7}]},
        "items": [1, "δύο", None],
        "json_text": JsonValue('{"k": [true, null]}'),
    }
    expected = sent | {
        "forced_long": 5,
        "day": datetime(2026, 3, 1, tzinfo=UTC),
        "json_text": {"k": [True, None]},
    }
    instance, task = await start_and_lock(engine, sent)
    # then the fetched task carries them decoded, each as the Python type it was
    assert task.variables == expected
    assert {name: type(value) for name, value in task.variables.items()} == {
        name: type(value) for name, value in expected.items()
    }
    # and the engine holds them under the types the process expects
    stored = (await raw.get(f"/process-instance/{instance.id}/variables", params={"deserializeValues": "false"})).json()
    assert {name: dto["type"] for name, dto in stored.items()} == {
        "text": "String",
        "yes": "Boolean",
        "no": "Boolean",
        "count": "Integer",
        "max_long": "Long",
        "big": "Long",
        "forced_long": "Long",
        "ratio": "Double",
        "nothing": "Null",
        "when": "Date",
        "day": "Date",
        "citizen": "Json",
        "items": "Json",
        "json_text": "Json",
    }
    # when the worker completes with variables of its own
    result = {"decision": {"approved": True, "fee": 12.5}, "decided_at": datetime.now(UTC).replace(microsecond=0)}
    await engine.complete(task.id, task.worker_id or "", variables=result, local_variables={"scratch": 1})
    # then the instance has them, next to the ones it started with; local ones ended with the task's scope
    assert await engine.process_variables(instance.id) == expected | result


async def test_a_fetch_brings_only_the_variables_asked_for(deployment: Deployment, engine: EngineClient) -> None:
    key = new_key()
    await engine.start_process(WORK, key, {"wanted": 1, "unwanted": "x", "also": {"a": 1}})
    topic = TopicRequest(TOPIC, 10_000, variables=("wanted", "also", "absent"), business_key=key)
    [task] = await engine.fetch_and_lock(new_worker(), [topic], 1, 5000)
    assert task.variables == {"wanted": 1, "also": {"a": 1}}
    assert task.activity_id == "work"
    assert task.activity_instance_id.startswith("work:")
    assert task.business_key == key
    assert task.process_definition_key == WORK
    assert task.retries is None
    assert task.lock_expiration_time is not None
    assert task.create_time is not None
    assert task.lock_expiration_time > task.create_time


async def test_process_variables_of_an_unknown_instance(engine: EngineClient) -> None:
    with pytest.raises(EngineNotFound):
        await engine.process_variables(str(uuid.uuid4()))


# long polling


async def test_a_long_poll_returns_a_task_created_while_it_waits(deployment: Deployment, engine: EngineClient) -> None:
    key = new_key()
    poll = asyncio.create_task(
        engine.fetch_and_lock(new_worker(), [TopicRequest(TOPIC, 10_000, business_key=key)], 1, 30_000)
    )
    await asyncio.sleep(1)  # let the request reach the engine and park there
    assert not poll.done()
    instance = await engine.start_process(WORK, key, {})
    tasks = await asyncio.wait_for(poll, timeout=25)  # woken by the task's creation, not by the 30 s timeout
    assert [t.process_instance_id for t in tasks] == [instance.id]


async def test_a_long_poll_with_nothing_to_do_returns_empty(engine: EngineClient) -> None:
    topic = TopicRequest(f"ec-{RUN}-quiet", 10_000)
    assert await engine.fetch_and_lock(new_worker(), [topic], 5, 500) == []


async def test_a_newer_long_poll_of_the_same_worker_cancels_the_older(engine: EngineClient) -> None:
    worker, topic = new_worker(), TopicRequest(f"ec-{RUN}-quiet", 10_000)
    older = asyncio.create_task(engine.fetch_and_lock(worker, [topic], 1, 30_000))
    await asyncio.sleep(1)
    assert await engine.fetch_and_lock(worker, [topic], 1, 500) == []
    with pytest.raises(LongPollCancelled) as caught:
        await older
    assert isinstance(caught.value, EngineOverloaded)
    assert caught.value.retryable


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"async_response_timeout_ms": MAX_ASYNC_RESPONSE_TIMEOUT_MS + 1}, "async_response_timeout_ms"),
        ({"async_response_timeout_ms": -1}, "async_response_timeout_ms"),
        ({"max_tasks": 0}, "max_tasks"),
        ({"topics": []}, "topic"),
        ({"topics": [TopicRequest("t", 0)]}, "lock duration"),
    ],
)
async def test_fetch_arguments_the_engine_would_refuse(
    engine: EngineClient, kwargs: dict[str, Any], message: str
) -> None:
    args: dict[str, Any] = {"topics": [TopicRequest("t", 1000)], "max_tasks": 1, "async_response_timeout_ms": 0}
    with pytest.raises(ValueError, match=message):
        await engine.fetch_and_lock("w", **(args | kwargs))


# reporting on external tasks


async def test_completing_a_task_another_worker_holds(deployment: Deployment, engine: EngineClient) -> None:
    _, task = await start_and_lock(engine)
    with pytest.raises(TaskLockedByOther) as caught:
        await engine.complete(task.id, "intruder")
    assert not caught.value.retryable
    assert caught.value.http_status == 400
    for report in (
        engine.failure(task.id, "intruder", "boom", None, 1, 0),
        engine.bpmn_error(task.id, "intruder", "REJECTED"),
    ):
        with pytest.raises(TaskLockedByOther):
            await report


async def test_completing_a_task_twice(deployment: Deployment, engine: EngineClient) -> None:
    _, task = await start_and_lock(engine)
    worker = task.worker_id or ""
    await engine.complete(task.id, worker)
    with pytest.raises(TaskGone) as caught:
        await engine.complete(task.id, worker)
    assert not caught.value.retryable
    for late in (
        engine.failure(task.id, worker, "late", None, 1, 0),
        engine.bpmn_error(task.id, worker, "REJECTED"),
        engine.extend_lock(task.id, worker, 1000),
        engine.unlock(task.id),
    ):
        with pytest.raises(TaskGone):
            await late


async def test_a_failure_without_retries_left_raises_an_incident(deployment: Deployment, engine: EngineClient) -> None:
    instance, task = await start_and_lock(engine)
    await engine.failure(task.id, task.worker_id or "", "the registry said no", "Traceback ...", 0, 0)
    [incident] = await engine.incidents(instance.id)
    assert incident.incident_type == "failedExternalTask"
    assert incident.configuration == task.id
    assert incident.incident_message == "the registry said no"
    assert incident.activity_id == "work"
    assert await fetch_now(engine, new_worker(), task.business_key or "") == []


async def test_a_failure_with_retries_comes_back_after_its_timeout(
    deployment: Deployment, engine: EngineClient
) -> None:
    instance, task = await start_and_lock(engine)
    key = task.business_key or ""
    await engine.failure(task.id, task.worker_id or "", "registry timed out", "details", 2, 3000)
    assert await fetch_now(engine, new_worker(), key) == []  # waiting out its retry timeout
    # a plain fetch (not a long poll): a parked poll would see it only at the engine's next 30 s sweep
    [again] = await eventually(lambda: fetch_now(engine, new_worker(), key))
    assert again.id == task.id
    assert again.retries == 2
    assert again.error_message == "registry timed out"
    assert await engine.incidents(instance.id) == []


async def test_a_bpmn_error_is_caught_by_the_boundary_event(deployment: Deployment, engine: EngineClient) -> None:
    instance, task = await start_and_lock(engine)
    await engine.bpmn_error(task.id, task.worker_id or "", "REJECTED", "the citizen is not eligible", {"reason": "age"})
    assert [t.task_definition_key for t in await engine.user_tasks(process_instance_id=instance.id)] == ["handle_error"]
    assert (await engine.process_variables(instance.id))["reason"] == "age"


# locks


async def test_extending_a_lock(deployment: Deployment, engine: EngineClient) -> None:
    _, task = await start_and_lock(engine, lock_ms=10_000)
    worker = task.worker_id or ""
    await engine.extend_lock(task.id, worker, 600_000)
    [listed] = await engine.locked_by(worker)
    assert listed.lock_expiration_time is not None
    assert task.lock_expiration_time is not None
    assert listed.lock_expiration_time > task.lock_expiration_time
    with pytest.raises(LockExpired):
        await engine.extend_lock(task.id, "intruder", 600_000)


async def test_extending_an_expired_lock(deployment: Deployment, engine: EngineClient) -> None:
    _, task = await start_and_lock(engine, lock_ms=500)
    assert task.lock_expiration_time is not None
    await asyncio.sleep(max(0.0, (task.lock_expiration_time - datetime.now(UTC)).total_seconds()) + 1)
    with pytest.raises(LockExpired) as caught:
        await engine.extend_lock(task.id, task.worker_id or "", 10_000)
    assert not caught.value.retryable
    assert "expired" in caught.value.detail


async def test_unlock_hands_the_task_to_another_worker(deployment: Deployment, engine: EngineClient) -> None:
    _, task = await start_and_lock(engine)
    key, other = task.business_key or "", new_worker()
    assert await fetch_now(engine, other, key) == []
    await engine.unlock(task.id)
    [again] = await fetch_now(engine, other, key)
    assert (again.id, again.worker_id) == (task.id, other)


async def test_locked_by_lists_the_tasks_a_worker_holds(deployment: Deployment, engine: EngineClient) -> None:
    worker = new_worker()
    _, first = await start_and_lock(engine, worker=worker)
    _, second = await start_and_lock(engine, worker=worker)
    assert {t.id for t in await engine.locked_by(worker)} == {first.id, second.id}
    await engine.complete(first.id, worker)
    [left] = await engine.locked_by(worker)
    assert (left.id, left.worker_id, left.topic_name, left.variables) == (second.id, worker, TOPIC, {})
    assert await engine.locked_by(new_worker()) == []


# user tasks


async def test_a_user_task_is_claimed_released_and_completed(deployment: Deployment, engine: EngineClient) -> None:
    key = new_key()
    instance = await engine.start_process(REVIEW, key, {"office": "KEP-001"})
    # the group sees it
    [task] = await engine.user_tasks(candidate_group=GROUP, business_key=key)
    assert (task.task_definition_key, task.process_instance_id, task.assignee) == ("first_review", instance.id, None)
    # a clerk claims it (twice is harmless); a colleague cannot take it over
    await engine.claim(task.id, "maria")
    await engine.claim(task.id, "maria")
    assert (await engine.user_task(task.id)).assignee == "maria"
    with pytest.raises(TaskAlreadyClaimed):
        await engine.claim(task.id, "nikos")
    assert await engine.user_tasks(candidate_group=GROUP, business_key=key) == []
    assert [t.id for t in await engine.user_tasks(candidate_group=GROUP, business_key=key, include_assigned=True)] == [
        task.id
    ]
    assert [t.id for t in await engine.user_tasks(assignee="maria", process_instance_id=instance.id)] == [task.id]
    # released, it is the group's again
    await engine.unclaim(task.id)
    assert (await engine.user_task(task.id)).assignee is None
    # completed with the clerk's decision, the process moves on
    await engine.complete_user_task(task.id, {"approved": True, "remarks": {"el": "Εντάξει"}})
    assert [t.task_definition_key for t in await engine.user_tasks(process_instance_id=instance.id)] == ["after_review"]
    variables = await engine.process_variables(instance.id)
    assert (variables["approved"], variables["remarks"], variables["office"]) == (True, {"el": "Εντάξει"}, "KEP-001")
    # and the task is gone for everyone
    for late in (
        engine.complete_user_task(task.id),
        engine.user_task(task.id),
        engine.claim(task.id, "maria"),
        engine.unclaim(task.id),
    ):
        with pytest.raises(TaskGone):
            await late


async def walk(engine: EngineClient, query: TaskQuery, limit: int) -> list[UserTask]:
    """Every task of the query, page by page."""
    seen: list[UserTask] = []
    after: TaskPosition | None = None
    while True:
        page = await engine.user_task_page(query, limit, after)
        assert len(page.tasks) <= limit
        seen += page.tasks
        if page.after is None:
            return seen
        assert page.tasks
        after = page.after


def creation_order(tasks: list[UserTask]) -> list[str]:
    return [t.id for t in sorted(tasks, key=lambda t: (t.created, t.id))]


async def test_pages_of_user_tasks_hold_each_task_once_in_creation_order(
    deployment: Deployment, engine: EngineClient
) -> None:
    # given tasks created many to a millisecond (parallel multi-instance): the engine's createdAfter is strict
    keys = [new_key() for _ in range(3)]
    for key, copies in zip(keys, (40, 25, 1), strict=True):
        await engine.start_process(MANY, key, {"copies": copies})
    query = TaskQuery(candidate_group=GROUP, include_assigned=True, business_key=keys[0])
    everything = await engine.user_tasks(candidate_group=GROUP, include_assigned=True, business_key=keys[0])
    assert len(everything) == 40
    assert [t.id for t in everything] == creation_order(everything)
    # when they are read page by page, whatever the page size
    for limit in (1, 3, 7, 40, 100):
        # then each task comes once, in creation order, ties by id
        assert [t.id for t in await walk(engine, query, limit)] == [t.id for t in everything]
    # the engine's filters combine with the pages
    two_cases = [
        t for key in keys[:2] for t in await walk(engine, TaskQuery(candidate_group=GROUP, business_key=key), 6)
    ]
    assert len(two_cases) == 65
    assert len({t.id for t in two_cases}) == 65
    # the last page says so; one page of everything has no next
    page = await engine.user_task_page(query, 40)
    assert (len(page.tasks), page.after) == (40, None)
    with pytest.raises(ValueError, match="limit"):
        await engine.user_task_page(query, 0)


async def test_a_page_after_changes_before_it_neither_skips_nor_repeats(
    deployment: Deployment, engine: EngineClient
) -> None:
    # given one case's 30 tasks, free to claim
    key = new_key()
    await engine.start_process(MANY, key, {"copies": 30})
    free = TaskQuery(candidate_group=GROUP, business_key=key, unassigned=True)
    before = [t.id for t in await engine.user_tasks(candidate_group=GROUP, business_key=key)]
    # when after each page a task of that page is claimed (it leaves the list, and shifts those behind it)
    seen: list[str] = []
    after: TaskPosition | None = None
    while True:
        page = await engine.user_task_page(free, 4, after)
        seen += [t.id for t in page.tasks]
        if page.tasks:
            await engine.claim(page.tasks[0].id, "maria")
        if page.after is None:
            break
        after = page.after
    # then every task still came once, in order
    assert seen == before
    # and a position whose task is gone still leads on to the tasks after it
    claimed = await engine.user_tasks(assignee="maria", business_key=key)
    gone = claimed[len(claimed) // 2]
    await engine.complete_user_task(gone.id)
    everyone = TaskQuery(candidate_group=GROUP, business_key=key, include_assigned=True)
    rest = await engine.user_task_page(everyone, 100, TaskPosition(gone.created, gone.id, tied=1))
    assert [t.id for t in rest.tasks] == before[before.index(gone.id) + 1 :]


async def test_one_task_of_a_group_by_id(deployment: Deployment, engine: EngineClient) -> None:
    key = new_key()
    await engine.start_process(MANY, key, {"copies": 2})
    first, _ = await engine.user_tasks(candidate_group=GROUP, business_key=key)
    await engine.claim(first.id, "maria")
    found = await engine.user_tasks(task_id=first.id, candidate_group=GROUP, include_assigned=True, max_results=1)
    assert [(t.id, t.assignee) for t in found] == [(first.id, "maria")]
    assert await engine.user_tasks(task_id=first.id, candidate_group=GROUP, max_results=1) == []  # claimed
    assert await engine.user_tasks(task_id=first.id, candidate_group="another-office", include_assigned=True) == []
    assert await engine.user_tasks(task_id=str(uuid.uuid4()), candidate_group=GROUP, include_assigned=True) == []


# running instances, history, jobs, subscriptions


async def test_running_instances_by_key_business_key_and_ids(deployment: Deployment, engine: EngineClient) -> None:
    keys = [new_key() for _ in range(3)]
    started = [await engine.start_process(MANY, key, {"copies": 1}) for key in keys]
    by_key = await engine.process_instances(business_key=keys[1])
    assert by_key == [RunningInstance(id=started[1].id, business_key=keys[1], definition_id=started[1].definition_id,
                                      definition_key=MANY, suspended=False)]  # fmt: skip
    # ids travel in the body: a thousand of them would not fit a URL
    ids = [str(uuid.uuid4()) for _ in range(1000)] + [started[0].id, started[2].id]
    found = await engine.process_instances(process_instance_ids=ids, max_results=10)
    assert {i.id: i.business_key for i in found} == {started[0].id: keys[0], started[2].id: keys[2]}
    assert await engine.process_instance_count(process_instance_ids=ids) == 2
    assert await engine.business_keys(ids) == {started[0].id: keys[0], started[2].id: keys[2]}
    assert await engine.process_instances(process_instance_ids=[]) == []
    assert await engine.process_instance_count(process_instance_ids=[]) == 0
    # paged by id
    total = await engine.process_instance_count(process_definition_key=MANY)
    assert total >= 3
    pages = [await engine.process_instances(process_definition_key=MANY, first_result=n, max_results=2)
             for n in range(0, total, 2)]  # fmt: skip
    listed = [i.id for page in pages for i in page]
    assert listed == sorted(listed)
    assert {s.id for s in started} <= set(listed)


async def test_a_waiting_instance_its_timer_and_its_message_subscription(
    deployment: Deployment, engine: EngineClient, raw: httpx.AsyncClient
) -> None:
    # given instances waiting for a message or their reminder timer, whichever comes first
    woken, reminded = new_key(), new_key()
    first = await engine.start_process(TIMER, woken, {})
    second = await engine.start_process(TIMER, reminded, {})
    # they wait for the message, each at its catch event
    [subscription] = await engine.message_subscriptions(WAKE, process_instance_id=first.id)
    assert (subscription.process_instance_id, subscription.activity_id, subscription.event_name) == (
        first.id,
        "wake_up",
        WAKE,
    )
    waiting = {s.process_instance_id for s in await engine.message_subscriptions(WAKE)}
    assert {first.id, second.id} <= waiting
    assert await engine.message_subscriptions(f"{WAKE}-nobody") == []
    # and each has its timer job, with the activity it belongs to
    [job] = await engine.jobs(process_instance_id=second.id)
    assert (job.process_instance_id, job.activity_id, job.suspended, job.process_definition_key) == (
        second.id,
        "reminder",
        False,
        TIMER,
    )
    assert job.due_date is not None
    assert job.due_date.tzinfo is not None
    assert [j.id for j in await engine.jobs(process_instance_id=second.id, activity_id="wake_up")] == []
    assert [j.id for j in await engine.jobs(process_instance_id=second.id, timers=False)] == [job.id]
    by_definition = await engine.jobs(process_definition_key=TIMER, activity_id="reminder", max_results=1000)
    assert {first.id, second.id} <= {j.process_instance_id for j in by_definition}
    # when the timer is moved and suspended, and activated again
    due = datetime(2031, 5, 17, 8, 30, 0, 250000, tzinfo=ATHENS)
    await engine.set_job_due_date(job.id, due)
    await engine.set_job_suspended(job.id, True)
    [moved] = await engine.jobs(process_instance_id=second.id)
    assert (moved.due_date, moved.suspended) == (due, True)
    await engine.set_job_suspended(job.id, False)
    assert [j.suspended for j in await engine.jobs(process_instance_id=second.id)] == [False]
    # then the message ends the first at its own end event, and the timer, run now, the second
    await engine.correlate_message(WAKE, business_key=woken)
    assert (await raw.post(f"/job/{job.id}/execute")).status_code == 204
    assert await engine.message_subscriptions(WAKE, process_instance_id=first.id) == []
    assert await engine.jobs(process_instance_id=second.id) == []
    [done] = await engine.historic_process_instances(business_key=woken)
    assert (done.id, done.state, done.end_activity_id, done.business_key) == (
        first.id,
        InstanceState.COMPLETED,
        "woken",
        woken,
    )
    assert done.end_time is not None
    assert done.end_time >= done.start_time
    [timed_out] = await engine.historic_process_instances(business_key=reminded, finished=True)
    assert (timed_out.state, timed_out.end_activity_id) == (InstanceState.COMPLETED, "reminded")
    assert await engine.historic_process_instances(business_key=reminded, finished=False) == []
    # a job that is gone: no due date, no suspension
    for late in (engine.set_job_due_date(job.id, due), engine.set_job_suspended(job.id, True)):
        with pytest.raises(EngineNotFound) as caught:
            await late
        assert not caught.value.retryable


async def test_variables_are_set_on_a_running_instance(deployment: Deployment, engine: EngineClient) -> None:
    instance = await engine.start_process(TIMER, new_key(), {"status": "submitted"})
    when = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    await engine.set_variables(instance.id, {"status": "suspended", "since": when, "why": {"missing": ["ΑΦΜ"]}})
    await engine.set_variables(instance.id, {})
    assert await engine.process_variables(instance.id) == {
        "status": "suspended",
        "since": when,
        "why": {"missing": ["ΑΦΜ"]},
    }
    with pytest.raises(EngineNotFound):
        await engine.set_variables(str(uuid.uuid4()), {"status": "x"})


async def test_deleting_an_instance_and_its_history(deployment: Deployment, engine: EngineClient) -> None:
    key = new_key()
    instance = await engine.start_process(TIMER, key, {})
    [running] = await engine.historic_process_instances(business_key=key, finished=False)
    assert (running.state, running.end_time, running.end_activity_id) == (InstanceState.ACTIVE, None, None)
    assert await engine.delete_process_instance(instance.id) is True
    assert await engine.delete_process_instance(instance.id) is False  # already gone: not an error
    assert await engine.delete_process_instance(str(uuid.uuid4())) is False
    assert await engine.process_instances(business_key=key) == []
    [deleted] = await engine.historic_process_instances(business_key=key)
    assert (deleted.id, deleted.state, deleted.end_activity_id) == (
        instance.id,
        InstanceState.EXTERNALLY_TERMINATED,
        None,
    )
    assert deleted.end_time is not None


async def test_the_new_queries_stay_in_their_tenant(settings: Settings) -> None:
    ours, theirs = f"ec-a-{uuid.uuid4().hex[:8]}", f"ec-b-{uuid.uuid4().hex[:8]}"
    async with (
        EngineClient(settings.engine_url, tenant_id=ours, retry=FAST) as engine,
        EngineClient(settings.engine_url, tenant_id=theirs, retry=FAST) as other,
    ):
        deployed = await engine.deploy(f"{DEPLOYMENT}-tenant", {"engine_client.bpmn": BPMN})
        try:
            key = new_key()
            instance = await engine.start_process(TIMER, key, {})
            await engine.start_process(MANY, key, {"copies": 2})
            assert [i.tenant_id for i in await engine.process_instances(business_key=key)] == [ours, ours]
            assert [j.tenant_id for j in await engine.jobs(process_instance_id=instance.id)] == [ours]
            assert len(await engine.message_subscriptions(WAKE)) == 1
            assert len(await engine.historic_process_instances(business_key=key)) == 2
            assert len(await walk(engine, TaskQuery(candidate_group=GROUP), 1)) == 2
            for nothing in (
                other.process_instances(business_key=key),
                other.jobs(process_instance_id=instance.id),
                other.message_subscriptions(WAKE),
                other.historic_process_instances(business_key=key),
                other.user_tasks(candidate_group=GROUP),
            ):
                assert await nothing == []
            assert await other.process_instance_count(business_key=key) == 0
            assert (await other.user_task_page(TaskQuery(candidate_group=GROUP), 10)).tasks == []
        finally:
            async with httpx.AsyncClient(base_url=settings.engine_url, timeout=30) as http:
                await http.delete(f"/deployment/{deployed.id}", params={"cascade": "true"})


# messages and starts


async def test_a_message_moves_the_instance_waiting_for_it(deployment: Deployment, engine: EngineClient) -> None:
    by_key, by_id = new_key(), new_key()
    first = await engine.start_process(WAITING, by_key, {})
    second = await engine.start_process(WAITING, by_id, {})
    await engine.correlate_message(MESSAGE, business_key=by_key, variables={"documents": 2})
    await engine.correlate_message(MESSAGE, process_instance_id=second.id)
    for instance in (first, second):
        tasks = await engine.user_tasks(process_instance_id=instance.id)
        assert [t.task_definition_key for t in tasks] == ["after_message"]
    assert (await engine.process_variables(first.id)) == {"documents": 2}


async def test_a_message_nobody_waits_for_is_rejected(deployment: Deployment, engine: EngineClient) -> None:
    with pytest.raises(EngineRejected) as caught:
        await engine.correlate_message(MESSAGE, business_key=new_key())
    assert not caught.value.retryable
    assert "Cannot correlate message" in caught.value.detail


async def test_starting_a_business_key_that_runs_returns_the_running_instance(
    deployment: Deployment, engine: EngineClient, raw: httpx.AsyncClient
) -> None:
    key = new_key()
    first = await engine.start_process(REVIEW, key, {"office": "A"})
    again = await engine.start_process(REVIEW, key, {"office": "B"})
    assert first.started
    assert again == ProcessInstance(first.id, key, first.definition_id, started=False)
    running = (await raw.get("/process-instance", params={"businessKey": key})).json()
    assert [r["id"] for r in running] == [first.id]
    assert (await engine.process_variables(first.id))["office"] == "A"


async def test_starting_an_unknown_process(engine: EngineClient) -> None:
    with pytest.raises(EngineNotFound) as caught:
        await engine.start_process(f"ec_{RUN}_nothing", new_key(), {})
    assert not caught.value.retryable


# what the engine cannot be made to do on demand: a scripted engine


Scripted = Callable[..., tuple[EngineClient, list[httpx.Request]]]


@pytest.fixture
async def scripted() -> AsyncIterator[Scripted]:
    """`scripted(*answers)`: a client whose engine gives these answers in turn, and the requests it received."""
    opened: list[httpx.AsyncClient] = []

    def create(*answers: httpx.Response | Exception) -> tuple[EngineClient, list[httpx.Request]]:
        seen: list[httpx.Request] = []
        queue = list(answers)

        def handle(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            answer = queue.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer

        opened.append(httpx.AsyncClient(transport=httpx.MockTransport(handle)))
        return EngineClient("http://engine.invalid/engine-rest", client=opened[-1], retry=FAST), seen

    yield create
    for http in opened:
        await http.aclose()


def error(
    status: int, message: str = "", code: int | None = 0, type_: str = "ProcessEngineException"
) -> httpx.Response:
    return httpx.Response(status, json={"type": type_, "message": message, "code": code})


async def test_an_optimistic_locking_clash_is_retried(scripted: Scripted) -> None:
    engine, seen = scripted(
        error(500, "Entity was updated by another transaction concurrently", 1), httpx.Response(204)
    )
    await engine.complete("t1", "w")
    assert len(seen) == 2


async def test_retries_stop_after_the_policy_attempts(scripted: Scripted) -> None:
    engine, seen = scripted(*[error(500, "deadlock", 10000)] * FAST.attempts)
    with pytest.raises(EngineConflict):
        await engine.extend_lock("t1", "w", 1000)
    assert len(seen) == FAST.attempts


@pytest.mark.parametrize(
    ("answer", "raised"),
    [
        (error(500, "At the moment the server has to handle too many requests at the same time."), EngineOverloaded),
        (httpx.Response(503, text="<html>Service Unavailable</html>"), LongPollCancelled),
        (error(500, "Request rejected due to shutdown of application in process"), EngineUnavailable),
        (httpx.Response(502), EngineUnavailable),
        (error(400, "The asynchronous response timeout cannot be set to a value greater than 1800000"), EngineRejected),
    ],
)
async def test_fetch_errors_are_typed_and_not_retried(
    scripted: Scripted, answer: httpx.Response, raised: type[Exception]
) -> None:
    engine, seen = scripted(answer)
    with pytest.raises(raised):
        await engine.fetch_and_lock("w", [TopicRequest("t", 1000)], 1, 1000)
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("answer", "raised"),
    [
        (
            error(500, "Unknown property used in expression: ${office}. Cause: Cannot resolve identifier"),
            EngineRejected,
        ),
        (error(500, "value too long", 10002), EngineRejected),
        (
            error(500, "Task 't1' is already claimed by someone else.", type_="TaskAlreadyClaimedException"),
            TaskAlreadyClaimed,
        ),
        (error(401, "Unauthorized", None, "AuthenticationException"), EngineRejected),
        # what the engine says to a due date for a job, or variables for an instance, that is gone
        (error(500, "No job found with id 'j1'.", None, "InvalidRequestException"), EngineNotFound),
        (
            error(
                500, "Cannot modify variables for process instance p1: execution p1 doesn't exist", 0, "RestException"
            ),
            EngineNotFound,
        ),
    ],
)
async def test_errors_a_retry_cannot_fix_are_not_retried(
    scripted: Scripted, answer: httpx.Response, raised: type[Exception]
) -> None:
    engine, seen = scripted(answer)
    with pytest.raises(raised):
        await engine.complete_user_task("t1")
    assert len(seen) == 1


async def test_a_long_poll_reads_for_the_engine_wait_plus_a_margin(scripted: Scripted) -> None:
    engine, seen = scripted(httpx.Response(200, json=[]))
    assert await engine.fetch_and_lock("w", [TopicRequest("t", 1000)], 3, 60_000) == []
    assert seen[0].extensions["timeout"]["read"] == 70.0


async def test_an_unreachable_engine_is_retried_even_for_a_correlation(scripted: Scripted) -> None:
    refused = httpx.ConnectError("connection refused")
    engine, seen = scripted(refused, refused, httpx.Response(204))
    await engine.correlate_message("go", business_key="k")
    assert len(seen) == 3


async def test_a_correlation_that_may_have_arrived_is_not_repeated(scripted: Scripted) -> None:
    engine, seen = scripted(httpx.ReadTimeout("no answer"), httpx.Response(204))
    with pytest.raises(EngineUnavailable) as caught:
        await engine.correlate_message("go", business_key="k")
    assert caught.value.sent
    assert len(seen) == 1


async def test_a_start_that_may_have_arrived_looks_for_its_instance_before_starting_again(scripted: Scripted) -> None:
    instance = {"id": "pi-1", "businessKey": "k", "definitionId": "p:1:x"}
    engine, seen = scripted(
        httpx.Response(200, json=[]),  # nothing runs with that key
        httpx.ReadTimeout("no answer"),  # the start: did it happen?
        httpx.Response(200, json=[instance]),  # it did
    )
    assert await engine.start_process("p", "k", {}) == ProcessInstance("pi-1", "k", "p:1:x", started=False)
    assert [(r.method, r.url.path) for r in seen] == [
        ("GET", "/engine-rest/process-instance"),
        ("POST", "/engine-rest/process-definition/key/p/start"),
        ("GET", "/engine-rest/process-instance"),
    ]


async def test_a_bare_400_from_an_engine_shutting_down_is_not_a_rejection(scripted: Scripted) -> None:
    # seen in the engine-restart test: a start answered 400 with no REST error body while the engine went down;
    # taken as a rejection, the case.opened event was dead-lettered and the case never got its process
    instance = {"id": "pi-1", "businessKey": "k", "definitionId": "p:1:x"}
    engine, seen = scripted(
        httpx.Response(200, json=[]),
        httpx.Response(400, text=""),
        httpx.Response(200, json=[]),
        error(400, "No process engine available", type_="InvalidRequestException"),
        httpx.Response(200, json=[]),
        httpx.Response(200, json=instance),
    )
    assert await engine.start_process("p", "k", {}) == ProcessInstance("pi-1", "k", "p:1:x")
    assert len(seen) == 6


async def test_a_400_with_the_engines_error_is_a_rejection(scripted: Scripted) -> None:
    engine, seen = scripted(
        httpx.Response(200, json=[]), error(400, "No process definition found", type_="RestException")
    )
    with pytest.raises(EngineRejected):
        await engine.start_process("p", "k", {})
    assert len(seen) == 2


async def test_fetchable_counts_what_a_fetch_would_lock_now(settings: Settings) -> None:
    tenant = f"count-{uuid.uuid4().hex[:8]}"
    async with EngineClient(settings.engine_url, tenant_id=tenant, retry=FAST) as engine:
        deployed = await engine.deploy(f"{DEPLOYMENT}-count", {"engine_client.bpmn": BPMN})
        try:
            for _ in range(3):
                await engine.start_process(WORK, new_key(), {})
            assert await engine.fetchable(TOPIC) == 3
            worker = new_worker()
            locked = await engine.fetch_and_lock(worker, [TopicRequest(TOPIC, 60_000)], 2, 0)
            assert await engine.fetchable(TOPIC) == 1  # a locked task is in hand, not waiting
            await engine.failure(locked[0].id, worker, "later", None, retries=1, retry_timeout_ms=60_000)
            assert await engine.fetchable(TOPIC) == 1  # waiting out its retry timeout
            await engine.unlock(locked[1].id)
            assert await engine.fetchable(TOPIC) == 2
            assert await engine.fetchable("no-such-topic") == 0
        finally:
            async with httpx.AsyncClient(base_url=settings.engine_url, timeout=30) as http:
                await http.delete(f"/deployment/{deployed.id}", params={"cascade": "true"})

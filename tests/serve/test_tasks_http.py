"""The office's user tasks over HTTP at scale: thousands of open tasks in one office, paged by cursor, filtered by
the engine; actions find their one task; another office sees nothing.

The tasks come from a process of this module's own in the session's tenant: a user task for `${office}`, `copies`
times at once (parallel multi-instance, so many share a millisecond).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from itertools import pairwise
from typing import Any

import asyncpg
import httpx
import pytest

from bpmn_bridge.engine import EngineClient
from infra.db import advisory_lock
from infra.settings import Settings
from serve.routers.tasks import task_lock_key
from tests.conftest import OfficeFactory
from tests.helpers import bearer

RUN = uuid.uuid4().hex[:8]
KEY = f"tasks_http_{RUN}"
BPMN = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="tasks_http" targetNamespace="urn:kep:tests">
  <bpmn:process id="{KEY}" isExecutable="true" camunda:historyTimeToLive="P1D">
    <bpmn:startEvent id="start"/>
    <bpmn:userTask id="check" name="Έλεγχος φακέλου" camunda:candidateGroups="${{office}}">
      <bpmn:multiInstanceLoopCharacteristics>
        <bpmn:loopCardinality>${{copies}}</bpmn:loopCardinality>
      </bpmn:multiInstanceLoopCharacteristics>
    </bpmn:userTask>
    <bpmn:endEvent id="done"/>
    <bpmn:sequenceFlow id="to_check" sourceRef="start" targetRef="check"/>
    <bpmn:sequenceFlow id="to_done" sourceRef="check" targetRef="done"/>
  </bpmn:process>
</bpmn:definitions>
""".encode()
CASES = 1_400  # more instances than a URL listing their ids could carry (the old list answered 503)
BIG_CASE = 120  # one case with many tasks created at once: long runs of equal creation times


Starter = Callable[[uuid.UUID, dict[str, int]], Any]


@pytest.fixture(scope="module")
async def engine(settings: Settings) -> AsyncIterator[EngineClient]:
    """The process deployed into the session's tenant; the deployment goes with all its instances at the end."""
    async with EngineClient(settings.engine_url, tenant_id=settings.engine_tenant) as client:
        deployed = await client.deploy(f"tasks-http-{RUN}", {"tasks_http.bpmn": BPMN})
        yield client
        async with httpx.AsyncClient(base_url=settings.engine_url, timeout=600) as raw:
            gone = await raw.delete(
                f"/deployment/{deployed.id}", params={"cascade": "true", "skipCustomListeners": "true"}
            )
            assert gone.status_code == 204, gone.text


@pytest.fixture
async def start_cases(engine: EngineClient, settings: Settings) -> AsyncIterator[Starter]:
    """`await start_cases(office, {case id: copies})`: one instance per case, eight starts at a time."""
    path = f"/process-definition/key/{KEY}/tenant-id/{settings.engine_tenant}/start"
    async with httpx.AsyncClient(base_url=settings.engine_url, timeout=60) as raw:
        gate = asyncio.Semaphore(8)

        async def one(office: uuid.UUID, case: str, copies: int) -> None:
            variables = {
                "office": {"type": "String", "value": str(office)},
                "copies": {"type": "Integer", "value": copies},
            }
            async with gate:
                started = await raw.post(path, json={"businessKey": case, "variables": variables})
            assert started.status_code == 200, started.text

        async def start(office: uuid.UUID, cases: dict[str, int]) -> None:
            await asyncio.gather(*(one(office, case, copies) for case, copies in cases.items()))

        yield start


async def walk(http: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    """Every task of the list, page by page through `next_cursor`."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        resp = await http.get("/api/tasks", params=params | ({"cursor": cursor} if cursor else {}), headers=headers)
        assert resp.status_code == 200, resp.text
        page = resp.json()
        assert len(page["items"]) <= params.get("limit", 25)
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
        assert page["items"]


def in_order(items: list[dict[str, Any]]) -> bool:
    keys = [(datetime.fromisoformat(t["created"]), t["id"]) for t in items]
    return all(a < b for a, b in pairwise(keys))


@pytest.mark.timeout(900)
async def test_thousands_of_open_tasks_in_one_office_page_by_page(
    http: httpx.AsyncClient,
    engine: EngineClient,
    start_cases: Starter,
    make_office: OfficeFactory,
    token_for: Callable[..., str],
) -> None:
    # given one office with 1,400 cases of two tasks each and one case of 120 tasks
    office = await make_office()
    cases = {str(uuid.uuid4()): 2 for _ in range(CASES)}
    big = str(uuid.uuid4())
    cases[big] = BIG_CASE
    await start_cases(office, cases)
    total = sum(cases.values())
    employee, colleague = bearer(token_for(office, subject=f"emp-{RUN}")), bearer(token_for(office))

    # when the office's list is read to its end
    items = await walk(http, employee, limit=100)
    # then every task came once, oldest first, each with its case
    assert len(items) == total
    assert len({t["id"] for t in items}) == total
    assert in_order(items)
    assert Counter(t["case_id"] for t in items) == Counter(cases)
    engine_view = await engine.user_tasks(candidate_group=str(office), include_assigned=True)
    assert {t["id"] for t in items} == {t.id for t in engine_view}
    assert {t["name"] for t in items} == {"Έλεγχος φακέλου"}
    # one case's tasks, in small pages through runs of equal creation times
    of_big = await walk(http, employee, case_id=big, limit=7)
    assert len({t["id"] for t in of_big}) == len(of_big) == BIG_CASE
    assert {t["case_id"] for t in of_big} == {big}
    assert in_order(of_big)

    # given some tasks claimed by the employee and some by a colleague
    mine, theirs = items[:3], items[10:12]
    for task, headers in [(t, employee) for t in mine] + [(t, colleague) for t in theirs]:
        assert (await http.post(f"/api/tasks/{task['id']}/claim", headers=headers)).status_code == 204
    # then each sees their own, and the rest are free to claim
    assert [t["id"] for t in await walk(http, employee, scope="mine")] == [t["id"] for t in mine]
    assert [t["id"] for t in await walk(http, colleague, scope="mine")] == [t["id"] for t in theirs]
    free = await walk(http, employee, scope="unassigned", limit=100)
    assert len(free) == total - 5
    assert {t["id"] for t in free}.isdisjoint(t["id"] for t in mine + theirs)
    assert all(t["assignee"] is None for t in free)
    # a task someone else holds cannot be claimed
    taken = await http.post(f"/api/tasks/{theirs[0]['id']}/claim", headers=employee)
    assert taken.status_code == 409, taken.text
    assert taken.json()["title"] == "Conflict"

    # another office sees none of it, and cannot act on it
    stranger = bearer(token_for(await make_office(), roles=("employee", "supervisor")))
    assert (await http.get("/api/tasks", headers=stranger)).json() == {"items": [], "next_cursor": None}
    assert (await http.get("/api/tasks", params={"case_id": big}, headers=stranger)).json()["items"] == []
    for action in ("claim", "unclaim"):
        assert (await http.post(f"/api/tasks/{items[20]['id']}/{action}", headers=stranger)).status_code == 404


async def test_who_may_do_what_with_a_task(
    http: httpx.AsyncClient,
    engine: EngineClient,
    start_cases: Starter,
    make_office: OfficeFactory,
    token_for: Callable[..., str],
) -> None:
    office, case = await make_office(), str(uuid.uuid4())
    await start_cases(office, {case: 3})
    maria = bearer(token_for(office, subject=f"maria-{RUN}"))
    nikos = bearer(token_for(office, subject=f"nikos-{RUN}"))
    boss = bearer(token_for(office, roles=("employee", "supervisor")))
    page = (await http.get("/api/tasks", params={"case_id": case, "limit": 2}, headers=maria)).json()
    assert len(page["items"]) == 2
    assert page["next_cursor"] is not None
    first, second = (t["id"] for t in page["items"])

    # completing a task nobody claimed, or someone else's, is a conflict
    data = {"data": {"ok": True}}
    assert (await http.post(f"/api/tasks/{first}/complete", json=data, headers=maria)).status_code == 409
    assert (await http.post(f"/api/tasks/{first}/claim", headers=maria)).status_code == 204
    assert (await http.post(f"/api/tasks/{first}/claim", headers=maria)).status_code == 204  # again: fine
    assert (await http.post(f"/api/tasks/{first}/complete", json=data, headers=nikos)).status_code == 409
    # a colleague cannot give it back for her; a supervisor can; giving back a free task is fine
    assert (await http.post(f"/api/tasks/{first}/unclaim", headers=nikos)).status_code == 403
    assert (await http.post(f"/api/tasks/{first}/unclaim", headers=boss)).status_code == 204
    assert (await http.post(f"/api/tasks/{first}/unclaim", headers=maria)).status_code == 204
    # claimed, it is completed without data (it has no form to judge data by), never with a process's variable
    assert (await http.post(f"/api/tasks/{second}/claim", headers=nikos)).status_code == 204
    unjudged = await http.post(f"/api/tasks/{second}/complete", json=data, headers=nikos)
    assert (unjudged.status_code, unjudged.json()["errors"][0]["path"]) == (422, "/data"), unjudged.text
    moved = await http.post(f"/api/tasks/{second}/complete", json={"data": {"office": "elsewhere"}}, headers=nikos)
    assert (moved.status_code, moved.json()["errors"][0]["path"]) == (422, "/data/office"), moved.text
    done = await http.post(f"/api/tasks/{second}/complete", json={"data": {}}, headers=nikos)
    assert done.status_code == 204, done.text
    [instance] = await engine.process_instances(business_key=case)
    assert (await engine.process_variables(instance.id))["office"] == str(office)
    for action in ("claim", "unclaim"):
        assert (await http.post(f"/api/tasks/{second}/{action}", headers=nikos)).status_code == 404
    assert (await http.post(f"/api/tasks/{uuid.uuid4()}/claim", headers=nikos)).status_code == 404
    # the next page goes on after the first
    rest = (await http.get("/api/tasks", params={"case_id": case, "cursor": page["next_cursor"]}, headers=maria)).json()
    assert [t["id"] for t in rest["items"]] == [
        t.id for t in await engine.user_tasks(candidate_group=str(office), include_assigned=True)
    ][1:]
    assert rest["next_cursor"] is None


async def test_a_task_given_to_someone_else_meanwhile_is_not_completed_by_its_former_holder(
    http: httpx.AsyncClient,
    engine: EngineClient,
    start_cases: Starter,
    make_office: OfficeFactory,
    token_for: Callable[..., str],
    pool: asyncpg.Pool[asyncpg.Record],
) -> None:
    """Maria's completion is checked and done while a supervisor's reassignment is under way (the test holds the
    task's lock as that reassignment would): it must wait for it, then see that the task is Nikos's now."""
    office, case = await make_office(), str(uuid.uuid4())
    await start_cases(office, {case: 1})
    maria = bearer(token_for(office, subject=f"maria-{RUN}"))
    [task] = await engine.user_tasks(candidate_group=str(office), include_assigned=True)
    assert (await http.post(f"/api/tasks/{task.id}/claim", headers=maria)).status_code == 204

    async with advisory_lock(pool, task_lock_key(task.id)):  # the supervisor's reassignment, in flight
        completing = asyncio.create_task(http.post(f"/api/tasks/{task.id}/complete", json={"data": {}}, headers=maria))
        await asyncio.sleep(1)  # room for a completion that does not wait (the defect) to get through
        assert not completing.done()
        await engine.unclaim(task.id)
        await engine.claim(task.id, f"nikos-{RUN}")

    refused = await completing
    assert refused.status_code == 409, refused.text
    [still] = await engine.user_tasks(task_id=task.id, candidate_group=str(office), include_assigned=True)
    assert still.assignee == f"nikos-{RUN}"


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"scope": "everyone"}, {"cursor": "bm90IG91cnM"}, {"cursor": "%%%"}],
)
async def test_list_parameters_it_refuses(
    http: httpx.AsyncClient, make_office: OfficeFactory, token_for: Callable[..., str], params: dict[str, Any]
) -> None:
    resp = await http.get("/api/tasks", params=params, headers=bearer(token_for(await make_office())))
    assert resp.status_code == 422, resp.text
    assert [e["path"] for e in resp.json()["errors"]] == ["/" + next(iter(params))]

"""Our engine build: processes auto-deployed from bpmn_bridge/processes, typed Json variables, external tasks."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from infra.settings import Settings


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=settings.engine_url, timeout=30) as client:
        yield client


async def test_the_case_process_is_deployed(engine: httpx.AsyncClient) -> None:
    defs = (
        await engine.get(
            "/process-definition", params={"key": "kep_case", "latestVersion": "true", "withoutTenantId": "true"}
        )
    ).json()
    assert [d["key"] for d in defs] == ["kep_case"]
    assert defs[0]["historyTimeToLive"] == 180


async def test_a_case_instance_runs_its_external_task_with_json_variables(engine: httpx.AsyncClient) -> None:
    # given an instance with a Json variable (needs Spin in the engine build)
    key = f"test-{uuid.uuid4()}"
    started = await engine.post(
        "/process-definition/key/kep_case/start",
        json={
            "businessKey": key,
            "variables": {
                "office": {"type": "String", "value": "KEP-TEST"},
                "citizen": {"type": "Json", "value": json.dumps({"afm": "090000045", "name": "Ελένη"})},
            },
        },
    )
    assert started.status_code == 200, started.text
    instance = started.json()["id"]
    # when a worker fetches the status task of this instance only
    fetched = await engine.post(
        "/external-task/fetchAndLock",
        json={
            "workerId": f"test-worker-{uuid.uuid4().hex[:8]}",
            "maxTasks": 1,
            "asyncResponseTimeout": 5000,
            "topics": [
                {
                    "topicName": "case-status",
                    "lockDuration": 10000,
                    "businessKey": key,
                    "variables": ["citizen", "status"],
                    "localVariables": False,
                }
            ],
        },
    )
    tasks = fetched.json()
    assert [t["processInstanceId"] for t in tasks] == [instance]
    task = tasks[0]
    assert task["variables"]["citizen"]["type"] == "Json"
    assert json.loads(task["variables"]["citizen"]["value"])["name"] == "Ελένη"
    assert task["variables"]["status"]["value"] == "in_progress"
    # then completing it moves the instance on, to the assignment rule's external task
    done = await engine.post(f"/external-task/{task['id']}/complete", json={"workerId": task["workerId"]})
    assert done.status_code == 204
    following = (await engine.get("/external-task", params={"processInstanceId": instance})).json()
    assert [t["activityId"] for t in following] == ["assign_by_rule"]
    await engine.delete(f"/process-instance/{instance}")


async def test_completing_a_task_locked_by_another_worker_is_refused(engine: httpx.AsyncClient) -> None:
    key = f"test-{uuid.uuid4()}"
    await engine.post(
        "/process-definition/key/kep_case/start",
        json={"businessKey": key, "variables": {"office": {"type": "String", "value": "X"}}},
    )
    fetched = await engine.post(
        "/external-task/fetchAndLock",
        json={
            "workerId": "owner",
            "maxTasks": 1,
            "asyncResponseTimeout": 5000,
            "topics": [{"topicName": "case-status", "lockDuration": 10000, "businessKey": key}],
        },
    )
    task = fetched.json()[0]
    resp = await engine.post(f"/external-task/{task['id']}/complete", json={"workerId": "intruder"})
    assert resp.status_code == 400
    assert "locked by worker 'owner'" in resp.json()["message"]
    await engine.delete(f"/process-instance/{task['processInstanceId']}")

"""Our engine build: processes auto-deployed from bpmn_bridge/processes, typed Json variables, external tasks.

Plain HTTP to the engine, not our client. The work is a process of this module's own (a unique key and topic, in
the session's tenant), so no bridge, of this session or of a local stack on the same engine, ever fetches it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from infra.settings import Settings

RUN = uuid.uuid4().hex[:8]
KEY, TOPIC, NEXT_TOPIC = f"engine_build_{RUN}", f"engine-build-{RUN}", f"engine-build-{RUN}-next"
BPMN = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="engine_build" targetNamespace="urn:kep:tests">
  <bpmn:process id="{KEY}" isExecutable="true" camunda:historyTimeToLive="P1D">
    <bpmn:startEvent id="start"/>
    <bpmn:serviceTask id="status" camunda:type="external" camunda:topic="{TOPIC}"/>
    <bpmn:serviceTask id="after_status" camunda:type="external" camunda:topic="{NEXT_TOPIC}"/>
    <bpmn:endEvent id="done"/>
    <bpmn:sequenceFlow id="to_status" sourceRef="start" targetRef="status"/>
    <bpmn:sequenceFlow id="to_after_status" sourceRef="status" targetRef="after_status"/>
    <bpmn:sequenceFlow id="to_done" sourceRef="after_status" targetRef="done"/>
  </bpmn:process>
</bpmn:definitions>
""".encode()


@pytest.fixture(scope="module")
async def engine(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=settings.engine_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
async def process(engine: httpx.AsyncClient, settings: Settings) -> AsyncIterator[str]:
    """This module's process, deployed into the session's tenant; gone, with its instances, at the end."""
    deployed = await engine.post(
        "/deployment/create",
        data={"deployment-name": f"engine-build-{RUN}", "tenant-id": settings.engine_tenant or ""},
        files=[("engine_build.bpmn", ("engine_build.bpmn", BPMN, "application/octet-stream"))],
    )
    assert deployed.status_code == 200, deployed.text
    yield f"/process-definition/key/{KEY}/tenant-id/{settings.engine_tenant}/start"
    await engine.delete(f"/deployment/{deployed.json()['id']}", params={"cascade": "true"})


async def fetch(engine: httpx.AsyncClient, worker: str, key: str, **topic: Any) -> list[dict[str, Any]]:
    answer = await engine.post(
        "/external-task/fetchAndLock",
        json={
            "workerId": worker,
            "maxTasks": 1,
            "asyncResponseTimeout": 5000,
            "topics": [{"topicName": TOPIC, "lockDuration": 10000, "businessKey": key} | topic],
        },
    )
    assert answer.status_code == 200, answer.text
    tasks: list[dict[str, Any]] = answer.json()
    return tasks


async def test_the_case_process_is_deployed(engine: httpx.AsyncClient) -> None:
    # the engine deploys bpmn_bridge/processes at its start, tenant-less (what the process looks like is its own)
    defs = (
        await engine.get(
            "/process-definition", params={"key": "kep_case", "latestVersion": "true", "withoutTenantId": "true"}
        )
    ).json()
    assert [d["key"] for d in defs] == ["kep_case"]
    assert defs[0]["historyTimeToLive"] is not None


async def test_an_instance_runs_its_external_task_with_json_variables(engine: httpx.AsyncClient, process: str) -> None:
    # given an instance with a Json variable (needs Spin in the engine build)
    key = f"test-{uuid.uuid4()}"
    started = await engine.post(
        process,
        json={
            "businessKey": key,
            "variables": {
                "status": {"type": "String", "value": "in_progress"},
                "citizen": {"type": "Json", "value": json.dumps({"afm": "090000045", "name": "Ελένη"})},
            },
        },
    )
    assert started.status_code == 200, started.text
    instance = started.json()["id"]
    # when a worker fetches its task, asking for some variables
    worker = f"test-worker-{uuid.uuid4().hex[:8]}"
    tasks = await fetch(engine, worker, key, variables=["citizen", "status"], localVariables=False)
    # then the Json variable arrives as Json, the way it was sent
    assert [t["processInstanceId"] for t in tasks] == [instance]
    task = tasks[0]
    assert task["variables"]["citizen"]["type"] == "Json"
    assert json.loads(task["variables"]["citizen"]["value"])["name"] == "Ελένη"
    assert task["variables"]["status"]["value"] == "in_progress"
    # and completing it with a Json result moves the instance on, the result stored as Json
    result = {"decision": {"approved": True, "fee": 12.5}}
    done = await engine.post(
        f"/external-task/{task['id']}/complete",
        json={"workerId": worker, "variables": {"result": {"type": "Json", "value": json.dumps(result)}}},
    )
    assert done.status_code == 204, done.text
    following = (await engine.get("/external-task", params={"processInstanceId": instance})).json()
    assert [t["topicName"] for t in following] == [NEXT_TOPIC]
    stored = (
        await engine.get(f"/process-instance/{instance}/variables/result", params={"deserializeValue": "false"})
    ).json()
    assert (stored["type"], json.loads(stored["value"])) == ("Json", result)
    await engine.delete(f"/process-instance/{instance}")


async def test_completing_a_task_locked_by_another_worker_is_refused(engine: httpx.AsyncClient, process: str) -> None:
    key = f"test-{uuid.uuid4()}"
    started = await engine.post(process, json={"businessKey": key})
    assert started.status_code == 200, started.text
    [task] = await fetch(engine, "owner", key)
    resp = await engine.post(f"/external-task/{task['id']}/complete", json={"workerId": "intruder"})
    assert resp.status_code == 400
    assert "locked by worker 'owner'" in resp.json()["message"]
    # the owner still holds it and may complete it
    assert (await engine.post(f"/external-task/{task['id']}/complete", json={"workerId": "owner"})).status_code == 204
    await engine.delete(f"/process-instance/{task['processInstanceId']}")

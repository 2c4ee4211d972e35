"""Async client of the engine's REST API (Camunda 7 / Operaton): typed variables, typed errors, safe retries.

Retries follow what the engine makes safe. Reads, deployments (duplicate filtering), reports on external tasks,
claims and unlocks, variable and job updates and deletions are repeated on any retryable error: a repeat after a
lost answer ends in `TaskGone` (or, for a deletion, `False`) at worst. `start_process` looks for a running instance
with the business key before each start. `correlate_message` is repeated only when the engine surely did not act
(a rolled-back transaction, no connection). `fetch_and_lock` is never repeated here: the poller owns that loop and
its backoff. Queries that take lists of ids send them in a JSON body: a URL carrying them outgrows what the
engine's web server accepts (8 KiB, about 200 ids).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final, Self, TypeVar
from urllib.parse import quote

import httpx
import structlog

from bpmn_bridge.error_map import error_for
from bpmn_bridge.errors import EngineConflict, EngineNotFound, EngineOverloaded, EngineUnavailable, TaskGone
from bpmn_bridge.models import (
    Deployment,
    ExternalTask,
    HistoricInstance,
    Incident,
    InstanceState,
    Job,
    MessageSubscription,
    ProcessInstance,
    RunningInstance,
    TaskPage,
    TaskPosition,
    TaskQuery,
    TopicRequest,
    UserTask,
)
from bpmn_bridge.variables import JsonValue, Long, RawValue, decode, decode_map, format_date, typed, typed_map
from infra.retry import Backoff, retrying

__all__ = [
    "MAX_ASYNC_RESPONSE_TIMEOUT_MS",
    "Deployment",
    "EngineClient",
    "ExternalTask",
    "HistoricInstance",
    "Incident",
    "InstanceState",
    "Job",
    "JsonValue",
    "Long",
    "MessageSubscription",
    "ProcessInstance",
    "RawValue",
    "RunningInstance",
    "TaskPage",
    "TaskPosition",
    "TaskQuery",
    "TopicRequest",
    "UserTask",
    "decode",
    "typed",
]

log = structlog.get_logger("engine")

MAX_ASYNC_RESPONSE_TIMEOUT_MS: Final = 1_800_000
LONG_POLL_MARGIN_S: Final = 10.0
DEPLOYMENT_SOURCE: Final = "kep-bpmn-bridge"
PAGE: Final = 100  # default page of the list queries
IDS_PER_QUERY: Final = 500  # ids per query body: the engine turns them into one SQL IN list
_BY_CREATION: Final = ({"sortBy": "created", "sortOrder": "asc"}, {"sortBy": "id", "sortOrder": "asc"})
_BY_ID: Final = ({"sortBy": "id", "sortOrder": "asc"},)

_NO_VARIABLES: Mapping[str, Any] = MappingProxyType({})

T = TypeVar("T")
Retryable = Callable[[BaseException], bool]


def _any_retryable(exc: BaseException) -> bool:
    return isinstance(exc, EngineUnavailable | EngineOverloaded | EngineConflict)


def _engine_did_nothing(exc: BaseException) -> bool:
    return isinstance(exc, EngineConflict) or (isinstance(exc, EngineUnavailable) and not exc.sent)


def _never(exc: BaseException) -> bool:
    return False


DEFAULT_RETRY = Backoff(initial_s=0.2, max_s=5.0, jitter_s=0.5, attempts=4)


class EngineClient:
    """One connection pool to the engine; use as `async with EngineClient(url) as engine:`."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 30.0,
        client: httpx.AsyncClient | None = None,
        retry: Backoff | None = None,
        tenant_id: str | None = None,
    ) -> None:
        # Every deployment, start, correlation and query stays inside this tenant (None: the tenant-less
        # definitions only), so systems sharing one engine never see each other's instances or tasks.
        self.tenant_id = tenant_id
        self.base_url = base_url.rstrip("/")
        self.retry = retry or DEFAULT_RETRY
        self._timeout_s = timeout_s
        self._timeout = httpx.Timeout(timeout_s)
        self._owns_client = client is None
        self._http = client or httpx.AsyncClient(timeout=self._timeout)
        self._job_activities: dict[str, str | None] = {}  # job definition id -> activity id; they never change

    def __repr__(self) -> str:
        return f"EngineClient({self.base_url!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._http.aclose()

    async def version(self) -> str:
        resp = await self._call(_any_retryable, "GET", "/version")
        return str(resp.json()["version"])

    # deployments and instances

    def _tenant_filter(self) -> dict[str, str]:
        return {"tenantIdIn": self.tenant_id} if self.tenant_id else {"withoutTenantId": "true"}

    def _tenant_body(self) -> dict[str, Any]:
        """The tenant filter of a query sent as JSON (and of a fetch-and-lock topic)."""
        return {"tenantIdIn": [self.tenant_id]} if self.tenant_id else {"withoutTenantId": True}

    async def deploy(self, name: str, files: Mapping[str, bytes]) -> Deployment:
        """Deploy the files as deployment `name`; files unchanged since its last deployment are not deployed again."""
        if not files:
            raise ValueError("a deployment needs at least one file")
        form = {
            "deployment-name": name,
            "deployment-source": DEPLOYMENT_SOURCE,
            "enable-duplicate-filtering": "true",
            "deploy-changed-only": "true",
        }
        if self.tenant_id:
            form["tenant-id"] = self.tenant_id
        parts = [(fname, (fname, content, "application/octet-stream")) for fname, content in files.items()]
        resp = await self._call(_any_retryable, "POST", "/deployment/create", data=form, files=parts)
        dto = resp.json()
        kinds = ("Process", "Case", "Decision", "DecisionRequirements")
        return Deployment(dto["id"], sum(len(dto.get(f"deployed{k}Definitions") or {}) for k in kinds))

    async def has_process_definition(self, key: str) -> bool:
        """A definition of this key is deployed (in our tenant): a process can be started by it."""
        found = await self._get_json("/process-definition/count", params={"key": key} | self._tenant_filter())
        return int(found["count"]) > 0

    async def start_process(
        self, key: str, business_key: str, variables: Mapping[str, Any], *, once: bool = False
    ) -> ProcessInstance:
        """Start the latest version of process `key`, or return the instance with this business key that runs already
        (`once`: that ever ran, ended ones too, so a late copy of a case's opening never starts a second life).

        Two callers starting the same business key at the same moment can both start; serialize them (one actor per
        case). A repeat after a lost answer finds the instance the lost attempt started.
        """
        if not business_key:
            raise ValueError("start_process needs a business key: it is what makes a repeated start harmless")
        body = {"businessKey": business_key, "variables": typed_map(variables)}
        if once:
            where = "/history/process-instance"
            lookup = {"processInstanceBusinessKey": business_key, "processDefinitionKey": key}
        else:
            where, lookup = "/process-instance", {"businessKey": business_key, "processDefinitionKey": key}
        lookup |= self._tenant_filter() | {"maxResults": "1"}
        definition = "processDefinitionId" if once else "definitionId"

        async def start_once() -> ProcessInstance:
            found = (await self._send("GET", where, params=lookup)).json()
            if found:
                dto = found[0]
                return ProcessInstance(dto["id"], dto.get("businessKey"), dto[definition], started=False)
            tenant = f"/tenant-id/{_seg(self.tenant_id)}" if self.tenant_id else ""
            start = f"/process-definition/key/{_seg(key)}{tenant}/start"
            dto = (await self._send("POST", start, json=body)).json()
            return ProcessInstance(dto["id"], dto.get("businessKey"), dto["definitionId"])

        return await self._retrying(_any_retryable, start_once)

    async def correlate_message(
        self,
        name: str,
        business_key: str | None = None,
        variables: Mapping[str, Any] = _NO_VARIABLES,
        process_instance_id: str | None = None,
        *,
        all_waiting: bool = False,
    ) -> None:
        """Deliver message `name` to the one execution waiting for it (`all_waiting`: to every one, e.g. the waits of
        two branches of one instance); `EngineRejected` when none (or, without `all_waiting`, several) waits."""
        body: dict[str, Any] = {"messageName": name, "processVariables": typed_map(variables), "resultEnabled": False}
        if all_waiting:
            body["all"] = True
        if business_key is not None:
            body["businessKey"] = business_key
        if process_instance_id is not None:
            body["processInstanceId"] = process_instance_id
        if process_instance_id is None:  # an instance id names one instance already; the engine refuses both
            body |= {"tenantId": self.tenant_id} if self.tenant_id else {"withoutTenantId": True}
        await self._call(_engine_did_nothing, "POST", "/message", json=body)

    async def business_keys(self, process_instance_ids: Sequence[str]) -> dict[str, str | None]:
        """The business key of each running instance; ids that run no more are left out."""
        ids = list(dict.fromkeys(process_instance_ids))
        found: dict[str, str | None] = {}
        for start in range(0, len(ids), IDS_PER_QUERY):
            chunk = ids[start : start + IDS_PER_QUERY]
            running = await self.process_instances(process_instance_ids=chunk, max_results=len(chunk))
            found |= {i.id: i.business_key for i in running}
        return found

    def _instance_query(
        self, key: str | None, business_key: str | None, ids: Sequence[str] | None
    ) -> dict[str, Any] | None:
        """The body of a running-instance query; None when it can match nothing (no ids)."""
        if ids is not None and not ids:  # the engine answers an empty id list with a 500
            return None
        body: dict[str, Any] = self._tenant_body()
        for name, value in (("processDefinitionKey", key), ("businessKey", business_key)):
            if value is not None:
                body[name] = value
        if ids is not None:
            body["processInstanceIds"] = list(ids)
        return body

    async def process_instances(
        self,
        *,
        process_definition_key: str | None = None,
        business_key: str | None = None,
        process_instance_ids: Sequence[str] | None = None,
        first_result: int = 0,
        max_results: int = PAGE,
    ) -> list[RunningInstance]:
        """Running instances (not ended; suspended ones too), by id."""
        body = self._instance_query(process_definition_key, business_key, process_instance_ids)
        if body is None:
            return []
        body["sorting"] = [{"sortBy": "instanceId", "sortOrder": "asc"}]
        dtos = await self._post_json("/process-instance", body, _paging(first_result, max_results))
        return [RunningInstance.from_dto(dto) for dto in dtos]

    async def process_instance_count(
        self,
        *,
        process_definition_key: str | None = None,
        business_key: str | None = None,
        process_instance_ids: Sequence[str] | None = None,
    ) -> int:
        body = self._instance_query(process_definition_key, business_key, process_instance_ids)
        return 0 if body is None else int((await self._post_json("/process-instance/count", body))["count"])

    async def historic_process_instances(
        self,
        *,
        business_key: str | None = None,
        process_definition_key: str | None = None,
        finished: bool | None = None,
        first_result: int = 0,
        max_results: int = PAGE,
    ) -> list[HistoricInstance]:
        """Instances as history keeps them, running and ended (`finished` picks one), oldest first.

        The engine's answer lacks the end activity: for each instance that reached an end event it is read from the
        activity history, one more query per such instance of the page.
        """
        body: dict[str, Any] = self._tenant_body() | {
            "sorting": [{"sortBy": "startTime", "sortOrder": "asc"}, {"sortBy": "instanceId", "sortOrder": "asc"}]
        }
        for name, value in (
            ("processInstanceBusinessKey", business_key),
            ("processDefinitionKey", process_definition_key),
        ):
            if value is not None:
                body[name] = value
        if finished is not None:
            body["finished" if finished else "unfinished"] = True
        dtos = await self._post_json("/history/process-instance", body, _paging(first_result, max_results))
        ended = (InstanceState.COMPLETED.value, InstanceState.INTERNALLY_TERMINATED.value)
        ends = await _gather_bounded(
            self._end_activity(dto["id"]) if dto["state"] in ended else _none() for dto in dtos
        )
        return [HistoricInstance.from_dto(dto, end) for dto, end in zip(dtos, ends, strict=True)]

    async def _end_activity(self, process_instance_id: str) -> str | None:
        """The end event that ended the instance's own scope last (an end event of a subprocess ends only that), or
        the event subprocess whose end ended it."""
        body = {
            "processInstanceId": process_instance_id,
            "completeScope": True,
            "sorting": [{"sortBy": "endTime", "sortOrder": "desc"}, {"sortBy": "occurrence", "sortOrder": "desc"}],
        }
        for dto in await self._post_json("/history/activity-instance", body):
            # an interrupting event subprocess that ran to its end ends the instance with it: the subprocess is named
            top_level = dto.get("parentActivityInstanceId") == process_instance_id
            if top_level and (dto["activityType"].endswith("EndEvent") or dto["activityType"] == "subProcess"):
                return str(dto["activityId"])
        return None

    async def set_variables(self, process_instance_id: str, variables: Mapping[str, Any]) -> None:
        """Set (create or overwrite) these variables of the instance; `EngineNotFound` when it runs no more."""
        if not variables:
            return
        path = f"/process-instance/{_seg(process_instance_id)}/variables"
        await self._call(_any_retryable, "POST", path, json={"modifications": typed_map(variables)})

    async def delete_process_instance(self, process_instance_id: str, *, skip_custom_listeners: bool = True) -> bool:
        """Cancel the running instance (history calls it EXTERNALLY_TERMINATED); False when none runs with this id
        (ended or deleted already, by us or by a repeat of this call after a lost answer)."""
        params = {"skipCustomListeners": str(skip_custom_listeners).lower()}
        try:
            await self._call(_any_retryable, "DELETE", f"/process-instance/{_seg(process_instance_id)}", params=params)
        except EngineNotFound:
            return False
        return True

    async def message_subscriptions(
        self, event_name: str, *, process_instance_id: str | None = None, first_result: int = 0, max_results: int = PAGE
    ) -> list[MessageSubscription]:
        """The executions waiting for message `event_name`, oldest first."""
        params = {"eventType": "message", "eventName": event_name, "sortBy": "created", "sortOrder": "asc"}
        params |= self._tenant_filter() | _paging(first_result, max_results)
        if process_instance_id is not None:
            params["processInstanceId"] = process_instance_id
        return [MessageSubscription.from_dto(dto) for dto in await self._get_json("/event-subscription", params=params)]

    async def process_variables(self, process_instance_id: str) -> dict[str, Any]:
        dtos = await self._get_json(
            f"/process-instance/{_seg(process_instance_id)}/variables", params={"deserializeValues": "false"}
        )
        return decode_map(dtos)

    async def variable_of(self, name: str, process_instance_ids: Sequence[str]) -> dict[str, Any]:
        """The variable `name` of each of these instances that has it, by instance id (one query per hundred)."""
        ids = list(dict.fromkeys(process_instance_ids))
        found: dict[str, Any] = {}
        for start in range(0, len(ids), IDS_PER_QUERY):
            chunk = ids[start : start + IDS_PER_QUERY]
            body = {"variableName": name, "processInstanceIdIn": chunk}
            params = {"deserializeValues": "false"} | _paging(0, len(chunk))
            for dto in await self._post_json("/variable-instance", body, params):
                found[dto["processInstanceId"]] = decode(dto)
        return found

    async def incidents(
        self, process_instance_id: str | None = None, *, incident_id: str | None = None, max_results: int = 1000
    ) -> list[Incident]:
        """Open incidents of our tenant, oldest first (of one instance, or the one `incident_id`)."""
        params = self._tenant_filter() | {"sortBy": "incidentTimestamp", "sortOrder": "asc"} | _paging(0, max_results)
        if process_instance_id:
            params["processInstanceId"] = process_instance_id
        if incident_id:
            params["incidentId"] = incident_id
        return [Incident.from_dto(dto) for dto in await self._get_json("/incident", params=params)]

    async def retry_incident(self, incident: Incident, retries: int = 1) -> None:
        """Give what failed `retries` more tries: the external task's, or the job's (a timer, an async step)."""
        if incident.incident_type == "failedExternalTask" and incident.configuration:
            path = f"/external-task/{_seg(incident.configuration)}/retries"
        elif incident.incident_type == "failedJob" and incident.configuration:
            path = f"/job/{_seg(incident.configuration)}/retries"
        else:
            raise ValueError(f"an incident of type {incident.incident_type} is not retried by retries")
        await self._call(_any_retryable, "PUT", path, json={"retries": retries})

    # external tasks

    async def fetch_and_lock(
        self, worker_id: str, topics: Sequence[TopicRequest], max_tasks: int, async_response_timeout_ms: int
    ) -> list[ExternalTask]:
        """Lock up to `max_tasks` tasks of these topics, highest priority then oldest first.

        With `async_response_timeout_ms` > 0 the engine holds the request until a task appears or the time is up
        (then `[]`). Tasks freed by an expired lock or a failure's retry timeout reach a held request only at the
        engine's next 30 s sweep. A newer long poll with the same worker id ends this one with `LongPollCancelled`.
        """
        if not topics:
            raise ValueError("fetch_and_lock needs at least one topic")
        if max_tasks < 1:
            raise ValueError("max_tasks must be at least 1")
        if not 0 <= async_response_timeout_ms <= MAX_ASYNC_RESPONSE_TIMEOUT_MS:
            raise ValueError(f"async_response_timeout_ms must be within 0..{MAX_ASYNC_RESPONSE_TIMEOUT_MS}")
        body: dict[str, Any] = {
            "workerId": worker_id,
            "maxTasks": max_tasks,
            "usePriority": True,
            "sorting": [{"sortBy": "createTime", "sortOrder": "asc"}],
            "topics": [topic.to_dto() | self._tenant_body() for topic in topics],
        }
        if async_response_timeout_ms:
            body["asyncResponseTimeout"] = async_response_timeout_ms
        # The read timeout must outlast the engine's own wait, or a quiet topic looks like a dead engine.
        timeout = httpx.Timeout(self._timeout_s, read=async_response_timeout_ms / 1000 + LONG_POLL_MARGIN_S)
        resp = await self._call(
            _never, "POST", "/external-task/fetchAndLock", json=body, http_timeout=timeout, long_poll=True
        )
        return [ExternalTask.from_dto(dto) for dto in resp.json()]

    async def complete(
        self,
        task_id: str,
        worker_id: str,
        variables: Mapping[str, Any] = _NO_VARIABLES,
        local_variables: Mapping[str, Any] = _NO_VARIABLES,
    ) -> None:
        body = {"workerId": worker_id, "variables": typed_map(variables), "localVariables": typed_map(local_variables)}
        await self._task_call(f"/external-task/{_seg(task_id)}/complete", body)

    async def failure(
        self,
        task_id: str,
        worker_id: str,
        error_message: str,
        error_details: str | None,
        retries: int,
        retry_timeout_ms: int,
    ) -> None:
        """Report a failed attempt. The engine never counts down: send the retries that are left (0: an incident)."""
        if retries < 0 or retry_timeout_ms < 0:
            raise ValueError("retries and retry_timeout_ms cannot be negative")
        body = {
            "workerId": worker_id,
            "errorMessage": error_message,
            "errorDetails": error_details,
            "retries": retries,
            "retryTimeout": retry_timeout_ms,
        }
        await self._task_call(f"/external-task/{_seg(task_id)}/failure", body)

    async def bpmn_error(
        self,
        task_id: str,
        worker_id: str,
        error_code: str,
        error_message: str | None = None,
        variables: Mapping[str, Any] = _NO_VARIABLES,
    ) -> None:
        """Throw a BPMN error from the task; with no boundary event to catch it, the activity simply ends."""
        body = {
            "workerId": worker_id,
            "errorCode": error_code,
            "errorMessage": error_message,
            "variables": typed_map(variables),
        }
        await self._task_call(f"/external-task/{_seg(task_id)}/bpmnError", body)

    async def extend_lock(self, task_id: str, worker_id: str, new_duration_ms: int) -> None:
        """Lock the task until now + `new_duration_ms`; `LockExpired` when the lock ran out or is not ours."""
        if new_duration_ms <= 0:
            raise ValueError("new_duration_ms must be positive")
        body = {"workerId": worker_id, "newDuration": new_duration_ms}
        await self._call(
            _any_retryable,
            "POST",
            f"/external-task/{_seg(task_id)}/extendLock",
            json=body,
            gone=TaskGone,
            lock_call=True,
        )

    async def unlock(self, task_id: str) -> None:
        """Free the task for any worker now (whoever holds it); parked long polls see it at once."""
        await self._call(_any_retryable, "POST", f"/external-task/{_seg(task_id)}/unlock", gone=TaskGone)

    async def fetchable(self, topic: str) -> int:
        """How many tasks of `topic` a fetch would lock now: active, not locked (or the lock ran out), retries left,
        not waiting out a failure's retry timeout. The backlog the bridge leaves in the engine."""
        params = {"topicName": topic, "notLocked": "true", "active": "true", "withRetriesLeft": "true"}
        answer = await self._get_json("/external-task/count", params=params | self._tenant_filter())
        return int(answer["count"])

    async def locked_by(self, worker_id: str) -> list[ExternalTask]:
        """Tasks whose lock `worker_id` holds now, without variables; a failure's retry timeout counts as a lock."""
        params = {"workerId": worker_id, "locked": "true"} | self._tenant_filter()
        dtos = await self._get_json("/external-task", params=params)
        return [ExternalTask.from_dto(dto) for dto in dtos]

    # jobs

    async def jobs(
        self,
        *,
        process_instance_id: str | None = None,
        process_definition_key: str | None = None,
        activity_id: str | None = None,
        timers: bool = True,
        first_result: int = 0,
        max_results: int = PAGE,
    ) -> list[Job]:
        """Jobs, soonest due first; only timers unless `timers=False` (then async continuations too)."""
        body: dict[str, Any] = self._tenant_body() | {
            "sorting": [{"sortBy": "jobDueDate", "sortOrder": "asc"}, {"sortBy": "jobId", "sortOrder": "asc"}]
        }
        for name, value in (
            ("processInstanceId", process_instance_id),
            ("processDefinitionKey", process_definition_key),
            ("activityId", activity_id),
        ):
            if value is not None:
                body[name] = value
        if timers:
            body["timers"] = True
        dtos = await self._post_json("/job", body, _paging(first_result, max_results))
        definitions = {dto["jobDefinitionId"] for dto in dtos if dto.get("jobDefinitionId")}
        await _gather_bounded(self._job_activity(d) for d in definitions - self._job_activities.keys())
        return [Job.from_dto(dto, self._job_activities.get(dto.get("jobDefinitionId") or "")) for dto in dtos]

    async def _job_activity(self, job_definition_id: str) -> None:
        """Remember the activity of a job definition (a job's own answer does not name it)."""
        try:
            dto = await self._get_json(f"/job-definition/{_seg(job_definition_id)}")
        except EngineNotFound:  # its process definition was deleted meanwhile
            return
        self._job_activities[job_definition_id] = dto.get("activityId")

    async def set_job_due_date(self, job_id: str, due: datetime) -> None:
        """Move the job (a timer) to `due`; only this job, not the timers the definition will create later."""
        body = {"duedate": format_date(due), "cascade": False}
        await self._call(_any_retryable, "PUT", f"/job/{_seg(job_id)}/duedate", json=body)

    async def set_job_suspended(self, job_id: str, suspended: bool) -> None:
        """Suspend the job (it never fires while suspended) or activate it; `EngineNotFound` when it is gone."""
        await self._call(_any_retryable, "PUT", f"/job/{_seg(job_id)}/suspended", json={"suspended": suspended})
        # the engine answers 204 for a job that does not exist: ask for it, or a fired timer would go unnoticed
        await self._get_json(f"/job/{_seg(job_id)}")

    # user tasks

    async def user_tasks(
        self,
        *,
        candidate_group: str | None = None,
        assignee: str | None = None,
        process_instance_id: str | None = None,
        business_key: str | None = None,
        include_assigned: bool = False,
        unassigned: bool = False,
        task_id: str | None = None,
        first_result: int = 0,
        max_results: int | None = None,
    ) -> list[UserTask]:
        """Open user tasks, oldest first (ties by id); by candidate group only unassigned ones, unless
        `include_assigned`. All of them without `max_results`: page an office's list with `user_task_page`."""
        query = TaskQuery(
            candidate_group=candidate_group,
            include_assigned=include_assigned,
            assignee=assignee,
            unassigned=unassigned,
            process_instance_id=process_instance_id,
            business_key=business_key,
            task_id=task_id,
        )
        return await self._task_query(query, {}, _BY_CREATION, first_result, max_results)

    async def user_task_page(self, query: TaskQuery, limit: int, after: TaskPosition | None = None) -> TaskPage:
        """Up to `limit` of the query's tasks in creation order (ties by id), from where the previous page ended.

        A keyset page, no offset, so the cost of page 400 is the cost of page 1 and no task is skipped or repeated
        when nothing changes. The engine's `createdAfter` is strict and it keeps milliseconds only, so the tasks
        created in the last task's millisecond are read apart (`createdOn`, by id), from where the last page left
        them; `after.tied` says where that was, and is checked, not trusted.
        """
        if not 1 <= limit <= 1000:
            raise ValueError("limit must be within 1..1000")
        want = limit + 1  # one more tells whether a next page exists
        tasks: list[UserTask] = []
        skipped = 0  # tasks of after's millisecond before `tasks`
        if after is not None:
            tasks, skipped = await self._tied_after(query, after, want)
        if len(tasks) < want:
            newer = {"createdAfter": format_date(after.created)} if after is not None else {}
            tasks += await self._task_query(query, newer, _BY_CREATION, 0, want - len(tasks))
        page = tasks[:limit]
        if len(tasks) <= limit:
            return TaskPage(page, None)
        last = page[-1]
        tied = sum(1 for t in page if t.created == last.created)
        if after is not None and last.created == after.created:
            tied += skipped
        return TaskPage(page, TaskPosition(last.created, last.id, tied))

    async def _tied_after(self, query: TaskQuery, after: TaskPosition, want: int) -> tuple[list[UserTask], int]:
        """The tasks created in after's millisecond that follow after's task by id, and how many precede them."""
        same_ms = {"createdOn": format_date(after.created)}
        hinted = await self._task_query(query, same_ms, _BY_ID, max(after.tied - 1, 0), want + 1)
        if hinted and hinted[0].id == after.id:
            return hinted[1:], after.tied
        # that millisecond changed since (a task done, claimed, or gone from the filter): read it whole
        group = await self._task_query(query, same_ms, _BY_ID, 0, None)
        ids = [t.id for t in group]
        # the engine's ids (UUIDs, lowercase hex) sort the same in PostgreSQL and in Python
        start = ids.index(after.id) + 1 if after.id in ids else sum(1 for i in ids if i < after.id)
        return group[start : start + want], start

    async def _task_query(
        self,
        query: TaskQuery,
        extra: Mapping[str, Any],
        sorting: Sequence[Mapping[str, str]],
        first_result: int,
        max_results: int | None,
    ) -> list[UserTask]:
        body = query.to_dto() | dict(extra) | self._tenant_body() | {"sorting": list(sorting)}
        paging = {"firstResult": str(first_result)}
        if max_results is not None:
            paging["maxResults"] = str(max_results)
        return [UserTask.from_dto(dto) for dto in await self._post_json("/task", body, paging)]

    async def user_task(self, task_id: str) -> UserTask:
        return UserTask.from_dto(await self._get_json(f"/task/{_seg(task_id)}", gone=TaskGone))

    async def claim(self, task_id: str, user_id: str) -> None:
        """Assign the task to `user_id`; `TaskAlreadyClaimed` when someone else has it (claiming again is fine)."""
        await self._call(
            _any_retryable, "POST", f"/task/{_seg(task_id)}/claim", json={"userId": user_id}, gone=TaskGone
        )

    async def unclaim(self, task_id: str) -> None:
        await self._call(_any_retryable, "POST", f"/task/{_seg(task_id)}/unclaim", gone=TaskGone)

    async def candidate_groups(self, task_id: str) -> set[str]:
        links = await self._get_json(
            f"/task/{_seg(task_id)}/identity-links", params={"type": "candidate"}, gone=TaskGone
        )
        return {str(link["groupId"]) for link in links if link.get("groupId")}

    async def add_candidate_group(self, task_id: str, group: str) -> None:
        """Offer the task to `group` too (a group that has it already: nothing changes)."""
        await self._task_call(f"/task/{_seg(task_id)}/identity-links", {"groupId": group, "type": "candidate"})

    async def remove_candidate_group(self, task_id: str, group: str) -> None:
        await self._task_call(f"/task/{_seg(task_id)}/identity-links/delete", {"groupId": group, "type": "candidate"})

    async def complete_user_task(self, task_id: str, variables: Mapping[str, Any] = _NO_VARIABLES) -> None:
        await self._task_call(f"/task/{_seg(task_id)}/complete", {"variables": typed_map(variables)})

    # transport

    async def _task_call(self, path: str, body: Mapping[str, Any]) -> None:
        await self._call(_any_retryable, "POST", path, json=body, gone=TaskGone)

    async def _get_json(
        self, path: str, *, params: Mapping[str, str] | None = None, gone: type[EngineNotFound] = EngineNotFound
    ) -> Any:
        return (await self._call(_any_retryable, "GET", path, params=params, gone=gone)).json()

    async def _post_json(self, path: str, body: Mapping[str, Any], params: Mapping[str, str] | None = None) -> Any:
        """A query sent as POST: its filters travel in the body, so lists of ids have no URL limit."""
        return (await self._call(_any_retryable, "POST", path, json=body, params=params)).json()

    async def _call(self, retry_on: Retryable, method: str, path: str, **kw: Any) -> httpx.Response:
        return await self._retrying(retry_on, lambda: self._send(method, path, **kw))

    async def _retrying(self, retry_on: Retryable, attempt_once: Callable[[], Awaitable[T]]) -> T:
        async for attempt in retrying(self.retry, retry_on=retry_on, name="engine_call"):
            with attempt:
                return await attempt_once()
        raise AssertionError("tenacity ends with a return or a raise")  # pragma: no cover

    async def _send(
        self,
        method: str,
        path: str,
        *,
        gone: type[EngineNotFound] = EngineNotFound,
        lock_call: bool = False,
        long_poll: bool = False,
        http_timeout: httpx.Timeout | None = None,
        **kw: Any,
    ) -> httpx.Response:
        where = f"{method} {path}"
        try:
            resp = await self._http.request(method, self.base_url + path, timeout=http_timeout or self._timeout, **kw)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise EngineUnavailable(f"engine unreachable for {where}: {exc!r}", sent=False) from exc
        except httpx.TransportError as exc:  # read/write timeouts, dropped connections: it may have arrived
            raise EngineUnavailable(f"no answer from the engine to {where}: {exc!r}", sent=True) from exc
        if resp.is_success:
            return resp
        raise error_for(resp, where, gone=gone, lock_call=lock_call, long_poll=long_poll)


def _paging(first_result: int, max_results: int) -> dict[str, str]:
    if first_result < 0 or max_results < 1:
        raise ValueError("first_result must be at least 0 and max_results at least 1")
    return {"firstResult": str(first_result), "maxResults": str(max_results)}


async def _gather_bounded(calls: Iterable[Awaitable[T]], limit: int = 8) -> list[T]:
    """Run the calls at most `limit` at a time, answers in their order: a page's follow-up queries, not a flood."""
    gate = asyncio.Semaphore(limit)

    async def one(call: Awaitable[T]) -> T:
        async with gate:
            return await call

    return list(await asyncio.gather(*(one(c) for c in calls)))


async def _none() -> None:
    return None


def _seg(value: str) -> str:
    """One path segment, escaped: ids come from the engine, but keys and names come from us."""
    return quote(value, safe="")

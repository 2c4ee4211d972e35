"""Async client of the engine's REST API (Camunda 7 / Operaton): typed variables, typed errors, safe retries.

Retries follow what the engine makes safe. Reads, deployments (duplicate filtering), reports on external tasks,
claims and unlocks are repeated on any retryable error: a repeat after a lost answer ends in `TaskGone` at worst.
`start_process` looks for a running instance with the business key before each start. `correlate_message` is
repeated only when the engine surely did not act (a rolled-back transaction, no connection). `fetch_and_lock` is
never repeated here: the poller owns that loop and its backoff.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Self, TypeVar
from urllib.parse import quote

import httpx
import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from bpmn_bridge.error_map import error_for
from bpmn_bridge.errors import EngineConflict, EngineNotFound, EngineOverloaded, EngineUnavailable, TaskGone
from bpmn_bridge.models import Deployment, ExternalTask, Incident, ProcessInstance, TopicRequest, UserTask
from bpmn_bridge.variables import JsonValue, Long, RawValue, decode, decode_map, typed, typed_map

__all__ = [
    "MAX_ASYNC_RESPONSE_TIMEOUT_MS",
    "Deployment",
    "EngineClient",
    "ExternalTask",
    "Incident",
    "JsonValue",
    "Long",
    "ProcessInstance",
    "RawValue",
    "RetryPolicy",
    "TopicRequest",
    "UserTask",
    "decode",
    "typed",
]

log = structlog.get_logger("engine")

MAX_ASYNC_RESPONSE_TIMEOUT_MS: Final = 1_800_000
LONG_POLL_MARGIN_S: Final = 10.0
DEPLOYMENT_SOURCE: Final = "kep-bpmn-bridge"

_NO_VARIABLES: Mapping[str, Any] = MappingProxyType({})

T = TypeVar("T")
Retryable = Callable[[BaseException], bool]


def _any_retryable(exc: BaseException) -> bool:
    return isinstance(exc, EngineUnavailable | EngineOverloaded | EngineConflict)


def _engine_did_nothing(exc: BaseException) -> bool:
    return isinstance(exc, EngineConflict) or (isinstance(exc, EngineUnavailable) and not exc.sent)


def _never(exc: BaseException) -> bool:
    return False


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter; `attempts` counts the first try."""

    attempts: int = 4
    initial_s: float = 0.2
    max_s: float = 5.0
    jitter_s: float = 0.5


class EngineClient:
    """One connection pool to the engine; use as `async with EngineClient(url) as engine:`."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 30.0,
        client: httpx.AsyncClient | None = None,
        retry: RetryPolicy | None = None,
        tenant_id: str | None = None,
    ) -> None:
        # Every deployment, start, correlation and query stays inside this tenant (None: the tenant-less
        # definitions only), so systems sharing one engine never see each other's instances or tasks.
        self.tenant_id = tenant_id
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self._timeout_s = timeout_s
        self._timeout = httpx.Timeout(timeout_s)
        self._owns_client = client is None
        self._http = client or httpx.AsyncClient(timeout=self._timeout)

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

    def _tenant_topic(self) -> dict[str, Any]:
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

    async def start_process(self, key: str, business_key: str, variables: Mapping[str, Any]) -> ProcessInstance:
        """Start the latest version of process `key`, or return the instance with this business key that runs already.

        Only running instances are found: an instance that already ended does not stop a new start. Two callers
        starting the same business key at the same moment can both start; serialize them (one actor per case).
        """
        if not business_key:
            raise ValueError("start_process needs a business key: it is what makes a repeated start harmless")
        body = {"businessKey": business_key, "variables": typed_map(variables)}

        async def start_once() -> ProcessInstance:
            lookup = {"businessKey": business_key, "processDefinitionKey": key} | self._tenant_filter()
            running = (await self._send("GET", "/process-instance", params=lookup)).json()
            if running:
                dto = running[0]
                return ProcessInstance(dto["id"], dto.get("businessKey"), dto["definitionId"], started=False)
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
    ) -> None:
        """Deliver message `name` to the one instance waiting for it; `EngineRejected` when none (or several) waits."""
        body: dict[str, Any] = {"messageName": name, "processVariables": typed_map(variables), "resultEnabled": False}
        if business_key is not None:
            body["businessKey"] = business_key
        if process_instance_id is not None:
            body["processInstanceId"] = process_instance_id
        if process_instance_id is None:  # an instance id names one instance already; the engine refuses both
            body |= {"tenantId": self.tenant_id} if self.tenant_id else {"withoutTenantId": True}
        await self._call(_engine_did_nothing, "POST", "/message", json=body)

    async def business_keys(self, process_instance_ids: Sequence[str]) -> dict[str, str | None]:
        """The business key of each running instance (one query for all)."""
        if not process_instance_ids:
            return {}
        params = {"processInstanceIds": ",".join(process_instance_ids)}
        return {dto["id"]: dto.get("businessKey") for dto in await self._get_json("/process-instance", params=params)}

    async def process_variables(self, process_instance_id: str) -> dict[str, Any]:
        dtos = await self._get_json(
            f"/process-instance/{_seg(process_instance_id)}/variables", params={"deserializeValues": "false"}
        )
        return decode_map(dtos)

    async def incidents(self, process_instance_id: str | None = None) -> list[Incident]:
        params = {"processInstanceId": process_instance_id} if process_instance_id else {}
        return [Incident.from_dto(dto) for dto in await self._get_json("/incident", params=params)]

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
            "topics": [topic.to_dto() | self._tenant_topic() for topic in topics],
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

    # user tasks

    async def user_tasks(
        self,
        *,
        candidate_group: str | None = None,
        assignee: str | None = None,
        process_instance_id: str | None = None,
        business_key: str | None = None,
        include_assigned: bool = False,
    ) -> list[UserTask]:
        """Open user tasks, oldest first; by candidate group only unassigned ones, unless `include_assigned`."""
        params: dict[str, str] = {"sortBy": "created", "sortOrder": "asc"} | self._tenant_filter()
        for name, value in (
            ("candidateGroup", candidate_group),
            ("assignee", assignee),
            ("processInstanceId", process_instance_id),
            ("processInstanceBusinessKey", business_key),
        ):
            if value is not None:
                params[name] = value
        if include_assigned and candidate_group is not None:
            params["includeAssignedTasks"] = "true"
        return [UserTask.from_dto(dto) for dto in await self._get_json("/task", params=params)]

    async def user_task(self, task_id: str) -> UserTask:
        return UserTask.from_dto(await self._get_json(f"/task/{_seg(task_id)}", gone=TaskGone))

    async def claim(self, task_id: str, user_id: str) -> None:
        """Assign the task to `user_id`; `TaskAlreadyClaimed` when someone else has it (claiming again is fine)."""
        await self._call(
            _any_retryable, "POST", f"/task/{_seg(task_id)}/claim", json={"userId": user_id}, gone=TaskGone
        )

    async def unclaim(self, task_id: str) -> None:
        await self._call(_any_retryable, "POST", f"/task/{_seg(task_id)}/unclaim", gone=TaskGone)

    async def complete_user_task(self, task_id: str, variables: Mapping[str, Any] = _NO_VARIABLES) -> None:
        await self._task_call(f"/task/{_seg(task_id)}/complete", {"variables": typed_map(variables)})

    # transport

    async def _task_call(self, path: str, body: Mapping[str, Any]) -> None:
        await self._call(_any_retryable, "POST", path, json=body, gone=TaskGone)

    async def _get_json(
        self, path: str, *, params: Mapping[str, str] | None = None, gone: type[EngineNotFound] = EngineNotFound
    ) -> Any:
        return (await self._call(_any_retryable, "GET", path, params=params, gone=gone)).json()

    async def _call(self, retry_on: Retryable, method: str, path: str, **kw: Any) -> httpx.Response:
        return await self._retrying(retry_on, lambda: self._send(method, path, **kw))

    async def _retrying(self, retry_on: Retryable, attempt_once: Callable[[], Awaitable[T]]) -> T:
        policy = self.retry
        retrying = AsyncRetrying(
            stop=stop_after_attempt(policy.attempts),
            wait=wait_exponential_jitter(initial=policy.initial_s, max=policy.max_s, jitter=policy.jitter_s),
            retry=retry_if_exception(retry_on),
            before_sleep=_log_retry,
            reraise=True,
        )
        async for attempt in retrying:
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


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    log.warning("engine_call_retrying", attempt=state.attempt_number, error=repr(exc))


def _seg(value: str) -> str:
    """One path segment, escaped: ids come from the engine, but keys and names come from us."""
    return quote(value, safe="")

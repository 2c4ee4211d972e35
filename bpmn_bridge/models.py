"""What the engine client sends and returns: small frozen records read from the engine's REST DTOs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from bpmn_bridge.variables import decode_map, parse_date, parse_optional_date


@dataclass(frozen=True, slots=True)
class TopicRequest:
    """One topic of a fetch-and-lock request; `variables=None` asks for all of them."""

    topic_name: str
    lock_duration_ms: int
    variables: tuple[str, ...] | None = None
    local_variables: bool = False
    business_key: str | None = None
    process_definition_key: str | None = None

    def to_dto(self) -> dict[str, Any]:
        if self.lock_duration_ms <= 0:
            raise ValueError(f"topic {self.topic_name!r}: lock duration must be positive")
        dto: dict[str, Any] = {
            "topicName": self.topic_name,
            "lockDuration": self.lock_duration_ms,
            "localVariables": self.local_variables,
            "deserializeValues": False,  # Json arrives as its string; variables.decode reads it
        }
        if self.variables is not None:
            dto["variables"] = list(self.variables)
        if self.business_key is not None:
            dto["businessKey"] = self.business_key
        if self.process_definition_key is not None:
            dto["processDefinitionKey"] = self.process_definition_key
        return dto


@dataclass(frozen=True, slots=True, kw_only=True)
class ExternalTask:
    """An external task as fetched (with its variables decoded) or as listed (without variables)."""

    id: str
    topic_name: str
    worker_id: str | None
    lock_expiration_time: datetime | None
    retries: int | None  # None until the first failure report
    error_message: str | None
    error_details: str | None
    process_instance_id: str
    process_definition_id: str
    process_definition_key: str | None
    business_key: str | None
    activity_id: str
    activity_instance_id: str
    execution_id: str
    priority: int
    create_time: datetime | None
    tenant_id: str | None = None
    variables: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dto(cls, dto: Mapping[str, Any]) -> ExternalTask:
        return cls(
            id=dto["id"],
            topic_name=dto["topicName"],
            worker_id=dto.get("workerId"),
            lock_expiration_time=parse_optional_date(dto.get("lockExpirationTime")),
            retries=dto.get("retries"),
            error_message=dto.get("errorMessage"),
            error_details=dto.get("errorDetails"),
            process_instance_id=dto["processInstanceId"],
            process_definition_id=dto["processDefinitionId"],
            process_definition_key=dto.get("processDefinitionKey"),
            business_key=dto.get("businessKey"),
            activity_id=dto["activityId"],
            activity_instance_id=dto["activityInstanceId"],
            execution_id=dto["executionId"],
            priority=int(dto.get("priority") or 0),
            create_time=parse_optional_date(dto.get("createTime")),
            tenant_id=dto.get("tenantId"),
            variables=decode_map(dto.get("variables")),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class UserTask:
    """A user task (the engine's TaskDto); its candidate groups are identity links, not part of it."""

    id: str
    name: str | None
    task_definition_key: str
    assignee: str | None
    owner: str | None
    created: datetime
    due: datetime | None
    follow_up: datetime | None
    priority: int
    description: str | None
    process_instance_id: str | None
    process_definition_id: str | None
    execution_id: str | None
    form_key: str | None
    suspended: bool
    tenant_id: str | None = None

    @classmethod
    def from_dto(cls, dto: Mapping[str, Any]) -> UserTask:
        return cls(
            id=dto["id"],
            name=dto.get("name"),
            task_definition_key=dto["taskDefinitionKey"],
            assignee=dto.get("assignee"),
            owner=dto.get("owner"),
            created=parse_date(dto["created"]),
            due=parse_optional_date(dto.get("due")),
            follow_up=parse_optional_date(dto.get("followUp")),
            priority=int(dto.get("priority") or 0),
            description=dto.get("description"),
            process_instance_id=dto.get("processInstanceId"),
            process_definition_id=dto.get("processDefinitionId"),
            execution_id=dto.get("executionId"),
            form_key=dto.get("formKey"),
            suspended=bool(dto.get("suspended")),
            tenant_id=dto.get("tenantId"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskQuery:
    """Which open user tasks: the engine's own filters (all of them combine). By candidate group a task that is
    claimed counts only with `include_assigned`."""

    candidate_group: str | None = None
    include_assigned: bool = False
    assignee: str | None = None
    unassigned: bool = False
    process_instance_id: str | None = None
    business_key: str | None = None
    task_id: str | None = None

    def to_dto(self) -> dict[str, Any]:
        dto: dict[str, Any] = {}
        for name, value in (
            ("candidateGroup", self.candidate_group),
            ("assignee", self.assignee),
            ("processInstanceId", self.process_instance_id),
            ("processInstanceBusinessKey", self.business_key),
            ("taskId", self.task_id),
        ):
            if value is not None:
                dto[name] = value
        if self.include_assigned and self.candidate_group is not None:
            dto["includeAssignedTasks"] = True
        if self.unassigned:
            dto["unassigned"] = True
        return dto


@dataclass(frozen=True, slots=True)
class TaskPosition:
    """Where a page of user tasks ended: the last task's creation time and id, and how many tasks created in that
    same millisecond came up to it (in id order), so the next page starts there without reading them again."""

    created: datetime
    id: str
    tied: int = 1


@dataclass(frozen=True, slots=True)
class TaskPage:
    """Open user tasks in creation order (ties by id); `after` is where the next page starts, None at the end."""

    tasks: list[UserTask]
    after: TaskPosition | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """A job (a timer, an async continuation); `activity_id` from its job definition, None for a batch job."""

    id: str
    process_instance_id: str | None
    process_definition_key: str | None
    execution_id: str | None
    job_definition_id: str | None
    activity_id: str | None
    due_date: datetime | None  # None: an async continuation to run as soon as possible
    suspended: bool
    retries: int
    exception_message: str | None
    failed_activity_id: str | None
    priority: int
    create_time: datetime | None
    tenant_id: str | None = None

    @classmethod
    def from_dto(cls, dto: Mapping[str, Any], activity_id: str | None) -> Job:
        return cls(
            id=dto["id"],
            process_instance_id=dto.get("processInstanceId"),
            process_definition_key=dto.get("processDefinitionKey"),
            execution_id=dto.get("executionId"),
            job_definition_id=dto.get("jobDefinitionId"),
            activity_id=activity_id or dto.get("failedActivityId"),
            due_date=parse_optional_date(dto.get("dueDate")),
            suspended=bool(dto.get("suspended")),
            retries=int(dto.get("retries") or 0),
            exception_message=dto.get("exceptionMessage"),
            failed_activity_id=dto.get("failedActivityId"),
            priority=int(dto.get("priority") or 0),
            create_time=parse_optional_date(dto.get("createTime")),
            tenant_id=dto.get("tenantId"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RunningInstance:
    """A process instance that has not ended."""

    id: str
    business_key: str | None
    definition_id: str
    definition_key: str | None
    suspended: bool
    tenant_id: str | None = None

    @classmethod
    def from_dto(cls, dto: Mapping[str, Any]) -> RunningInstance:
        return cls(
            id=dto["id"],
            business_key=dto.get("businessKey"),
            definition_id=dto["definitionId"],
            definition_key=dto.get("definitionKey"),
            suspended=bool(dto.get("suspended")),
            tenant_id=dto.get("tenantId"),
        )


class InstanceState(StrEnum):
    """The engine's history state of a process instance."""

    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    COMPLETED = "COMPLETED"  # reached an end event
    EXTERNALLY_TERMINATED = "EXTERNALLY_TERMINATED"  # deleted through the API
    INTERNALLY_TERMINATED = "INTERNALLY_TERMINATED"  # a terminate end event, or an error nobody caught


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoricInstance:
    """A process instance as history keeps it, running or ended; `end_activity_id` is the end event it reached."""

    id: str
    business_key: str | None
    process_definition_key: str | None
    state: InstanceState
    start_time: datetime
    end_time: datetime | None
    end_activity_id: str | None
    delete_reason: str | None
    tenant_id: str | None = None

    @classmethod
    def from_dto(cls, dto: Mapping[str, Any], end_activity_id: str | None = None) -> HistoricInstance:
        return cls(
            id=dto["id"],
            business_key=dto.get("businessKey"),
            process_definition_key=dto.get("processDefinitionKey"),
            state=InstanceState(dto["state"]),
            start_time=parse_date(dto["startTime"]),
            end_time=parse_optional_date(dto.get("endTime")),
            end_activity_id=end_activity_id or dto.get("endActivityId"),
            delete_reason=dto.get("deleteReason"),
            tenant_id=dto.get("tenantId"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageSubscription:
    """An execution waiting for a message: a catch event, a receive task or a boundary event."""

    event_name: str
    process_instance_id: str | None
    activity_id: str | None
    execution_id: str | None
    created: datetime | None
    tenant_id: str | None = None

    @classmethod
    def from_dto(cls, dto: Mapping[str, Any]) -> MessageSubscription:
        return cls(
            event_name=dto["eventName"],
            process_instance_id=dto.get("processInstanceId"),
            activity_id=dto.get("activityId"),
            execution_id=dto.get("executionId"),
            created=parse_optional_date(dto.get("createdDate")),
            tenant_id=dto.get("tenantId"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Incident:
    """An incident; for `failedExternalTask` its `configuration` is the external task's id."""

    id: str
    incident_type: str
    incident_message: str | None
    incident_timestamp: datetime
    activity_id: str | None
    failed_activity_id: str | None
    process_instance_id: str | None
    process_definition_id: str | None
    execution_id: str | None
    configuration: str | None
    cause_incident_id: str | None
    root_cause_incident_id: str | None

    @classmethod
    def from_dto(cls, dto: Mapping[str, Any]) -> Incident:
        return cls(
            id=dto["id"],
            incident_type=dto["incidentType"],
            incident_message=dto.get("incidentMessage"),
            incident_timestamp=parse_date(dto["incidentTimestamp"]),
            activity_id=dto.get("activityId"),
            failed_activity_id=dto.get("failedActivityId"),
            process_instance_id=dto.get("processInstanceId"),
            process_definition_id=dto.get("processDefinitionId"),
            execution_id=dto.get("executionId"),
            configuration=dto.get("configuration"),
            cause_incident_id=dto.get("causeIncidentId"),
            root_cause_incident_id=dto.get("rootCauseIncidentId"),
        )


@dataclass(frozen=True, slots=True)
class Deployment:
    """A deployment; `new_definitions` is 0 when every file was already deployed unchanged."""

    id: str
    new_definitions: int


@dataclass(frozen=True, slots=True)
class ProcessInstance:
    """A process instance; `started` is False when one with the business key was already running."""

    id: str
    business_key: str | None
    definition_id: str
    started: bool = True

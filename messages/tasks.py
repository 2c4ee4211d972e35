"""External tasks between the Camunda bridge and the workers, over RabbitMQ: the command and its outcome."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class TaskCommand(BaseModel):
    """One locked external task, for the workers of its topic (queue `tasks.<topic>`)."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    topic: str
    process_instance_id: str
    activity_id: str
    activity_instance_id: str
    business_key: str | None = None
    variables: dict[str, Any] = Field(default_factory=dict)
    retries: int | None = None  # None until the first failure (the engine's own convention)


class OutcomeKind(StrEnum):
    COMPLETE = "complete"
    FAILURE = "failure"
    BPMN_ERROR = "bpmn_error"


class TaskOutcome(BaseModel):
    """What a worker made of a task, for the bridge to report to the engine (queue `tasks.results`)."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    topic: str
    kind: OutcomeKind
    variables: dict[str, Any] = Field(default_factory=dict)
    error_code: str | None = None  # BPMN error code
    error_message: str | None = None
    error_details: str | None = None
    retries: int | None = None  # for a failure: what is left (0: an incident)
    retry_timeout_ms: int | None = None

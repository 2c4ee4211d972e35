"""External tasks between the Camunda bridge and the workers, over RabbitMQ: the command and its outcome."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class TopicOptions:
    """How the bridge fetches a topic's tasks and how its failures are retried."""

    topic: str
    variables: tuple[str, ...] | None = None  # what to fetch; None: all (avoid: large payloads)
    lock_ms: int = 60_000
    # retries of a transient failure before an incident: with the backoff below they span at least 4 minutes
    # (`bpmn_bridge.handlers.patience_ms`), longer than a restart of PostgreSQL, the broker or the engine
    retries: int = 9
    backoff_ms: int = 2_000  # first retry; doubles per attempt, with equal jitter
    max_backoff_ms: int = 300_000


class BusinessError(Exception):
    """A BPMN error: the model has a boundary event for `code` (e.g. a missing document)."""

    def __init__(self, code: str, message: str | None = None, variables: dict[str, Any] | None = None) -> None:
        super().__init__(message or code)
        self.code, self.message, self.variables = code, message, variables or {}


class TaskFailed(Exception):
    """A handler could not do its work; `retry` says whether another attempt may succeed (else: an incident)."""

    def __init__(self, message: str, *, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


@dataclass(frozen=True)
class Topic:
    """A topic's options and its handler, bound to what the handler needs. The handler returns the variables to
    complete the task with, or raises `BusinessError` (a modelled BPMN error) or anything else (a failure)."""

    options: TopicOptions
    handler: Callable[[TaskCommand], Awaitable[dict[str, Any]]]

"""The pure rule turning a topic handler's result into the outcome the engine hears (bpmn_bridge/topics.py lists
the topics and their handlers).

A handler returns the variables to complete the task with, raises `BusinessError` for a modelled BPMN error (the
process catches it), or raises anything else: retryable failures (our retryable errors, lost connections, timeouts,
`TaskFailed(retry=True)`) count the task's retries down with exponential backoff and jitter; the rest go straight
to an incident (retries 0), where an operator looks, instead of repeating a bug.
"""

from __future__ import annotations

import random
import traceback
from typing import Any

from infra import faults, metrics
from messages.tasks import BusinessError, OutcomeKind, TaskCommand, TaskFailed, TaskOutcome, TopicOptions


def is_retryable(exc: BaseException) -> bool:
    exc = faults.cause(exc)
    if isinstance(exc, TaskFailed):
        return exc.retry
    return faults.is_transient(exc)


def backoff_ms(options: TopicOptions, attempt: int, rng: random.Random | None = None) -> int:
    """Equal jitter (AWS architecture blog): uniform in [ceiling / 2, ceiling], ceiling = min(cap, base × 2^attempt).

    The floor grows with the ceiling, so the retries of a transient failure together wait at least
    `patience_ms(options)`: a dependency restarting on a slow machine does not use them up in seconds (with full
    jitter, three retries could all fall within a few seconds of one another and end in an incident)."""
    ceiling = min(options.max_backoff_ms, options.backoff_ms * 2**attempt)
    return int((rng or random).uniform(ceiling / 2, ceiling))


def patience_ms(options: TopicOptions) -> int:
    """The least time a task's retries of transient failures span before it becomes an incident."""
    return sum(
        min(options.max_backoff_ms, options.backoff_ms * 2**attempt) // 2 for attempt in range(options.retries - 1)
    )


def outcome(
    task: TaskCommand,
    options: TopicOptions,
    result: dict[str, Any] | BaseException,
    rng: random.Random | None = None,
) -> TaskOutcome:
    if not isinstance(result, BaseException):
        return TaskOutcome(task_id=task.task_id, topic=task.topic, kind=OutcomeKind.COMPLETE, variables=result)
    if isinstance(result, BusinessError):
        return TaskOutcome(
            task_id=task.task_id,
            topic=task.topic,
            kind=OutcomeKind.BPMN_ERROR,
            error_code=result.code,
            error_message=result.message,
            variables=result.variables,
        )
    # the engine never counts retries down itself: send what is left, explicitly
    transient = is_retryable(result)
    metrics.task_failed(task.topic, transient)
    left = (options.retries if task.retries is None else task.retries) - 1 if transient else 0
    attempt = options.retries - (task.retries if task.retries is not None else options.retries)
    return TaskOutcome(
        task_id=task.task_id,
        topic=task.topic,
        kind=OutcomeKind.FAILURE,
        error_message=f"{type(result).__name__}: {result}"[:600],
        error_details="".join(traceback.format_exception(result))[-4000:],
        retries=max(left, 0),
        retry_timeout_ms=backoff_ms(options, attempt, rng) if left > 0 else 0,
    )

"""From a handler's result to the outcome the engine hears: complete, BPMN error, failure with retries and backoff."""

from __future__ import annotations

import random

import pytest

from bpmn_bridge.handlers import BusinessError, TaskFailed, TopicOptions, backoff_ms, outcome, patience_ms
from messages.errors import InvalidInput, RetryableError
from messages.tasks import OutcomeKind, TaskCommand

OPTIONS = TopicOptions("t", retries=3, backoff_ms=1000, max_backoff_ms=8000)


def task(retries: int | None = None) -> TaskCommand:
    return TaskCommand(task_id="1", topic="t", process_instance_id="p", activity_id="a", activity_instance_id="a:1",
                       retries=retries)  # fmt: skip


def test_variables_complete_the_task() -> None:
    out = outcome(task(), OPTIONS, {"ok": True})
    assert (out.kind, out.variables) == (OutcomeKind.COMPLETE, {"ok": True})


def test_a_business_error_is_a_bpmn_error() -> None:
    out = outcome(task(), OPTIONS, BusinessError("missing-document", "no solemn declaration", {"missing": ["x"]}))
    assert (out.kind, out.error_code, out.variables) == (OutcomeKind.BPMN_ERROR, "missing-document", {"missing": ["x"]})


@pytest.mark.parametrize(
    ("retries_left", "error", "expected"),
    [
        (None, RetryableError("db away"), 2),  # first failure: from the topic's retries, counted down
        (2, RetryableError("db away"), 1),
        (1, OSError("reset"), 0),  # the last one: an incident
        (None, TaskFailed("try later", retry=True), 2),
        (None, TaskFailed("never", retry=False), 0),
        (None, InvalidInput("bad data"), 0),  # not transient: no point in repeating it
        (3, KeyError("bug"), 0),
    ],
)
def test_failures_count_retries_down_explicitly(retries_left: int | None, error: BaseException, expected: int) -> None:
    out = outcome(task(retries_left), OPTIONS, error)
    assert out.kind is OutcomeKind.FAILURE
    assert out.retries == expected
    assert (out.retry_timeout_ms or 0) > 0 if expected else out.retry_timeout_ms == 0
    assert type(error).__name__ in (out.error_message or "")


def test_backoff_grows_with_equal_jitter_within_its_cap() -> None:
    rng = random.Random(3)
    for attempt in range(8):
        ceiling = min(OPTIONS.max_backoff_ms, OPTIONS.backoff_ms * 2**attempt)
        samples = [backoff_ms(OPTIONS, attempt, rng) for _ in range(200)]
        assert ceiling // 2 <= min(samples) < max(samples) <= ceiling


def test_transient_retries_outlast_a_dependency_restart() -> None:
    # the floors of the backoff: 1 + 2 + 4 + ... s for the default options, whatever the jitter draws
    assert patience_ms(TopicOptions("t")) >= 240_000
    assert patience_ms(OPTIONS) == 500 + 1000  # two waits: the third failure is the incident

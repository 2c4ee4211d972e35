"""What passes and what does not, on failures the real dependencies raise: a PostgreSQL backend terminated under a
query, a serialization failure, a unique violation; and the same errors raised in another Ray worker."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest
import ray

from bpmn_bridge.handlers import outcome
from infra import faults
from infra.settings import Settings
from messages.errors import Forbidden, InvalidInput, NotFound, RetryableError
from messages.tasks import TaskCommand, TaskFailed, TopicOptions


async def test_a_connection_lost_under_a_query_passes(database_url: str) -> None:
    victim = await asyncpg.connect(database_url)
    killer = await asyncpg.connect(database_url)
    try:
        pid = victim.get_server_pid()
        query = asyncio.ensure_future(victim.fetchval("SELECT pg_sleep(30)"))
        await asyncio.sleep(0.3)
        assert await killer.fetchval("SELECT pg_terminate_backend($1)", pid)
        with pytest.raises(asyncpg.PostgresConnectionError) as lost:
            await query
        assert faults.is_transient(lost.value), repr(lost.value)
        # and the closed connection, used again, says so in the driver's own words
        with pytest.raises(asyncpg.InterfaceError) as closed:
            await victim.fetchval("SELECT 1")
        assert faults.is_transient(closed.value), repr(closed.value)
    finally:
        await killer.close()
        victim.terminate()


async def test_a_serialization_failure_passes_and_a_unique_violation_does_not(database_url: str) -> None:
    a, b = await asyncpg.connect(database_url), await asyncpg.connect(database_url)
    table = f"faults_{uuid.uuid4().hex[:8]}"
    try:
        await a.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, n int)")
        await a.execute(f"INSERT INTO {table} VALUES (1, 0)")  # noqa: S608
        ta, tb = a.transaction(isolation="serializable"), b.transaction(isolation="serializable")
        await ta.start()
        await tb.start()
        await a.fetchval(f"SELECT n FROM {table} WHERE id = 1")  # noqa: S608
        await b.fetchval(f"SELECT n FROM {table} WHERE id = 1")  # noqa: S608
        await a.execute(f"UPDATE {table} SET n = 1 WHERE id = 1")  # noqa: S608
        await ta.commit()
        with pytest.raises(asyncpg.SerializationError) as raced:
            await b.execute(f"UPDATE {table} SET n = 2 WHERE id = 1")  # noqa: S608
        await tb.rollback()
        assert faults.is_transient(raced.value)

        with pytest.raises(asyncpg.UniqueViolationError) as twice:
            await a.execute(f"INSERT INTO {table} VALUES (1, 0)")  # noqa: S608
        assert not faults.is_transient(twice.value)
    finally:
        await a.execute(f"DROP TABLE IF EXISTS {table}")
        await a.close()
        await b.close()


@ray.remote(num_cpus=0)
def _raise(kind: str) -> None:
    errors: dict[str, Exception] = {
        "connection": asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        "cannot_connect": asyncpg.CannotConnectNowError("the database system is starting up"),
        # what a pooled connection the server dropped says to the next BEGIN (a chaos run's PostgreSQL restart)
        "mid_operation": asyncpg.exceptions.InternalClientError(
            "cannot switch to state 15; another operation (2) is in progress"
        ),
        "unique": asyncpg.UniqueViolationError("duplicate key value violates unique constraint"),
        "retryable": RetryableError("a dependency is away"),
        "missing": NotFound("case not found"),
    }
    raise errors[kind]


@pytest.mark.parametrize(
    ("kind", "transient"),
    [
        ("connection", True),
        ("cannot_connect", True),
        ("mid_operation", True),
        ("unique", False),
        ("retryable", True),
        ("missing", False),
    ],
)
async def test_an_error_raised_in_another_ray_worker_is_judged_by_its_cause(
    ray_app: dict[str, Any], kind: str, transient: bool
) -> None:
    with pytest.raises(ray.exceptions.RayTaskError) as raised:
        await _raise.remote(kind)
    assert faults.is_transient(raised.value) is transient


async def test_a_process_step_that_lost_the_database_is_retried_with_backoff_and_a_bug_is_an_incident(
    ray_app: dict[str, Any],
) -> None:
    options = TopicOptions("case-status", retries=3)
    task = TaskCommand(
        task_id="t", topic="case-status", process_instance_id="p", activity_id="a", activity_instance_id="a:1"
    )
    with pytest.raises(ray.exceptions.RayTaskError) as lost:
        await _raise.remote("connection")
    retried = outcome(task, options, lost.value)
    assert retried.retries == 2
    assert (retried.retry_timeout_ms or 0) > 0
    assert "ConnectionDoesNotExistError" in (retried.error_message or "")
    for permanent in (InvalidInput("the form does not validate"), TaskFailed("bad data", retry=False)):
        assert outcome(task, options, permanent).retries == 0


def test_fault_injection_is_refused_in_production(settings: Settings) -> None:
    faults.injection_allowed(settings)  # the tests' own stack arms crashes freely
    with pytest.raises(Forbidden):
        faults.injection_allowed(settings.model_copy(update={"env": "production"}))

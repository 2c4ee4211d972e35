"""Case-workflow shards: commands are idempotent on the case id, and a killed shard comes back with its cases."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest
import ray

from actors.cases.shards import shard_index, shard_name
from infra.settings import Settings
from messages.cases import CaseAction, CaseCommand, CaseStatus, OpenCase, OpenCaseRequest
from messages.citizen import Citizen
from messages.envelope import new_id
from tests.conftest import OfficeFactory


def command(office: uuid.UUID, procedure: uuid.UUID, case_id: uuid.UUID | None = None) -> OpenCase:
    return OpenCase(
        case_id=case_id or new_id(),
        office_id=office,
        actor="tester",
        request=OpenCaseRequest(
            procedure_id=procedure, citizen=Citizen(afm="090000045", first_name="Νίκος", last_name="Ιωάννου")
        ),
    )


def shard_of(settings: Settings, case_id: uuid.UUID) -> ray.actor.ActorHandle:
    return ray.get_actor(shard_name(shard_index(case_id, settings.case_shards)), namespace=settings.ray_namespace)


async def test_the_same_command_twice_opens_one_case_with_one_event(
    ray_app: dict[str, Any],
    settings: Settings,
    pool: asyncpg.Pool,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
) -> None:
    cmd = command(await make_office(), await make_procedure())
    shard = shard_of(settings, cmd.case_id)
    first = await shard.open_case.remote(cmd)
    again = await shard.open_case.remote(cmd)
    assert (first.created, again.created) == (True, False)
    assert first.case == again.case
    assert await pool.fetchval("SELECT count(*) FROM case_events WHERE case_id = $1", cmd.case_id) == 1
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE envelope->>'subject' = $1", str(cmd.case_id)) == 1


async def test_a_killed_shard_restarts_and_still_serves_its_cases(
    ray_app: dict[str, Any], settings: Settings, make_office: OfficeFactory, make_procedure: Callable[..., Any]
) -> None:
    office = await make_office()
    cmd = command(office, await make_procedure())
    shard = shard_of(settings, cmd.case_id)
    opened = await shard.open_case.remote(cmd)
    ray.kill(shard, no_restart=False)
    # the restarted actor has rebuilt nothing in memory: it reads the case back from PostgreSQL
    again = await shard_of(settings, cmd.case_id).get_case.remote(cmd.case_id, office)
    assert again == opened.case


@pytest.mark.parametrize("when", ["before_commit", "after_commit"])
async def test_a_shard_killed_in_the_middle_of_a_command_applies_it_once(
    ray_app: dict[str, Any],
    settings: Settings,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    pool: asyncpg.Pool[asyncpg.Record],
    when: str,
) -> None:
    office = await make_office()
    opened = await shard_of(settings, (cmd := command(office, await make_procedure())).case_id).open_case.remote(cmd)
    start = CaseCommand(
        command_id=new_id(),
        case_id=cmd.case_id,
        office_id=office,
        actor="maria",
        roles=frozenset({"employee"}),
        action=CaseAction.START,
        version=opened.case.version,
    )
    shard = shard_of(settings, cmd.case_id)
    await shard.arm_crash.remote(when)
    # the process dies inside this call; Ray restarts the shard and re-sends the same command
    view = (await shard.apply.remote(start)).case
    assert (view.status, view.version) == (CaseStatus.IN_PROGRESS, opened.case.version + 1)
    events = await pool.fetch("SELECT type FROM case_events WHERE case_id = $1 ORDER BY id", cmd.case_id)
    assert [e["type"] for e in events] == ["case.opened", "case.started"]
    outbox = await pool.fetchval("SELECT count(*) FROM outbox WHERE envelope->>'subject' = $1", str(cmd.case_id))
    assert outbox == 2
    again = await shard_of(settings, cmd.case_id).apply.remote(start)  # and once more, after the restart
    assert again.case.version == view.version


def test_shards_spread_case_ids() -> None:
    counts = [0] * 4
    for _ in range(4000):
        counts[shard_index(new_id(), 4)] += 1
    assert min(counts) > 800

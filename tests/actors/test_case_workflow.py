"""Case-workflow shards: commands are idempotent on the case id, and a killed shard comes back with its cases."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import ray

from actors.cases.shards import shard_index, shard_name
from infra.settings import Settings
from messages.cases import OpenCase, OpenCaseRequest
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


def test_shards_spread_case_ids() -> None:
    counts = [0] * 4
    for _ in range(4000):
        counts[shard_index(new_id(), 4)] += 1
    assert min(counts) > 800

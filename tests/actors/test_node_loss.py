"""A Ray cluster, not one process: a second node joins the session's cluster on this machine (kepctl/ray_nodes.py,
as `kep up --nodes 2` does); case shards placed as the bootstrap places them are on both nodes; the node
is killed as a lost machine while cases are being opened, its shards restart on the head under the same names, and
every case is there exactly once: none lost, none opened twice."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from actors.cases.shards import CaseShards, shard_name
from actors.cases.workflow import CaseWorkflowActor
from actors.ray_options import on_node_of
from infra.settings import Settings
from kepctl import ray_nodes
from messages.cases import OpenCase, OpenCaseRequest
from messages.citizen import Citizen
from messages.envelope import new_id
from tests.conftest import OfficeFactory
from tests.helpers import eventually

SHARDS = 4
CASES = 60


@ray.remote(num_cpus=0)
class Probe:
    pass


def alive_nodes() -> list[str]:
    return [n["NodeID"] for n in ray.nodes() if n["Alive"]]


def node_of(handle: Any) -> str:
    """The node an actor runs on now, from Ray's control store (no dashboard in tests)."""
    actor_id = handle._actor_id.hex()
    info: dict[str, Any] = ray._private.state.actors(actor_id)
    return str(info["Address"]["NodeID"])


@pytest.fixture
async def second_node(ray_app: dict[str, Any], tmp_path: Path) -> AsyncIterator[tuple[int, str]]:
    before = set(alive_nodes())
    address = ray.get_runtime_context().gcs_address
    node = ray_nodes.start_node(address, 1, dict(os.environ), tmp_path / "node.log", num_cpus=0)

    async def joined() -> bool:
        return len(set(alive_nodes()) - before) == 1

    await eventually(joined, within=90)
    [node_id] = set(alive_nodes()) - before
    # alive is not yet schedulable: a probe pinned to the node (hard) starts once its raylet takes work, before which
    # a soft placement there would fall back to the head
    probe = Probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False)).remote()
    await asyncio.wait_for(probe.__ray_ready__.remote(), timeout=120)
    ray.kill(probe)

    async def in_the_schedulers_view() -> bool:  # soft placements read the control store's view of resources
        return ray.available_resources().get(f"{ray_nodes.NODE_RESOURCE}-1", 0) >= 1

    await eventually(in_the_schedulers_view, within=60)
    yield node.pid, node_id
    ray_nodes.kill_node(node.pid)
    node.wait()


async def test_losing_a_node_moves_its_shards_and_no_case_is_lost_or_doubled(
    second_node: tuple[int, str],
    settings: Settings,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    pool: asyncpg.Pool[asyncpg.Record],
) -> None:
    pid, lost = second_node
    head = ray.get_runtime_context().get_node_id()
    namespace = f"{settings.ray_namespace}-nodes-{uuid.uuid4().hex[:6]}"
    handles = [
        CaseWorkflowActor.options(name=shard_name(i), namespace=namespace, lifetime="detached", **on_node_of(i)).remote(
            settings, i
        )
        for i in range(SHARDS)
    ]
    await asyncio.gather(*(h.__ray_ready__.remote() for h in handles))
    try:
        # placed as the bootstrap places them, round robin: both nodes hold shards (the placement is soft, and Ray
        # was seen to put one of the second node's on the head)
        placed = {node_of(h) for h in handles}
        assert placed == {head, lost}
        office, procedure = await make_office(), await make_procedure()
        shards = CaseShards(SHARDS, namespace)
        citizen = Citizen(afm="090000045", first_name="Νίκος", last_name="Ιωάννου")
        commands = [
            OpenCase(
                case_id=new_id(),
                office_id=office,
                actor="tester",
                request=OpenCaseRequest(procedure_id=procedure, citizen=citizen),
            )
            for _ in range(CASES)
        ]

        async def open_all() -> None:
            for batch in range(0, CASES, 4):
                await asyncio.gather(*(shards.open(c) for c in commands[batch : batch + 4]))

        ids = [c.case_id for c in commands]

        async def some_opened() -> bool:
            return int(await pool.fetchval("SELECT count(*) FROM cases WHERE id = ANY($1)", ids)) >= CASES // 4

        opening = asyncio.create_task(open_all())
        await eventually(some_opened, within=120)
        ray_nodes.kill_node(pid)  # a lost machine: raylet, agents and the shards' processes at once
        await asyncio.wait_for(opening, timeout=300)  # every open returned: retried on the restarted shards

        # the shards came back on the head, under the same names
        async def moved() -> bool:
            return lost not in alive_nodes() and all(node_of(h) == head for h in handles)

        await eventually(moved, within=120)
        assert await pool.fetchval("SELECT count(*) FROM cases WHERE id = ANY($1)", ids) == CASES
        opened = await pool.fetch(
            "SELECT case_id, count(*) AS n FROM case_events WHERE case_id = ANY($1) AND type = 'case.opened' "
            "GROUP BY case_id",
            ids,
        )
        assert {r["case_id"] for r in opened} == set(ids)
        assert all(r["n"] == 1 for r in opened)
        outbox = await pool.fetchval(
            "SELECT count(*) FROM outbox WHERE envelope->>'subject' = ANY($1)", [str(i) for i in ids]
        )
        assert outbox == CASES
    finally:
        for h in handles:
            ray.kill(h, no_restart=True)

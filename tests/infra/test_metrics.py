"""The application's metrics reach Prometheus the way an operator scrapes them: from Ray's metrics agent on the node,
prefixed `ray_`, with their tags as labels."""

from __future__ import annotations

from typing import Any

import httpx
import ray
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import eventually


def _metrics_url() -> str:
    [node] = [n for n in ray.nodes() if n["Alive"]]
    return f"http://{node['NodeManagerAddress']}:{node['MetricsExportPort']}/metrics"


async def _samples(name: str) -> list[Any]:
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(_metrics_url())).text
    return [s for family in text_string_to_metric_families(text) for s in family.samples if s.name == name]


async def test_the_bridge_publishes_the_consumers_of_every_work_queue(ray_app: dict[str, Any]) -> None:
    """Set by the bridge actor on each reading of the broker, exported by the agent: no test-side recording."""
    found: list[Any] = []

    async def exported() -> bool:
        found[:] = await _samples("ray_kep_queue_consumers")
        return bool(found)

    await eventually(exported, within=90)
    assert all(s.labels["queue"] for s in found)
    assert any(s.value >= 1 for s in found), found

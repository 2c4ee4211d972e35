"""The metrics an operator scrapes, from where Prometheus scrapes them: the session's Ray node's metrics agent (every
actor's and replica's series, prefixed `ray_`) and a `kep worker run` process's own `/metrics`. Each series exists,
and moves when the system works: requests through the HTTP API, cases opened into a process, messages drained.

Ray's agent exports what its processes recorded every few seconds: every check polls (tests.helpers.eventually).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import ray
from prometheus_client.parser import text_string_to_metric_families

from infra.metrics import CATALOGUE
from infra.settings import Settings
from serve.http_metrics import UNROUTED
from tests.bpmn_bridge.test_bridge import process_procedure
from tests.conftest import OfficeFactory
from tests.helpers import bearer, eventually
from tests.kepctl.test_worker import free_port, ready, start_worker  # noqa: F401  (start_worker: a fixture)
from tests.queues import flood
from tests.serve.test_cases_http import body

Samples = list[tuple[str, dict[str, str], float]]
CASES = 3


def _ray_metrics_url() -> str:
    [node] = [n for n in ray.nodes() if n["Alive"]]
    return f"http://{node['NodeManagerAddress']}:{node['MetricsExportPort']}/metrics"


async def _scrape(url: str) -> Samples:
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.get(url)
    answer.raise_for_status()
    families = text_string_to_metric_families(answer.text)
    return [(s.name, s.labels, s.value) for family in families for s in family.samples]


def _sum(samples: Samples, name: str, **labels: str) -> float:
    return sum(v for n, have, v in samples if n == name and labels.items() <= have.items())


async def test_the_ray_nodes_agent_exports_the_application_metrics_and_they_move_under_load(
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
) -> None:
    url = _ray_metrics_url()
    before = await _scrape(url)
    opened = {"method": "POST", "route": "/api/cases", "status": "201"}
    created_before = _sum(before, "ray_kep_http_request_seconds_count", **opened)
    fetched_before = _sum(before, "ray_kep_external_tasks_total", event="fetched")

    # when cases are opened into a process and read back, and a path no route knows is asked for
    office = await make_office()
    headers = bearer(token_for(office))
    procedure = await process_procedure(make_procedure, pool)
    ids = []
    for _ in range(CASES):
        answer = await http.post("/api/cases", json=body(procedure), headers=headers)
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["id"])
        assert (await http.get(f"/api/cases/{ids[-1]}", headers=headers)).status_code == 200
    assert (await http.get(f"/api/no-such-route/{uuid.uuid4()}", headers=headers)).status_code == 404

    # then every kind of series is exported, and those the load drives have moved
    now: Samples = []

    async def moved() -> bool:
        now[:] = await _scrape(url)
        return (
            _sum(now, "ray_kep_http_request_seconds_count", **opened) >= created_before + CASES
            and _sum(now, "ray_kep_external_tasks_total", event="fetched") > fetched_before
            and any(n == "ray_kep_cases_open" and labels["office"] == str(office) for n, labels, _ in now)
            and _sum(now, "ray_kep_autoscaler_decisions_total") > 0
        )

    await eventually(moved, within=120)
    names = {n for n, _, _ in now}
    for always in (
        "ray_kep_queue_consumers",
        "ray_kep_queue_messages",
        "ray_kep_autoscaler_current_replicas",
        "ray_kep_autoscaler_desired_replicas",
        "ray_kep_autoscaler_max_replicas",
        "ray_kep_autoscaler_target_error",
        "ray_kep_http_request_seconds_bucket",
    ):
        assert always in names, always
    # routes are templates: a series per case id would be a series per case
    routes = {labels["route"] for n, labels, _ in now if n == "ray_kep_http_request_seconds_count"}
    assert {"/api/cases", "/api/cases/{case_id}", UNROUTED} <= routes
    assert not any(case_id in route for case_id in ids for route in routes)


async def test_a_worker_process_serves_its_metrics_on_the_health_port(
    start_worker: Any,  # noqa: F811  (the fixture imported above)
    settings: Settings,
    flood_queue: str,
) -> None:
    port = free_port()
    process = start_worker(
        "sink", "--queue", flood_queue, "--service-time", "0.01", "--prefetch", "4", "--health-port", str(port)
    )
    try:
        await eventually(lambda: ready(port), within=60)
    except AssertionError:
        process.kill()
        raise AssertionError(process.communicate()[1]) from None
    url = f"http://127.0.0.1:{port}/metrics"
    before = await _scrape(url)
    assert _sum(before, "kep_worker_stats", pool="sink", stat="handled") == 0

    await flood(settings, flood_queue, 20)

    async def handled() -> bool:
        return _sum(await _scrape(url), "kep_worker_stats", pool="sink", stat="handled") == 20

    await eventually(handled, within=60)
    # no Ray agent here: the names are the catalogue's own, no `ray_` prefix
    names = {n for n, _, _ in await _scrape(url)}
    assert {n for n in names if n.startswith("kep_")} <= {
        n + suffix for n in CATALOGUE for suffix in ("", "_total", "_created", "_bucket", "_sum", "_count")
    }

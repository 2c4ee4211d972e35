"""The office's user-task list at 10,000 open tasks in one office: keyset pages against the old list-everything.

    .venv/bin/python bench/tasks_list.py [--cases 5000 --copies 2 --repeats 30]

Needs the local engine (`.venv/bin/kep services start`). The run deploys its own process (a user task for
`${office}`, `copies` times at once by parallel multi-instance) under a bench-only tenant, starts `--cases`
instances in one office (`--start-concurrency` at a time) and measures, with the engine client the API uses:

* first_page: the first page of 25 (`user_task_page`) and its case ids (`business_keys`), what `GET /api/tasks`
  asks of the engine;
* deep_page: the same for the page that starts at task `--deep` (its cursor found by walking there once);
  walk: every page of 100, first to last, once (total time, pages);
* one_task: the lookup an action does (`user_tasks(task_id=…, candidate_group=…, max_results=1)`), random tasks;
* offset_page: for comparison, the deep page by `firstResult` (what an offset API would cost);
* old_list / old_business_keys / old_action: the code before: every task of the office by GET, then the business
  keys of all their instances with the ids in the URL; an action listed everything and searched it.

Before measuring, first pages are asked until five in a row answer within 0.5 s (`settle`: how many calls, the
slowest, how long): right after the bulk start PostgreSQL may still plan the engine's task query with an empty
table's statistics. Output: one JSON line per measure (`p50_ms`, `p95_ms`, `n`; the old business-key call reports
its HTTP status or error instead when it fails), progress on stderr. Nothing is asserted. At the end (also on
error or Ctrl-C) the bench deployment is deleted with cascade, its instances with it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from bpmn_bridge.engine import EngineClient, TaskPosition, TaskQuery
from kepctl.stack import StackSettings

KEY = "bench_tasks_list"
BPMN = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="bench_tasks" targetNamespace="urn:kep:bench">
  <bpmn:process id="{KEY}" isExecutable="true" camunda:historyTimeToLive="P1D">
    <bpmn:startEvent id="start"/>
    <bpmn:userTask id="check" name="Έλεγχος φακέλου" camunda:candidateGroups="${{office}}">
      <bpmn:multiInstanceLoopCharacteristics>
        <bpmn:loopCardinality>${{copies}}</bpmn:loopCardinality>
      </bpmn:multiInstanceLoopCharacteristics>
    </bpmn:userTask>
    <bpmn:endEvent id="done"/>
    <bpmn:sequenceFlow id="to_check" sourceRef="start" targetRef="check"/>
    <bpmn:sequenceFlow id="to_done" sourceRef="check" targetRef="done"/>
  </bpmn:process>
</bpmn:definitions>
""".encode()


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def emit(measure: str, **fields: Any) -> None:
    print(json.dumps({"bench": "tasks_list", "measure": measure} | fields, ensure_ascii=False), flush=True)


async def timed(call: Callable[[], Awaitable[Any]], repeats: int) -> dict[str, Any]:
    await call()  # warm-up, not counted
    samples = []
    for _ in range(repeats):
        began = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - began) * 1000)
    cuts = statistics.quantiles(samples, n=20, method="inclusive") if len(samples) > 1 else samples * 19
    return {"p50_ms": round(statistics.median(samples), 1), "p95_ms": round(cuts[18], 1), "n": len(samples)}


async def start_cases(raw: httpx.AsyncClient, tenant: str, office: str, args: argparse.Namespace) -> None:
    path = f"/process-definition/key/{KEY}/tenant-id/{tenant}/start"
    gate = asyncio.Semaphore(args.start_concurrency)
    variables = {"office": {"type": "String", "value": office}, "copies": {"type": "Integer", "value": args.copies}}
    done = 0

    async def one() -> None:
        nonlocal done
        async with gate:
            resp = await raw.post(path, json={"businessKey": str(uuid.uuid4()), "variables": variables})
            resp.raise_for_status()
        done += 1
        if done % 1000 == 0:
            progress(f"started {done}/{args.cases}")

    await asyncio.gather(*(one() for _ in range(args.cases)))


async def run(args: argparse.Namespace) -> None:
    url = args.engine_url or StackSettings().app_env()["KEP_ENGINE_URL"]
    tenant, office = f"bench-tasks-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    limits = httpx.Limits(max_connections=args.start_concurrency * 2)
    async with (
        EngineClient(url, tenant_id=tenant, timeout_s=300) as engine,
        httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as raw,
    ):
        deployment = await engine.deploy("bench-tasks-list", {"bench_tasks.bpmn": BPMN})
        try:
            began = time.perf_counter()
            await start_cases(raw, tenant, office, args)
            query = TaskQuery(candidate_group=office, include_assigned=True)
            total = int((await raw.post("/task/count", json=query.to_dto() | {"tenantIdIn": [tenant]})).json()["count"])
            emit("setup", cases=args.cases, tasks=total, start_s=round(time.perf_counter() - began, 1))
            await measure(engine, raw, query, tenant, total, args)
        finally:
            await delete_deployment(raw, deployment.id)


async def delete_deployment(raw: httpx.AsyncClient, deployment_id: str) -> None:
    """Cascade: the instances and their history go too (minutes at 5,000 instances on two cores). Other work
    restarts the shared local engine now and then: try again rather than leave 10,000 tasks behind."""
    progress("deleting the bench deployment and its instances")
    began = time.perf_counter()
    for attempt in range(1, 6):
        try:
            resp = await raw.delete(
                f"/deployment/{deployment_id}",
                params={"cascade": "true", "skipCustomListeners": "true"},
                timeout=1800,
            )
        except httpx.TransportError as exc:
            progress(f"delete attempt {attempt}: {exc!r}; again in 15 s")
            await asyncio.sleep(15)
            continue
        if resp.status_code in (204, 404):
            progress(f"deleted in {time.perf_counter() - began:.0f} s")
            return
        progress(f"delete attempt {attempt}: HTTP {resp.status_code} {resp.text[:200]}")
        await asyncio.sleep(15)
    progress(f"NOT deleted: DELETE /deployment/{deployment_id}?cascade=true by hand")


async def measure(
    engine: EngineClient, raw: httpx.AsyncClient, query: TaskQuery, tenant: str, total: int, args: argparse.Namespace
) -> None:
    async def page_with_cases(after: TaskPosition | None, limit: int = 25) -> None:
        page = await engine.user_task_page(query, limit, after)
        await engine.business_keys([t.process_instance_id for t in page.tasks if t.process_instance_id])

    # Right after a bulk load PostgreSQL can still plan with the statistics of an empty table until autoanalyze
    # catches up (seen: a few first pages of 8 s, then 20 ms). Real offices grow slowly; wait that out, and say so.
    began, calls, slowest, fast = time.perf_counter(), 0, 0.0, 0
    while fast < 5 and time.perf_counter() - began < 180:
        t0 = time.perf_counter()
        await page_with_cases(None)
        took = (time.perf_counter() - t0) * 1000
        calls, slowest, fast = calls + 1, max(slowest, took), fast + 1 if took < 500 else 0
    emit("settle", calls=calls, slowest_ms=round(slowest), s=round(time.perf_counter() - began, 1))
    emit("first_page", **await timed(lambda: page_with_cases(None), args.repeats))

    # the walk: every page of 100, first to last
    ids: list[str] = []
    after: TaskPosition | None = None
    pages, began = 0, time.perf_counter()
    while True:
        page = await engine.user_task_page(query, 100, after)
        await engine.business_keys([t.process_instance_id for t in page.tasks if t.process_instance_id])
        pages += 1
        ids += [t.id for t in page.tasks]
        if page.after is None:
            break
        after = page.after
    walk_ms = round((time.perf_counter() - began) * 1000)
    emit("walk", pages=pages, tasks=len(ids), unique=len(set(ids)), total_ms=walk_ms)
    if args.deep < len(ids):
        # the cursor the API gives out after task --deep: walk there in pages of 25
        position = {task_id: n for n, task_id in enumerate(ids)}
        hop: TaskPosition | None = None
        while True:
            page = await engine.user_task_page(query, 25, hop)
            if page.after is None:
                break
            hop = page.after
            if position[page.tasks[-1].id] + 1 >= args.deep:
                break
        emit("deep_page", at=args.deep, **await timed(lambda: page_with_cases(hop), args.repeats))
        offset = {"firstResult": str(args.deep), "maxResults": "25"}
        by_creation = [{"sortBy": "created", "sortOrder": "asc"}, {"sortBy": "id", "sortOrder": "asc"}]
        body = query.to_dto() | {"tenantIdIn": [tenant], "sorting": by_creation}
        emit(
            "offset_page",
            at=args.deep,
            **await timed(lambda: raw.post("/task", json=body, params=offset), args.repeats),
        )

    rng = random.Random(7)
    group = query.candidate_group

    async def one_task() -> None:
        found = await engine.user_tasks(
            task_id=rng.choice(ids), candidate_group=group, include_assigned=True, max_results=1
        )
        assert found

    emit("one_task", **await timed(one_task, args.repeats))

    # the old way: everything, then the business keys of all instances through the URL
    old = {"candidateGroup": group or "", "includeAssignedTasks": "true", "tenantIdIn": tenant}
    listing: list[dict[str, Any]] = []

    async def old_list() -> None:
        nonlocal listing
        resp = await raw.get("/task", params=old | {"sortBy": "created", "sortOrder": "asc"})
        resp.raise_for_status()
        listing = resp.json()

    emit("old_list", tasks=total, **await timed(old_list, max(3, args.repeats // 5)))
    instance_ids = sorted({t["processInstanceId"] for t in listing})
    url_ids = ",".join(instance_ids)
    try:
        resp = await raw.get("/process-instance", params={"processInstanceIds": url_ids})
        outcome: dict[str, Any] = {"status": resp.status_code, "ok": resp.is_success}
    except (httpx.HTTPError, httpx.InvalidURL) as exc:  # past 64 KiB httpx refuses to build the URL at all
        outcome = {"ok": False, "error": repr(exc)}
    emit("old_business_keys", instances=len(instance_ids), url_chars=len(url_ids), **outcome)

    async def old_action() -> None:
        wanted = rng.choice(ids)
        resp = await raw.get("/task", params=old)
        assert any(t["id"] == wanted for t in resp.json())

    emit("old_action", **await timed(old_action, max(3, args.repeats // 5)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=5000, help="process instances in the office")
    parser.add_argument("--copies", type=int, default=2, help="open tasks per instance")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--deep", type=int, default=9000, help="where the deep page starts (a task's position)")
    parser.add_argument("--start-concurrency", type=int, default=8)
    parser.add_argument("--engine-url", default=None, help="default: the local stack's")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

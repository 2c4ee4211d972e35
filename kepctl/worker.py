"""`kep worker run POOL`: one member of a queue-worker pool as a process of its own, what a worker Deployment's pod
runs (deployments/k8s/base/workers/).

The member is the class the Ray pools run as a named actor (TaskWorker, Renderer, QueueSink), built here in a plain
event loop. Its handlers send case commands to the case shards, so the process joins the Ray cluster as a driver
(`KEP_RAY_ADDRESS`: the local head, or Ray Client `ray://<head>:10001` from a pod). SIGTERM, which Kubernetes sends to
a pod the Deployment no longer wants, drains it: no more messages, those in hand finished (their acknowledgements
sent), then exit 0. The pod's grace period must be longer than the drain; what is left at the end of the drain is
requeued by the broker and redelivered to another member. The health port also serves the process's metrics at
`/metrics` (infra/metrics.py records into this process's registry: a Ray Client driver has no metrics agent).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import prometheus_client
import structlog
from aiohttp import web

from infra import metrics
from infra.settings import Settings

log = structlog.get_logger("worker")
Pool = Literal["cases", "delivery", "renderer", "sink"]
POOLS: tuple[Pool, ...] = ("cases", "delivery", "renderer", "sink")


class Member(Protocol):
    async def drain(self, timeout_s: float = 60.0) -> int: ...

    async def stats(self) -> dict[str, int]: ...


@dataclass(frozen=True)
class Options:
    prefetch: int | None = None  # default: the settings' worker_prefetch (the sink: 1)
    pages: int | None = None  # renderers: pages printed at once (default: the settings' renderer_pages)
    queue: str | None = None  # the sink: the queue it drains
    service_time_s: float = 0.1  # the sink: time spent on each message (unless the message says)
    report_queue: str | None = None  # the sink: where each message's wait is published (the closed-loop bench)


async def _task_worker(settings: Settings, options: Options, group: Literal["cases", "delivery"]) -> Member:
    from bpmn_bridge.worker import TaskWorker

    worker = TaskWorker.__new__(TaskWorker)
    await TaskWorker.__init__(worker, settings, None, options.prefetch or settings.worker_prefetch, None, group)
    return worker


async def _renderer(settings: Settings, options: Options) -> Member:
    from actors.documents.renderer import Renderer

    renderer = Renderer.__new__(Renderer)
    await Renderer.__init__(renderer, settings, options.pages)
    return renderer


async def _sink(settings: Settings, options: Options) -> Member:
    from autoscaler.sink import QueueSink

    if not options.queue:
        raise ValueError("the sink needs --queue")
    sink = QueueSink.__new__(QueueSink)
    await QueueSink.__init__(
        sink, settings, options.queue, options.service_time_s, options.prefetch or 1, options.report_queue
    )
    return sink


BUILDERS: dict[Pool, Callable[[Settings, Options], Awaitable[Member]]] = {
    "cases": lambda s, o: _task_worker(s, o, "cases"),
    "delivery": lambda s, o: _task_worker(s, o, "delivery"),
    "renderer": _renderer,
    "sink": _sink,
}
NEEDS_RAY: frozenset[Pool] = frozenset({"cases", "delivery", "renderer"})  # they reach the case shards


class Probes:
    """`/livez` while the process runs; `/readyz` once the member consumes and until it drains (Kubernetes' probes,
    and what a rollout waits for); `/metrics` for Prometheus, the member's own counts read at each scrape."""

    def __init__(self, pool: Pool, registry: prometheus_client.CollectorRegistry) -> None:
        self.pool = pool
        self.registry = registry
        self.ready = False
        self.member: Member | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/livez", self._live)
        app.router.add_get("/readyz", self._ready)
        app.router.add_get("/metrics", self._metrics)
        return app

    async def _metrics(self, _: web.Request) -> web.Response:
        if self.member is not None:
            metrics.worker_stats(self.pool, await self.member.stats())
        body = prometheus_client.generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST})

    async def _live(self, _: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _ready(self, _: web.Request) -> web.Response:
        return web.Response(text="ok") if self.ready else web.Response(status=503, text="not consuming")


async def serve(
    pool: Pool, settings: Settings, options: Options, *, drain_s: float, health_port: int | None = None
) -> dict[str, Any]:
    """Run one member until SIGTERM or SIGINT, then drain it; returns what it handled and what it left."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    probes = Probes(pool, metrics.serve_in_process())
    runner: web.AppRunner | None = None
    if health_port is not None:
        runner = web.AppRunner(probes.app(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "0.0.0.0", health_port).start()  # the pod's probes come from the node
    try:
        member = probes.member = await BUILDERS[pool](settings, options)
        probes.ready = True
        log.info("worker_started", pool=pool)
        await stop.wait()
        probes.ready = False
        left = await member.drain(drain_s)
        stats = await member.stats()
        log.info("worker_drained", pool=pool, unfinished=left, **stats)
        return stats | {"unfinished": left}
    finally:
        if runner is not None:
            await runner.cleanup()

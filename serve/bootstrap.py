"""Start (or join) Ray, bring up the named actors, deploy the HTTP application. The same code on one machine and
in a KubeRay cluster: only `KEP_RAY_ADDRESS` differs."""

from __future__ import annotations

import os
from typing import Any

import ray
import structlog
from ray import serve

from actors.cases.shards import shard_name
from actors.cases.workflow import CaseWorkflowActor
from actors.outbox import OutboxRelayActor
from actors.ray_options import ActorHandle
from infra.settings import Settings
from serve.app import build

log = structlog.get_logger("bootstrap")
OUTBOX_RELAY = "kep-outbox-relay"

# Ingress throughput on Ray 2.60 (see bench/README.md): keep Serve's router and user code on the replica's
# main event loop instead of hopping threads for every request.
SERVE_ENV = {
    "RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP": "0",
    "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0",
}


# Ray keeps idle worker processes warm for tasks we never run (every actor gets its own process anyway);
# on a small machine they cost ~65 MiB each.
RAY_NODE_ENV = {
    "RAY_enable_worker_prestart": "0",
    "RAY_prestart_worker_first_driver": "0",
}


def init_ray(settings: Settings, **kwargs: Any) -> None:
    for k, v in (SERVE_ENV | RAY_NODE_ENV).items():
        os.environ.setdefault(k, v)
    if ray.is_initialized():
        return
    if settings.ray_address:
        ray.init(address=settings.ray_address, namespace=settings.ray_namespace, **kwargs)
    else:
        # "local" starts a private instance even when a `ray start` cluster runs on this machine.
        ray.init(
            address="local",
            namespace=settings.ray_namespace,
            include_dashboard=False,
            object_store_memory=200 * 1024**2,
            runtime_env={"env_vars": SERVE_ENV},
            **kwargs,
        )


def start_actors(settings: Settings, detached: bool = False) -> dict[str, ActorHandle]:
    """Named actors, created if missing; `get_if_exists` makes a second bootstrap a no-op."""
    lifetime = "detached" if detached else None
    handles: dict[str, ActorHandle] = {}
    for i in range(settings.case_shards):
        name = shard_name(i)
        handles[name] = CaseWorkflowActor.options(name=name, lifetime=lifetime, get_if_exists=True).remote(settings, i)
    handles[OUTBOX_RELAY] = OutboxRelayActor.options(name=OUTBOX_RELAY, lifetime=lifetime, get_if_exists=True).remote(
        settings
    )
    ray.get([h.__ray_ready__.remote() for h in handles.values()])
    return handles


def deploy_http(settings: Settings, replicas: int = 1) -> None:
    serve.start(http_options={"host": settings.http_host, "port": settings.http_port})
    serve.run(build(settings, replicas), name=settings.serve_app_name, route_prefix=settings.serve_route_prefix)
    log.info("http_ready", url=f"http://{settings.http_host}:{settings.http_port}/docs")


def bootstrap(settings: Settings, detached: bool = False) -> dict[str, ActorHandle]:
    init_ray(settings)
    handles = start_actors(settings, detached=detached)
    deploy_http(settings)
    return handles

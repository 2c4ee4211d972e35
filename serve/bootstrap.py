"""Start (or join) Ray, bring up the named actors, deploy the HTTP application. The same code on one machine and
in a KubeRay cluster: only `KEP_RAY_ADDRESS` differs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import ray
import structlog
from ray import serve

from actors.cases.shards import shard_name
from actors.cases.workflow import CaseWorkflowActor
from actors.catalog.catalog import CATALOG_ACTOR, ProcedureCatalogActor
from actors.delivery.reader import READER_ACTOR, DeliveryReaderActor
from actors.documents.renderer import RENDERER
from actors.documents.renderer import pool_member as renderer
from actors.eugo.notifier import NOTIFIER_ACTOR, NotifierActor
from actors.live import LIVE_RELAY, LiveRelayActor
from actors.outbox import OUTBOX_RELAY, OutboxRelayActor
from actors.ray_options import ActorHandle, on_node_of
from actors.statistics.consumer import STATISTICS_ACTOR, StatisticsActor
from autoscaler.actor import AUTOSCALER_ACTOR, AutoscalerActor
from bpmn_bridge.bridge import BRIDGE_ACTOR, CamundaBridgeActor
from bpmn_bridge.reconciler import RECONCILER_ACTOR, ReconcilerActor
from bpmn_bridge.worker import DELIVERY_WORKER, TASK_WORKER, delivery_member
from bpmn_bridge.worker import pool_member as task_worker
from infra.settings import Settings
from serve.app import build

log = structlog.get_logger("bootstrap")
__all__ = ["OUTBOX_RELAY"]  # tests and tools find the relay by this name here, with the others

# Ray keeps idle worker processes warm for tasks we never run (every actor gets its own process anyway);
# on a small machine they cost ~65 MiB each.
RAY_NODE_ENV = {
    "RAY_enable_worker_prestart": "0",
    "RAY_prestart_worker_first_driver": "0",
    # Task events feed the dashboard's and `ray list tasks`' view of every actor call; without a dashboard they
    # are work in every worker and in the GCS for nobody (a tenth of the GCS's CPU under load). Likewise the
    # per-handler statistics of Ray's event loops.
    "RAY_enable_task_events": "0",
    "RAY_event_stats": "0",
}


def serve_env(settings: Settings) -> dict[str, str]:
    """Environment of every Ray node, read by Serve at import time in each worker (bench/README.md has the figures).

    `haproxy`: the ingress replica serves HTTP itself (direct ingress) behind HAProxy on the HTTP port, so the
    Python proxy actor (the ~600 req/s ceiling) leaves the data path. `proxy`: Serve's classic proxy actor.
    The auxiliary ports derive from the HTTP port, so two clusters on one host (a `kep up` and a test run) never
    collide.
    """
    env = {
        "RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP": "0",
        "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0",
        # our structlog lines go to the replica's stderr as they happen, not through Serve's buffered logger
        "RAY_SERVE_LOG_TO_STDERR": "1",
        # the controller's reconcile loop runs ten times a second by default: a second is soon enough for a
        # replica that died (health checks run every 10 s anyway), and the controller idles at a tenth of the CPU
        "RAY_SERVE_CONTROL_LOOP_INTERVAL_S": "1",
    }
    if settings.serve_ingress == "haproxy":
        p = settings.http_port
        env |= {
            "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
            "RAY_SERVE_ENABLE_HA_PROXY": "1",
            # HAProxy's per-request log datagrams parsed in Python cost ~0.2 core; the replica counts instead
            "RAY_SERVE_HAPROXY_METRICS_ENABLED": "0",
            "RAY_SERVE_HAPROXY_STATS_PORT": str(p + 1),
            "RAY_SERVE_HAPROXY_METRICS_PORT": str(p + 2),
            "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT": str(p + 3),
            "RAY_SERVE_FALLBACK_PROXY_GRPC_PORT": str(p + 4),
            "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT": str(p + 10),
            "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT": str(p + 29),
            "RAY_SERVE_DIRECT_INGRESS_MIN_GRPC_PORT": str(p + 30),
            "RAY_SERVE_DIRECT_INGRESS_MAX_GRPC_PORT": str(p + 49),
        }
        private = haproxy_dir(settings)
        env |= {
            "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": f"{private}/haproxy.cfg",
            "RAY_SERVE_HAPROXY_SOCKET_PATH": f"{private}/admin.sock",
            "RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH": f"{private}/metrics.sock",
            "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(private),
            "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": f"{private}/server-state",
        }
    return env


def haproxy_dir(settings: Settings) -> Path:
    """Where Serve's HAProxy keeps its config, server state and admin socket (`level admin`, mode 666 in Ray's
    template: whoever reaches it reconfigures the ingress). Ray's default is the shared /tmp/haproxy-serve; ours is
    a folder only this user may enter, one per HTTP port (fixed, not $TMPDIR: the RayService carries the same
    values, tests/deployments/test_rayservice.py)."""
    return Path("/tmp") / f"kep-haproxy-{settings.http_port}"  # noqa: S108 (made 0700 by node_env; a pod's own /tmp)


def node_env(settings: Settings) -> dict[str, str]:
    """The environment a Ray node of this stack starts with; makes HAProxy's private folder on the way."""
    if settings.serve_ingress == "haproxy":
        private = haproxy_dir(settings)
        private.mkdir(mode=0o700, exist_ok=True)
        private.chmod(0o700)  # also when it was there before, made by someone else's umask
    return serve_env(settings) | RAY_NODE_ENV


def init_ray(settings: Settings, **kwargs: Any) -> None:
    for k, v in node_env(settings).items():
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
            **kwargs,
        )


def start_actors(settings: Settings, detached: bool = False) -> dict[str, ActorHandle]:
    """Named actors, created if missing; `get_if_exists` makes a second bootstrap a no-op."""
    lifetime = "detached" if detached else None
    handles: dict[str, ActorHandle] = {}
    for i in range(settings.case_shards):
        name = shard_name(i)
        placed = on_node_of(i)  # round robin over the nodes: losing one takes only its share of the shards
        handles[name] = CaseWorkflowActor.options(name=name, lifetime=lifetime, get_if_exists=True, **placed).remote(
            settings, i
        )
    handles[CATALOG_ACTOR] = ProcedureCatalogActor.options(
        name=CATALOG_ACTOR, lifetime=lifetime, get_if_exists=True
    ).remote(settings)
    handles[OUTBOX_RELAY] = OutboxRelayActor.options(name=OUTBOX_RELAY, lifetime=lifetime, get_if_exists=True).remote(
        settings
    )
    if settings.worker_pools == "ray":
        # the workers first: the bridge fetches only for topics that have consumers; the autoscaler grows the pool.
        # With `processes` they are Deployments (kepctl/worker.py) and the bridge waits for their consumers.
        first = {
            f"{TASK_WORKER}-0": task_worker,
            f"{RENDERER}-0": renderer,
            f"{DELIVERY_WORKER}-0": delivery_member,
        }
        for name, member in first.items():
            handles[name] = member(name, settings)
        ray.get([handles[name].__ray_ready__.remote() for name in first])
    handles[BRIDGE_ACTOR] = CamundaBridgeActor.options(name=BRIDGE_ACTOR, lifetime=lifetime, get_if_exists=True).remote(
        settings
    )
    handles[RECONCILER_ACTOR] = ReconcilerActor.options(
        name=RECONCILER_ACTOR, lifetime=lifetime, get_if_exists=True
    ).remote(settings)
    handles[READER_ACTOR] = DeliveryReaderActor.options(
        name=READER_ACTOR, lifetime=lifetime, get_if_exists=True
    ).remote(settings)
    if settings.autoscaler_enabled:
        handles[AUTOSCALER_ACTOR] = AutoscalerActor.options(
            name=AUTOSCALER_ACTOR, lifetime=lifetime, get_if_exists=True
        ).remote(settings)
    handles[LIVE_RELAY] = LiveRelayActor.options(name=LIVE_RELAY, lifetime=lifetime, get_if_exists=True).remote(
        settings
    )
    handles[STATISTICS_ACTOR] = StatisticsActor.options(
        name=STATISTICS_ACTOR, lifetime=lifetime, get_if_exists=True
    ).remote(settings)
    handles[NOTIFIER_ACTOR] = NotifierActor.options(name=NOTIFIER_ACTOR, lifetime=lifetime, get_if_exists=True).remote(
        settings
    )
    ray.get([h.__ray_ready__.remote() for h in handles.values()])
    return handles


def deploy_http(settings: Settings, replicas: int = 1) -> None:
    serve.start(http_options={"host": settings.http_host, "port": settings.http_port})
    serve.run(
        build(settings, replicas),
        name=settings.serve_app_name,
        route_prefix=settings.serve_route_prefix,
        # the access log costs ~15% of throughput (bench/README.md); failures are logged by the problem handlers.
        # Serve builds its access-log record for every request before the filter drops it: below WARNING, not at all
        logging_config={"enable_access_log": False, "log_level": "WARNING"},
    )
    log.info("http_ready", url=f"http://{settings.http_host}:{settings.http_port}/docs")


def bootstrap(settings: Settings, detached: bool = False) -> dict[str, ActorHandle]:
    init_ray(settings)
    handles = start_actors(settings, detached=detached)
    deploy_http(settings)
    return handles

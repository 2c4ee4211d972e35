"""Import path for a Serve config (KubeRay RayService `import_path: serve.entrypoint:app`).

Reads the settings from the environment, makes sure the named actors exist in the cluster, and returns the
HTTP application; the same bootstrap as `kep up`, minus starting Ray, which the cluster already runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import structlog
from ray import serve

from infra.settings import Settings, load_settings
from serve.app import build
from serve.bootstrap import node_env, start_actors

log = structlog.get_logger("entrypoint")


def node_env_drift(settings: Settings, environ: Mapping[str, str]) -> dict[str, tuple[str | None, str]]:
    """The Ray node settings of one machine (`node_env`) that this node runs without: name -> (found, wanted).

    Serve read them when the node's processes started; setting them here would come too late, so the pod spec
    (deployments/k8s/base/ray/rayservice.yaml) carries them and this only says when it no longer does.
    """
    return {k: (environ.get(k), v) for k, v in node_env(settings).items() if environ.get(k) != v}


def build_app(args: dict[str, Any]) -> serve.Application:
    settings = load_settings()
    if drift := node_env_drift(settings, os.environ):
        log.warning("ray_node_env_differs", http_port=settings.http_port, differs=drift)
    start_actors(settings, detached=True)
    return build(settings, replicas=int(args.get("replicas", 1)))


app = build_app

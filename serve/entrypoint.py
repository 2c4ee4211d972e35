"""Import path for a Serve config (KubeRay RayService `import_path: serve.entrypoint:app`).

Reads the settings from the environment, makes sure the named actors exist in the cluster, and returns the
HTTP application; the same bootstrap as `kep up`, minus starting Ray, which the cluster already runs.
"""

from __future__ import annotations

from typing import Any

from ray import serve

from infra.settings import load_settings
from serve.app import build
from serve.bootstrap import start_actors


def build_app(args: dict[str, Any]) -> serve.Application:
    settings = load_settings()
    start_actors(settings, detached=True)
    return build(settings, replicas=int(args.get("replicas", 1)))


app = build_app

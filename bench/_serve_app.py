"""Ray Serve side of ``bench/serve_vs_uvicorn.py`` (run as a subprocess).

    python bench/_serve_app.py '<json config>'

Starts a private local Ray cluster (``address="local"``, own temp dir), deploys
the FastAPI app from ``bench/_app.py`` with ``@serve.ingress(app)``, prints one
line ``READY {"url": ...}`` once ``GET <url>`` answers 200, then waits until
its stdin closes or it gets SIGTERM/SIGINT, and shuts Serve and Ray down.

All RAY_SERVE_* / RAY_* settings arrive through the environment, which the
parent sets *before* this process imports ray: Serve reads them at import time
(``ray/serve/_private/constants.py``) in every Ray worker, and the workers
inherit the environment of the raylet this process starts.

Config keys (all optional):
    http_port         port of the Serve HTTP proxy / HAProxy frontend
    num_cpus          CPUs given to the local Ray node
    deployment        kwargs for ``@serve.deployment`` (max_ongoing_requests, ...)
    access_log        bool, Serve LoggingConfig.enable_access_log
    log_level         Serve LoggingConfig.log_level
    temp_dir          Ray temp dir (short path: unix socket names live under it)
    target            "proxy" (default): hit http_port;
                      "direct": hit the ingress replica's own HTTP port
                      (needs RAY_SERVE_ENABLE_DIRECT_INGRESS=1 or
                      RAY_SERVE_THROUGHPUT_OPTIMIZED=1)
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import contextlib

import ray
from ray import serve

from bench._app import app

APP_NAME = "kep"
PING_PATH = "/api/ping"


def _get(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            resp.read()
            return resp.status
    except Exception:
        return 0


def _direct_ingress_urls() -> list[str]:
    """Ports the ingress replicas serve HTTP on themselves (direct ingress)."""
    from ray.serve._private.common import RequestProtocol
    from ray.serve.context import _get_global_client

    controller = _get_global_client()._controller
    groups = ray.get(controller.get_target_groups.remote(APP_NAME))
    urls = []
    for group in groups:
        if group.protocol != RequestProtocol.HTTP:
            continue
        for target in group.targets:
            urls.append(f"http://127.0.0.1:{target.port}")
    return urls


def main() -> int:
    cfg = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    http_port = int(cfg.get("http_port", 18711))
    target = cfg.get("target", "proxy")

    stop = threading.Event()

    def _watch_stdin() -> None:
        # Parent died or closed our stdin -> shut down.
        try:
            sys.stdin.read()
        finally:
            stop.set()

    threading.Thread(target=_watch_stdin, daemon=True).start()

    ray.init(
        address="local",
        num_cpus=cfg.get("num_cpus", 2),
        include_dashboard=False,
        log_to_driver=False,
        logging_level="WARNING",
        _temp_dir=cfg.get("temp_dir"),
    )
    # After ray.init, which installs its own SIGTERM handler.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        # The logging config must reach the *application* (serve.run / the
        # config file's applications[].logging_config): serve.start's only
        # covers the controller and proxy, replicas would keep the default
        # (access log on, INFO).
        logging_config = {
            "enable_access_log": bool(cfg.get("access_log", True)),
            "log_level": cfg.get("log_level", "INFO"),
        }
        serve.start(
            http_options={"host": "127.0.0.1", "port": http_port},
            logging_config=logging_config,
        )

        @serve.deployment(**cfg.get("deployment", {}))
        @serve.ingress(app)
        class PingIngress:
            pass

        serve.run(
            PingIngress.bind(),
            name=APP_NAME,
            route_prefix="/",
            blocking=False,
            logging_config=logging_config,
        )

        deadline = time.monotonic() + 120
        url = None
        while time.monotonic() < deadline and not stop.is_set():
            bases = _direct_ingress_urls() if target == "direct" else [f"http://127.0.0.1:{http_port}"]
            ready = [b for b in bases if _get(b + PING_PATH) == 200]
            if ready and len(ready) == len(bases):
                url = ready[0] + PING_PATH
                extra = ready[1:]
                break
            time.sleep(0.5)
        if url is None:
            print("FAILED not ready", flush=True)
            return 2
        print("READY " + json.dumps({"url": url, "other_urls": extra}), flush=True)
        stop.wait()
    finally:
        with contextlib.suppress(Exception):
            serve.shutdown()
        ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())

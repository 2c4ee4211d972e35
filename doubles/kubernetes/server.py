"""The HTTP face of the Kubernetes double: the apps/v1 Deployment and Scale paths, bearer tokens, RBAC denials.

Tests drive it in process (`app.cluster`, `app.seen`); a double run as its own process is driven through `/_admin`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from doubles import serving
from doubles.kubernetes.cluster import ApiError, Cluster, bad_request, unauthorized

PREFIX = "/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class SeenRequest:
    """One API request as it arrived, for tests that check what a client sent."""

    method: str
    path: str
    content_type: str | None
    body: Any


class KubeApp(Starlette):
    cluster: Cluster
    seen: list[SeenRequest]


def _status(error: ApiError) -> JSONResponse:
    return JSONResponse(error.status, status_code=error.code)


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw) if raw else None
    except ValueError as exc:
        raise bad_request(f"error decoding the request body: {exc}") from None


def create_app(cluster: Cluster | None = None, *, token: str | None = None) -> KubeApp:
    """`token` None accepts any caller; otherwise `Authorization: Bearer <token>` is required, as a real server does."""
    app: KubeApp

    def api(verb: str, resource: str, fn: Callable[[str, str, str | None, Any], Any]) -> Handler:
        async def handler(request: Request) -> Response:
            namespace, name = request.path_params["namespace"], request.path_params["name"]
            content_type = request.headers.get("content-type")
            media = content_type.split(";")[0].strip() if content_type else None
            try:
                body = await _json_body(request) if request.method in ("PATCH", "PUT") else None
                app.seen.append(SeenRequest(request.method, request.url.path, media, body))
                if token is not None and request.headers.get("authorization") != f"Bearer {token}":
                    raise unauthorized()
                app.cluster.authorize(verb, resource, namespace, name)
                return JSONResponse(fn(namespace, name, media, body))
            except ApiError as exc:
                return _status(exc)

        return handler

    def get_deployment(ns: str, name: str, media: str | None, body: Any) -> Any:
        return app.cluster.read(ns, name, scale=False)

    def get_scale(ns: str, name: str, media: str | None, body: Any) -> Any:
        return app.cluster.read(ns, name, scale=True)

    def patch_scale(ns: str, name: str, media: str | None, body: Any) -> Any:
        return app.cluster.patch_scale(ns, name, media or "", body)

    def replace_scale(ns: str, name: str, media: str | None, body: Any) -> Any:
        # kubernetes-client 37 sends a PUT without Content-Type; the server reads it as JSON
        return app.cluster.replace_scale(ns, name, body)

    routes = [
        Route(PREFIX, api("get", "deployments", get_deployment), methods=["GET"]),
        Route(f"{PREFIX}/scale", api("get", "deployments/scale", get_scale), methods=["GET"]),
        Route(f"{PREFIX}/scale", api("patch", "deployments/scale", patch_scale), methods=["PATCH"]),
        Route(f"{PREFIX}/scale", api("update", "deployments/scale", replace_scale), methods=["PUT"]),
        *_admin_routes(lambda: app),
    ]
    app = KubeApp(routes=routes)
    app.cluster, app.seen = cluster or Cluster(), []
    return app


def _admin_routes(get_app: Callable[[], KubeApp]) -> list[Route]:
    """Out-of-band control for a double in another process: create, another writer, readiness, denials."""

    async def deployment(request: Request) -> Response:
        ns, name = request.path_params["namespace"], request.path_params["name"]
        body = await request.json() if await request.body() else {}
        cluster = get_app().cluster
        try:
            match request.path_params["action"]:
                case "create":
                    options = {k: body[k] for k in ("replicas", "ready", "ready_after_reads") if k in body}
                    return JSONResponse(cluster.create(ns, name, **options))
                case "write":
                    version = cluster.other_writer(ns, name, replicas=body.get("replicas"))
                    return JSONResponse({"resourceVersion": version})
                case "ready":
                    cluster.make_ready(ns, name)
                    return JSONResponse({})
                case other:
                    return JSONResponse({"error": f"unknown action {other!r}"}, status_code=400)
        except ApiError as exc:
            return _status(exc)

    async def deny(request: Request) -> Response:
        cluster = get_app().cluster
        if request.method == "DELETE":
            cluster.allow_all()
        else:
            body = await request.json()
            cluster.deny(body["verb"], body["resource"], body.get("namespace"))
        return JSONResponse({})

    async def seen(request: Request) -> Response:
        return JSONResponse([vars(s) for s in get_app().seen])

    return [
        Route("/_admin/deployments/{namespace}/{name}/{action}", deployment, methods=["POST"]),
        Route("/_admin/deny", deny, methods=["POST", "DELETE"]),
        Route("/_admin/requests", seen),
    ]


@contextmanager
def serve_in_thread(app: Starlette, *, host: str = "127.0.0.1", port: int | None = None) -> Iterator[str]:
    """Run the app in a background thread for the duration of the block; yields its base URL."""
    with serving.serve_in_thread(app, "kube-double", host=host, port=port) as url:
        yield url


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local Kubernetes API double (Deployments and their scale)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18443)
    parser.add_argument("--token", default=None)
    parser.add_argument("--deployment", action="append", default=[], help="namespace/name=replicas, repeatable")
    args = parser.parse_args(argv)
    cluster = Cluster()
    for spec in args.deployment:
        target, _, replicas = spec.partition("=")
        namespace, _, name = target.partition("/")
        cluster.create(namespace, name, replicas=int(replicas or 1))
    uvicorn.run(create_app(cluster, token=args.token), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()

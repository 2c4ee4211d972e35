"""A local HTTP server that speaks the Mitos wire protocol over a synthetic data set, with faults on demand."""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from doubles import serving
from doubles.mitos.generator import DEFAULT_COUNT, MitosDataset, generate

FaultKind = Literal["status", "delay", "envelope_false"]
Handler = Callable[[Request], Awaitable[Response]]

MALFORMED_RECORD: dict[str, Any] = {"title": "not-an-object", "metadata": "not-an-object", "last_updated": "yesterday"}


@dataclass
class Fault:
    """The next `times` requests whose path matches the glob `path` get an error, a delay or a failed envelope."""

    path: str
    kind: FaultKind
    times: int
    status: int = 500
    delay_s: float = 0.0


class FaultPlan:
    """Faults the tests arm at run time; it is shared with the server thread, hence the lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._malformed: set[int] = set()
        self.hits: Counter[str] = Counter()

    def fail(self, path: str, *, status: int = 500, times: int = 1) -> None:
        self._add(Fault(path, "status", times, status=status))

    def delay(self, path: str, *, seconds: float, times: int = 1) -> None:
        self._add(Fault(path, "delay", times, delay_s=seconds))

    def envelope_false(self, path: str, *, times: int = 1) -> None:
        self._add(Fault(path, "envelope_false", times))

    def malformed(self, mitos_id: int) -> None:
        with self._lock:
            self._malformed.add(mitos_id)

    def is_malformed(self, mitos_id: int) -> bool:
        with self._lock:
            return mitos_id in self._malformed

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self._malformed.clear()
            self.hits.clear()

    def _add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def take(self, path: str) -> Fault | None:
        with self._lock:
            self.hits[path] += 1
            for fault in self._faults:
                if fault.times > 0 and fnmatch.fnmatchcase(path, fault.path):
                    fault.times -= 1
                    return fault
        return None


class MitosApp(Starlette):
    """The Starlette app plus its data set and fault plan, reachable from tests as attributes."""

    dataset: MitosDataset
    faults: FaultPlan
    data_lock: threading.Lock


def _fail(status: int, message: str) -> JSONResponse:
    return JSONResponse({"success": False, "message": message}, status_code=status)


def _ok(data: Any, **extra: Any) -> JSONResponse:
    return JSONResponse({"success": True, "data": data, **extra})


def _int_param(request: Request, name: str, default: int | None = None) -> int:
    raw = request.query_params.get(name) if name in request.query_params else request.path_params.get(name)
    if raw is None:
        if default is None:
            raise HTTPException(400, f"Missing parameter: {name}")
        return default
    try:
        return int(raw)
    except ValueError:
        raise HTTPException(400, f"Invalid parameter {name}: {raw!r}") from None


def create_app(
    dataset: MitosDataset, *, api_key: str | None = None, default_limit: int = 50, max_limit: int = 1000
) -> MitosApp:
    """Build the app; `api_key` None means no auth, as during the API's beta."""
    app: MitosApp

    def endpoint(fn: Callable[[Request], Response]) -> Handler:
        async def wrapped(request: Request) -> Response:
            fault = app.faults.take(request.url.path)
            if api_key is not None and request.headers.get("x-api-key") != api_key:
                return _fail(401, "Invalid or missing API key")
            if fault is not None:
                if fault.kind == "status":
                    return _fail(fault.status, "Injected fault")
                if fault.kind == "envelope_false":
                    return JSONResponse({"success": False, "message": "Injected envelope failure"})
                await asyncio.sleep(fault.delay_s)
            with app.data_lock:
                return fn(request)

        return wrapped

    def list_services(request: Request) -> Response:
        page, limit = _int_param(request, "page", 1), _int_param(request, "limit", default_limit)
        if page < 1 or not 1 <= limit <= max_limit:
            return _fail(400, f"page must be >= 1 and limit between 1 and {max_limit}")
        items = app.dataset.list_items()
        chunk = items[(page - 1) * limit : page * limit]
        next_page = page + 1 if page * limit < len(items) else None
        return _ok(chunk, total=len(items), current_page=page, next_page=next_page, limit=limit)

    def record(extended: bool) -> Callable[[Request], Response]:
        def handler(request: Request) -> Response:
            mitos_id = _int_param(request, "id")
            lang = request.query_params.get("lang")
            if lang not in (None, "el", "en"):
                return _fail(400, f"Unsupported lang: {lang}")
            found = app.dataset.extended(mitos_id, lang) if extended else app.dataset.flat(mitos_id, lang)
            if found is None:
                return _fail(404, f"Service {mitos_id} not found")
            if app.faults.is_malformed(mitos_id):
                found = {"id": mitos_id, **MALFORMED_RECORD}
            return _ok(found)

        return handler

    def search_filter(request: Request) -> Response:
        return _fail(400, "Filter search is not available")

    def registry(table: Callable[[], dict[str, Any]], *, by_query: bool) -> Handler:
        def handler(request: Request) -> Response:
            key = request.query_params.get("id") if by_query else request.path_params["id"]
            if not key:
                return _fail(400, "Missing parameter: id")
            found = table().get(key)
            if found is None:
                return _fail(404, f"{key} not found")
            return _ok({k: v for k, v in found.items() if k != "org"})

        return endpoint(handler)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return _fail(exc.status_code, exc.detail)

    def ds() -> MitosDataset:
        return app.dataset

    routes = [
        Route("/v1/services", endpoint(list_services)),
        Route("/v1/services/search/filter/{filter}", endpoint(search_filter)),
        Route("/v1/services/{id}", endpoint(record(extended=False))),
        Route("/v1/services-extended/{id}", endpoint(record(extended=True))),
        Route("/v1/organization", registry(lambda: ds().organizations, by_query=True)),
        Route("/v1/unit", registry(lambda: ds().units, by_query=True)),
        Route("/v1/registries/nace/{id}", registry(lambda: ds().nace, by_query=False)),
        Route("/v1/registries/sdg/{id}", registry(lambda: ds().sdg, by_query=False)),
        Route("/v1/registry/id/{id}", registry(lambda: ds().registries, by_query=False)),
        Route("/v1/registries/evidence/{id}", registry(lambda: ds().evidence_types, by_query=False)),
        Route("/v1/registries/evidence/taxonomy/provision_org_gro/{id}", registry(lambda: ds().groups, by_query=False)),
        *_admin_routes(lambda: app),
    ]
    app = MitosApp(routes=routes, exception_handlers={HTTPException: http_error})
    app.dataset, app.faults, app.data_lock = dataset, FaultPlan(), threading.Lock()
    return app


def _admin_routes(get_app: Callable[[], MitosApp]) -> list[Route]:
    """Out-of-band control for tests in another process: arm faults, clear them, change the data set."""

    async def faults(request: Request) -> Response:
        plan = get_app().faults
        if request.method == "DELETE":
            plan.clear()
            return _ok(None)
        body = await request.json()
        kind, path, times = body.get("kind"), body.get("path", "*"), int(body.get("times", 1))
        if kind == "status":
            plan.fail(path, status=int(body.get("status", 500)), times=times)
        elif kind == "delay":
            plan.delay(path, seconds=float(body["delay_s"]), times=times)
        elif kind == "envelope_false":
            plan.envelope_false(path, times=times)
        elif kind == "malformed":
            plan.malformed(int(body["id"]))
        else:
            return _fail(400, f"Unknown fault kind: {kind}")
        return _ok(None)

    async def mutate(request: Request) -> Response:
        body = await request.json()
        app = get_app()
        with app.data_lock:
            added = app.dataset.add(int(body.get("add", 0)))
            app.dataset.change([int(i) for i in body.get("change", [])])
            app.dataset.touch([int(i) for i in body.get("touch", [])])
            app.dataset.remove([int(i) for i in body.get("remove", [])])
        return _ok({"added": added})

    async def hits(request: Request) -> Response:
        return _ok(dict(get_app().faults.hits))

    return [
        Route("/_admin/faults", faults, methods=["POST", "DELETE"]),
        Route("/_admin/mutate", mutate, methods=["POST"]),
        Route("/_admin/hits", hits),
    ]


@contextmanager
def serve_in_thread(app: MitosApp, *, host: str = "127.0.0.1", port: int | None = None) -> Iterator[str]:
    """Run the app in a background thread for the duration of the block; yields its base URL."""
    with serving.serve_in_thread(app, "mitos-double", host=host, port=port) as url:
        yield url


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local Mitos API double")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18090)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT)
    parser.add_argument("--api-key", default=None)
    args = parser.parse_args(argv)
    app = create_app(generate(seed=args.seed, count=args.count), api_key=args.api_key)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()

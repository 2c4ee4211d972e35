"""Faults a double injects at run time, armed by tests (in-process or over `/_admin/faults`): latency, a timeout
(no answer within the client's patience), an HTTP error status, an authentication failure, a malformed reply.
Every request is also logged, so a test can count what reached the remote side (one posting, not two)."""

from __future__ import annotations

import asyncio
import fnmatch
import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

FaultKind = Literal["delay", "timeout", "status", "auth", "malformed"]
TIMEOUT_S = 120.0  # "no answer": longer than any client here waits


@dataclass
class Fault:
    """The next `times` requests to an operation matching the glob `operation` get this fault (`times` < 0: all)."""

    operation: str
    kind: FaultKind
    times: int = 1
    status: int = 500
    delay_s: float = 0.0


@dataclass
class LoggedCall:
    operation: str
    key: str | None  # what identifies the effect (an idempotency key, a transaction id), where there is one
    detail: dict[str, Any] = field(default_factory=dict)


class FaultPlan:
    """Shared with the server thread or process, hence the lock."""

    def __init__(self, latency_s: float = 0.0, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.latency_s = latency_s  # added to every answer (a remote system far away)
        self.failure_rate = 0.0  # a share of answers that fail with 503, drawn by `rng`
        self.rng = random.Random(seed)  # noqa: S311 - which answers fail, not a secret
        self.calls: list[LoggedCall] = []
        self.hits: Counter[str] = Counter()

    def arm(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self.calls.clear()
            self.hits.clear()
            self.latency_s = 0.0
            self.failure_rate = 0.0

    def take(self, operation: str) -> Fault | None:
        with self._lock:
            self.hits[operation] += 1
            for fault in self._faults:
                if fault.times != 0 and fnmatch.fnmatchcase(operation, fault.operation):
                    fault.times -= 1 if fault.times > 0 else 0
                    return fault
            if self.failure_rate > 0 and self.rng.random() < self.failure_rate:
                return Fault(operation, "status", times=0, status=503)
        return None

    def log(self, operation: str, key: str | None = None, **detail: Any) -> None:
        with self._lock:
            self.calls.append(LoggedCall(operation, key, detail))

    def logged(self, operation: str) -> list[LoggedCall]:
        with self._lock:
            return [c for c in self.calls if c.operation == operation]

    async def before(self, fault: Fault | None) -> None:
        """The latency every answer has, and a fault's own wait."""
        wait = self.latency_s + (fault.delay_s if fault and fault.kind == "delay" else 0.0)
        if fault is not None and fault.kind == "timeout":
            wait = TIMEOUT_S
        if wait:
            await asyncio.sleep(wait)


def admin_routes(plan: FaultPlan) -> list[Route]:
    """`POST /_admin/faults` {operation, kind, times, status, delay_s} arms one; `PUT /_admin/latency` {latency_s,
    failure_rate}; `DELETE /_admin/faults` clears all; `GET /_admin/calls` the request log."""

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            plan.clear()
            return JSONResponse({"ok": True})
        body = await request.json()
        plan.arm(
            Fault(
                operation=str(body.get("operation", "*")),
                kind=body["kind"],
                times=int(body.get("times", 1)),
                status=int(body.get("status", 500)),
                delay_s=float(body.get("delay_s", 0.0)),
            )
        )
        return JSONResponse({"ok": True})

    async def latency(request: Request) -> Response:
        body = await request.json()
        plan.latency_s = float(body.get("latency_s", 0.0))
        plan.failure_rate = float(body.get("failure_rate", 0.0))
        return JSONResponse({"ok": True})

    async def calls(request: Request) -> Response:
        return JSONResponse([{"operation": c.operation, "key": c.key, **c.detail} for c in plan.calls])

    return [
        Route("/_admin/faults", faults, methods=["POST", "DELETE"]),
        Route("/_admin/latency", latency, methods=["PUT"]),
        Route("/_admin/calls", calls, methods=["GET"]),
    ]

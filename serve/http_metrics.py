"""Every HTTP answer counted and timed by method, route template and status (`kep_http_requests`,
`kep_http_request_seconds`).

The route is the template the router matched (`/api/cases/{case_id}`), read from the scope after the request was
handled, never the path: a path per case id would make a series per case. An answer given before routing (a 429 of
the rate limiter, a 413 of the guard) or by no route (404) is counted under `UNROUTED`.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infra import metrics

UNROUTED = "(unrouted)"


class HttpMetrics:
    """ASGI middleware, the outermost: it times what every other one costs too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the application raised before it started an answer

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNROUTED
            metrics.http_request(scope["method"], route, status, time.perf_counter() - started)

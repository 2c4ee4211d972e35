"""The one FastAPI app both benchmark targets serve.

Plain uvicorn serves ``app`` directly; Ray Serve wraps the *same* object with
``@serve.ingress(app)`` (see ``bench/_serve_app.py``). Keep the handler shape
close to our real routers: an ``async def`` GET returning a small dict that
FastAPI serialises to JSON.
"""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI(title="kep-bench", docs_url=None, redoc_url=None, openapi_url=None)

_PAYLOAD = {"status": "ok", "service": "kep-backoffice", "version": 1}


@app.get("/api/ping")
async def ping() -> dict:
    return _PAYLOAD

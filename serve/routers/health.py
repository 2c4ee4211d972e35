"""Liveness and readiness for orchestrators, load balancers and operators."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse

from messages.health import Readiness
from messages.roles import Role
from serve.deps import Ctx, authenticate

router = APIRouter(tags=["health"])


@router.get("/livez")
@router.get("/healthz")
async def livez() -> dict[str, str]:
    """The process answers; says nothing of its dependencies (cheap: an orchestrator asks it often)."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
async def readyz(ctx: Ctx, authorization: Annotated[str | None, Header()] = None) -> JSONResponse:
    """200 or 503 for anyone (a probe needs no more); what is wrong, by name, for an administrator's token only:
    the internals of the system are nobody else's business."""
    report = await ctx.readiness()
    status = 200 if report.ok else 503
    if authorization is None:
        return JSONResponse({"ok": report.ok}, status_code=status)
    (await authenticate(authorization)).require(Role.ADMINISTRATOR)
    return JSONResponse(report.model_dump(mode="json"), status_code=status)

"""Administrators' view of the reconciler: the last comparison of every case with its process instance (what
disagreed, what was repaired, what needs a person), and a pass on request."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from serve.deps import Admin, Ctx
from serve.routers.cases import PROBLEMS

router = APIRouter(prefix="/api/admin/reconciler", tags=["admin: reconciler"], responses=PROBLEMS)


@router.get("")
async def last_report(_: Admin, ctx: Ctx) -> dict[str, Any] | None:
    """The last pass's report (null before the first): counts of drift by kind, repaired and not, up to 200 of
    the drifts with case, instance, what disagreed and the repair."""
    report: dict[str, Any] | None = await ctx.reconciler.call("report")
    return report


@router.post("/run")
async def run_now(_: Admin, ctx: Ctx, repair: bool = True) -> dict[str, Any]:
    """A pass now (`repair=false`: compare and report only)."""
    report: dict[str, Any] = await ctx.reconciler.call("run", repair)
    return report

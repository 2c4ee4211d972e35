"""Operators' view of the autoscaler: policies in force, replicas, latest readings, recent decisions; reload the
policy files after editing them (a file that does not validate is refused field by field and changes nothing)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from actors.handles import ActorMissing
from messages.errors import FieldError, InvalidInput, NotAvailable
from serve.deps import Admin, Ctx
from serve.routers.cases import PROBLEMS

router = APIRouter(prefix="/api/admin/autoscaler", tags=["admin: autoscaler"], responses=PROBLEMS)


class DryRun(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    dry_run: bool


async def _call(ctx: Ctx, method: str, *args: Any) -> Any:
    if not ctx.settings.autoscaler_enabled:
        raise NotAvailable("the autoscaler is switched off on this system (KEP_AUTOSCALER_ENABLED)")
    try:
        return await ctx.autoscaler.call(method, *args)
    except ActorMissing:
        raise NotAvailable("the autoscaler is not running") from None


def _pointer(problem: str) -> FieldError:
    """`targets.0.max_replicas: message` as a JSON pointer into the policy file."""
    where, _, message = problem.partition(": ")
    return FieldError("" if where == "(file)" else "/" + where.replace(".", "/"), message, "policy")


@router.get("")
async def view(_: Admin, ctx: Ctx, recent: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    answer: dict[str, Any] = await _call(ctx, "view", recent)
    return answer


@router.post("/reload")
async def reload(_: Admin, ctx: Ctx) -> dict[str, Any]:
    result: dict[str, Any] = await _call(ctx, "reload")
    if not result["reloaded"]:
        raise InvalidInput(
            f"{result['file']} was refused; the policies in force stay", [_pointer(p) for p in result["problems"]]
        )
    return result


@router.put("/dry-run")
async def set_dry_run(body: DryRun, _: Admin, ctx: Ctx) -> DryRun:
    await _call(ctx, "set_dry_run", body.dry_run)
    return body

"""The delivery adapters' configuration check, for administrators: for each external system, whether its settings,
its connection and its credentials work now — found here, not at the first case that needs it."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from actors.delivery.configured import configured
from serve.deps import Ctx
from serve.routers.admin_catalog import Admin
from serve.routers.cases import PROBLEMS

router = APIRouter(prefix="/api/admin/adapters", tags=["adapters"], responses=PROBLEMS)


class AdapterCheck(BaseModel):
    model_config = ConfigDict(frozen=True)

    adapter: str
    ok: bool
    checks: dict[str, str | None]  # check -> None when fine, else what is wrong


@router.get("/check", response_model=list[AdapterCheck])
async def check_adapters(_: Admin, ctx: Ctx) -> list[AdapterCheck]:
    """Every adapter's `check_config`: settings, connectivity, credentials (one real call to each system)."""
    adapters = configured(ctx.settings, ctx.pool.acquire)
    try:
        return [AdapterCheck(adapter=r.adapter, ok=r.ok, checks=r.checks) for r in await adapters.reports()]
    finally:
        await adapters.close()

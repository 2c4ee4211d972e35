"""The delivery adapters for administrators: their configuration in this environment (endpoints and options, which
secrets are set; saved over the settings, tried before it is saved, audited) and the configuration check of each
external system: whether its settings, its connection and its credentials work now — found here, not at the first
case that needs it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from actors.delivery import admin_config
from actors.delivery.configured import current
from serve.deps import Admin, Ctx, RequestId
from serve.routers.cases import PROBLEMS

router = APIRouter(prefix="/api/admin/adapters", tags=["adapters"], responses=PROBLEMS)


class AdapterCheck(BaseModel):
    model_config = ConfigDict(frozen=True)

    adapter: str
    ok: bool
    checks: dict[str, str | None]  # check -> None when fine, else what is wrong


class AdapterConfigView(BaseModel):
    model_config = ConfigDict(frozen=True)

    adapter: str
    source: str  # "settings": nothing saved; "saved": administrators' values over the settings
    configured: bool
    enabled: bool
    values: dict[str, Any]
    secrets: dict[str, bool]  # whether each secret is set; never its value
    version: int | None
    updated_by: str | None


class AdapterConfigChange(BaseModel):
    """A field left out stays as it is; null in `values` takes the setting's value again."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    values: dict[str, str | int | float | bool | None] = Field(default_factory=dict, max_length=50)
    secrets: dict[str, SecretStr] = Field(default_factory=dict, max_length=20)
    reason: str | None = Field(default=None, max_length=500)
    check: bool = True  # try it (check_config) before saving


@router.get("/check", response_model=list[AdapterCheck])
async def check_adapters(_: Admin, ctx: Ctx) -> list[AdapterCheck]:
    """Every adapter's `check_config` as configured now: settings, connectivity, credentials (one real call each)."""
    adapters = await current(ctx.settings, ctx.pool.acquire)
    try:
        return [AdapterCheck(adapter=r.adapter, ok=r.ok, checks=r.checks) for r in await adapters.reports()]
    finally:
        await adapters.close()


@router.get("", response_model=list[AdapterConfigView])
async def list_configs(_: Admin, ctx: Ctx) -> list[AdapterConfigView]:
    """Each adapter's configuration in effect here: its options, and which secrets are set."""
    async with ctx.pool.acquire() as conn:
        found = await admin_config.views(conn, ctx.settings)
    return [AdapterConfigView.model_validate(v, from_attributes=True) for v in found]


@router.put("/{adapter}", response_model=AdapterConfigView)
async def configure(
    adapter: str, body: AdapterConfigChange, admin: Admin, ctx: Ctx, request_id: RequestId
) -> AdapterConfigView:
    """Save endpoints, options and secrets of one adapter for this environment; the delivery workers take them at
    their next step. 422 with the field's pointer for an option the adapter refuses or a check that fails."""
    secrets = {k: v.get_secret_value() for k, v in body.secrets.items()}
    async with ctx.pool.acquire() as conn:
        view = await admin_config.save(
            conn, ctx.settings, ctx.pool.acquire, name=adapter, values=dict(body.values), secrets=secrets,
            actor=admin.subject, request_id=request_id, reason=body.reason, check=body.check,
        )  # fmt: skip
    return AdapterConfigView.model_validate(view, from_attributes=True)


@router.delete("/{adapter}", response_model=AdapterConfigView)
async def reset(adapter: str, admin: Admin, ctx: Ctx, request_id: RequestId) -> AdapterConfigView:
    """Forget what was saved: the settings alone again."""
    async with ctx.pool.acquire() as conn:
        view = await admin_config.reset(
            conn, ctx.settings, name=adapter, actor=admin.subject, request_id=request_id, reason=None
        )
    return AdapterConfigView.model_validate(view, from_attributes=True)

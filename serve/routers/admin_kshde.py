"""ΚΣΗΔΕ's org chart for administrators: search the units to pick a procedure's recipients, read one, and sync the
chart now."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from actors.delivery import orgchart
from actors.delivery.configured import configured
from messages.errors import NotAvailable
from messages.kshde import KshdeUnit, SyncReport
from messages.problems import Problem
from serve import paging
from serve.deps import Admin, Ctx
from serve.routers.cases import PROBLEMS

router = APIRouter(prefix="/api/admin/kshde", tags=["admin: ΚΣΗΔΕ"], responses=PROBLEMS)
# ΚΣΗΔΕ refusing the sector's credentials (502), not configured or away (503)
REMOTE: dict[int | str, dict[str, object]] = {
    code: {"model": Problem, "content": {"application/problem+json": {}}} for code in (502, 503)
}
Code = Annotated[str, Path(min_length=1, max_length=100, description="the unit's SectorCode")]


@router.get("/units", response_model=list[KshdeUnit])
async def search_units(
    _: Admin,
    ctx: Ctx,
    request: Request,
    response: Response,
    q: Annotated[str | None, Query(max_length=200, description="words of the code, Greek or English name")] = None,
    sddd: Annotated[bool, Query(description="only units that can receive documents")] = True,
    inactive: Annotated[bool, Query(description="units that are inactive or left the chart too")] = False,
    limit: paging.Limit = paging.DEFAULT_LIMIT,
    after: Annotated[str | None, Query(min_length=1, max_length=100, description="the last unit's code seen")] = None,
) -> list[KshdeUnit]:
    """Units by name, accents and case aside, a page at a time (the next one in the `Link` header)."""
    async with ctx.pool.acquire() as conn:
        found = await orgchart.search(conn, q, only_sddd=sddd, include_inactive=inactive, limit=limit + 1, after=after)
    units, headers = paging.page(request, found, limit, lambda unit: unit.code)
    response.headers.update(headers)
    return units


@router.get("/units/{code}", response_model=KshdeUnit)
async def get_unit(code: Code, _: Admin, ctx: Ctx) -> KshdeUnit:
    """The unit, also when it is inactive or has left the chart (a recipient chosen before must still resolve)."""
    async with ctx.pool.acquire() as conn:
        return await orgchart.get(conn, code)


@router.post("/sync", response_model=SyncReport, responses=REMOTE)
async def sync_chart(_: Admin, ctx: Ctx) -> SyncReport:
    """Reads the chart from ΚΣΗΔΕ now and applies it (nothing when it is the one stored); 503 when ΚΣΗΔΕ is not
    configured or cannot be reached."""
    adapters = configured(ctx.settings, ctx.pool.acquire)
    try:
        if adapters.kshde is None:
            raise NotAvailable("ΚΣΗΔΕ is not configured (KEP_KSHDE_* settings)")
        return await orgchart.sync(ctx.pool.acquire, adapters.kshde)
    finally:
        await adapters.close()

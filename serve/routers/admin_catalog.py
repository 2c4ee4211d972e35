"""Administrators' catalogue screens: list with filters and totals, one procedure, activation, CSV, sync."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from actors.catalog import store
from messages.catalog import AdminProcedure, ProcedureFilter, ProcedurePage, SyncKind, SyncRun
from serve.deps import Caller, Ctx, call_actor
from serve.routers.cases import PROBLEMS
from serve.security import Principal, Role

router = APIRouter(prefix="/api/admin", tags=["admin: catalogue"], responses=PROBLEMS)


def administrator(caller: Caller) -> Principal:
    caller.require(Role.ADMINISTRATOR)
    return caller


Admin = Annotated[Principal, Depends(administrator)]
Filters = Annotated[ProcedureFilter, Query()]


@router.get("/procedures", response_model=ProcedurePage)
async def list_procedures(_: Admin, ctx: Ctx, f: Filters) -> ProcedurePage:
    async with ctx.pool.acquire() as conn:
        return await store.list_procedures(conn=conn, f=f)


@router.get("/procedures.csv", response_class=Response)
async def export_csv(_: Admin, ctx: Ctx, f: Filters) -> Response:
    """The filtered list, every page of it."""
    everything = f.model_copy(update={"page": 1, "size": 1_000_000})
    async with ctx.pool.acquire() as conn:
        page = await store.list_procedures(conn=conn, f=everything)
    headers = {"Content-Disposition": 'attachment; filename="procedures.csv"'}
    return Response(store.to_csv(page), media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/procedures/{procedure_id}", response_model=AdminProcedure)
async def get_procedure(
    procedure_id: uuid.UUID, _: Admin, ctx: Ctx, lang: Literal["el", "en"] = "el"
) -> AdminProcedure:
    async with ctx.pool.acquire() as conn:
        proc = await store.get_procedure(conn=conn, procedure_id=procedure_id)
    english = lang == "en"
    return proc.model_copy(
        update={
            "lang": lang,
            "title": (proc.title_en if english else None) or proc.title_el,
            "description": (proc.description_en if english else None) or proc.description_el,
        }
    )


@router.post("/procedures/{procedure_id}/activate", response_model=AdminProcedure)
async def activate(procedure_id: uuid.UUID, _: Admin, ctx: Ctx) -> AdminProcedure:
    async with ctx.pool.acquire() as conn:
        return await store.set_active(conn=conn, procedure_id=procedure_id, active=True)


@router.post("/procedures/{procedure_id}/deactivate", response_model=AdminProcedure)
async def deactivate(procedure_id: uuid.UUID, _: Admin, ctx: Ctx) -> AdminProcedure:
    async with ctx.pool.acquire() as conn:
        return await store.set_active(conn=conn, procedure_id=procedure_id, active=False)


@router.get("/catalog/sync-runs", response_model=list[SyncRun])
async def sync_runs(_: Admin, ctx: Ctx, limit: Annotated[int, Query(ge=1, le=200)] = 20) -> list[SyncRun]:
    async with ctx.pool.acquire() as conn:
        return await store.sync_runs(conn=conn, limit=limit)


@router.post("/catalog/sync", response_model=SyncRun)
async def trigger_sync(_: Admin, ctx: Ctx, kind: SyncKind = SyncKind.INCREMENTAL) -> SyncRun:
    """Runs now (after any sync in progress) and answers with its record."""
    run: SyncRun = await call_actor(ctx.catalog().sync.remote(kind, "admin"))
    return run

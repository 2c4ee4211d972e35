"""Administrators' catalogue screens: list with filters and totals, one procedure, activation, CSV, sync."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from actors.catalog import store
from messages.catalog import (
    AdminProcedure,
    AuditEntry,
    ProcedureFilter,
    ProcedurePage,
    ProcedureSettings,
    SyncKind,
    SyncRun,
)
from messages.errors import InvalidInput
from serve.deps import Admin, Ctx, RequestId
from serve.routers.cases import PROBLEMS

router = APIRouter(prefix="/api/admin", tags=["admin: catalogue"], responses=PROBLEMS)


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


@router.patch("/procedures/{procedure_id}", response_model=AdminProcedure)
async def change_settings(
    procedure_id: uuid.UUID, body: ProcedureSettings, admin: Admin, ctx: Ctx, request_id: RequestId
) -> AdminProcedure:
    """Local fields a Mitos sync never touches: active, form, BPMN process, the offices that serve it (empty:
    every office). Audited; the same settings again change nothing. A process must be deployed in the engine:
    cases of a procedure with an unknown one could never start theirs."""
    key = body.bpmn_process_key
    if key is not None and not await ctx.engine.has_process_definition(key):
        raise InvalidInput.at("/bpmn_process_key", f"no process {key!r} is deployed in the engine", "unknown_process")
    async with ctx.pool.acquire() as conn:
        return await store.update_settings(
            conn=conn, procedure_id=procedure_id, settings=body, actor=admin.subject, request_id=request_id
        )


@router.post("/procedures/{procedure_id}/activate", response_model=AdminProcedure)
async def activate(procedure_id: uuid.UUID, admin: Admin, ctx: Ctx, request_id: RequestId) -> AdminProcedure:
    return await change_settings(procedure_id, ProcedureSettings(active=True), admin, ctx, request_id)


@router.post("/procedures/{procedure_id}/deactivate", response_model=AdminProcedure)
async def deactivate(procedure_id: uuid.UUID, admin: Admin, ctx: Ctx, request_id: RequestId) -> AdminProcedure:
    return await change_settings(procedure_id, ProcedureSettings(active=False), admin, ctx, request_id)


@router.get("/procedures/{procedure_id}/history", response_model=list[AuditEntry])
async def procedure_history(procedure_id: uuid.UUID, _: Admin, ctx: Ctx) -> list[AuditEntry]:
    async with ctx.pool.acquire() as conn:
        return await store.history(conn=conn, procedure_id=procedure_id)


@router.get("/catalog/sync-runs", response_model=list[SyncRun])
async def sync_runs(_: Admin, ctx: Ctx, limit: Annotated[int, Query(ge=1, le=200)] = 20) -> list[SyncRun]:
    async with ctx.pool.acquire() as conn:
        return await store.sync_runs(conn=conn, limit=limit)


@router.post("/catalog/sync", response_model=SyncRun)
async def trigger_sync(_: Admin, ctx: Ctx, kind: SyncKind = SyncKind.INCREMENTAL) -> SyncRun:
    """Runs now (after any sync in progress) and answers with its record."""
    run: SyncRun = await ctx.catalog.call("sync", kind, "admin")
    return run

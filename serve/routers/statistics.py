"""Statistics of cases (issue 17, part 8), read from the aggregates the `kep-statistics` consumer keeps.

Who sees what: administrators every office (`office_id` one of them, or none for all); supervisors their own office
(another office: 403); employees only their own workload (everything else: 403). Days are inclusive, at most
three years; CSV (`.csv`) for every report, SVG charts (`.svg`) for volumes and backlog.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel

from actors.statistics import charts, store
from actors.statistics.rules import ATHENS
from messages.errors import FieldError, Forbidden, InvalidInput
from messages.roles import Role
from messages.statistics import (
    DEFAULT_RANGE_DAYS,
    MAX_RANGE_DAYS,
    BacklogRow,
    ComplianceRow,
    Period,
    StatusTimeRow,
    VolumeRow,
    WorkloadRow,
)
from serve.deps import Caller, Ctx
from serve.routers.cases import PROBLEMS
from serve.security import Principal

router = APIRouter(prefix="/api/statistics", tags=["statistics"], responses=PROBLEMS)


def office_scope(caller: Principal, office_id: uuid.UUID | None) -> uuid.UUID | None:
    """The office a report covers (None: every office, administrators only)."""
    if Role.ADMINISTRATOR.value in caller.roles:
        return office_id
    caller.require(Role.SUPERVISOR)
    own = caller.require_office()
    if office_id is not None and office_id != own:
        raise Forbidden("statistics of another office are its supervisors' and the administrators'")
    return own


@dataclass(frozen=True)
class Window:
    office_id: uuid.UUID | None
    procedure_id: uuid.UUID | None
    start: date
    end: date


async def window(
    caller: Caller,
    office_id: uuid.UUID | None = None,
    procedure_id: uuid.UUID | None = None,
    from_: Annotated[date | None, Query(alias="from", description="first day (default: 30 days before `to`)")] = None,
    to: Annotated[date | None, Query(description="last day, inclusive (default: today)")] = None,
) -> Window:
    try:
        end = to or (from_ + timedelta(days=DEFAULT_RANGE_DAYS) if from_ else datetime.now(ATHENS).date())
        start = from_ or end - timedelta(days=DEFAULT_RANGE_DAYS)
    except OverflowError:  # a default range past the calendar's ends
        raise InvalidInput.at("/from" if from_ else "/to", "give both ends of this range", "range_unbounded") from None
    errors = []
    if start > end:
        errors.append(FieldError("/from", "`from` comes after `to`", "range_order"))
    elif (end - start).days > MAX_RANGE_DAYS:
        errors.append(FieldError("/to", f"a report covers at most {MAX_RANGE_DAYS} days", "range_too_long"))
    if errors:
        raise InvalidInput(errors[0].message, errors)
    return Window(office_scope(caller, office_id), procedure_id, start, end)


Range = Annotated[Window, Depends(window)]


def _csv(name: str, rows: Sequence[BaseModel], model: type[BaseModel]) -> Response:
    headers = {"Content-Disposition": f'attachment; filename="{name}.csv"'}
    return Response(store.to_csv(rows, model), media_type="text/csv; charset=utf-8", headers=headers)


def _svg(svg: str) -> Response:
    return Response(svg, media_type="image/svg+xml")


async def _volumes(ctx: Ctx, w: Window, period: Period) -> list[VolumeRow]:
    async with ctx.pool.acquire() as conn:
        return await store.volumes(
            conn=conn, office_id=w.office_id, procedure_id=w.procedure_id, start=w.start, end=w.end, period=period
        )


@router.get("/volumes", response_model=list[VolumeRow])
async def volumes(w: Range, ctx: Ctx, period: Period = Period.MONTH) -> list[VolumeRow]:
    """Cases opened, completed and rejected per office, procedure and day, week (from Monday) or month."""
    return await _volumes(ctx, w, period)


@router.get("/volumes.csv", response_class=Response)
async def volumes_csv(w: Range, ctx: Ctx, period: Period = Period.MONTH) -> Response:
    return _csv("volumes", await _volumes(ctx, w, period), VolumeRow)


@router.get("/volumes.svg", response_class=Response)
async def volumes_svg(w: Range, ctx: Ctx, period: Period = Period.MONTH) -> Response:
    """Every office and procedure of the range summed per period."""
    totals: dict[date, list[int]] = {}
    for r in await _volumes(ctx, w, period):
        t = totals.setdefault(r.period, [0, 0, 0])
        t[0], t[1], t[2] = t[0] + r.opened, t[1] + r.completed, t[2] + r.rejected
    labels = sorted(totals)
    series = [(name, [totals[d][i] for d in labels]) for i, name in enumerate(("opened", "completed", "rejected"))]
    title = f"Cases per {period.value}, {w.start} – {w.end}"
    return _svg(charts.bars(title, [d.isoformat() for d in labels], series))


async def _status_time(ctx: Ctx, w: Window) -> list[StatusTimeRow]:
    async with ctx.pool.acquire() as conn:
        return await store.status_time(
            conn=conn, office_id=w.office_id, procedure_id=w.procedure_id, start=w.start, end=w.end
        )


@router.get("/status-time", response_model=list[StatusTimeRow])
async def status_time(w: Range, ctx: Ctx) -> list[StatusTimeRow]:
    """Time spent in each status: the stays that ended in the range, their mean and longest."""
    return await _status_time(ctx, w)


@router.get("/status-time.csv", response_class=Response)
async def status_time_csv(w: Range, ctx: Ctx) -> Response:
    return _csv("status-time", await _status_time(ctx, w), StatusTimeRow)


async def _compliance(ctx: Ctx, w: Window) -> list[ComplianceRow]:
    async with ctx.pool.acquire() as conn:
        return await store.compliance(
            conn=conn, office_id=w.office_id, procedure_id=w.procedure_id, start=w.start, end=w.end
        )


@router.get("/compliance", response_model=list[ComplianceRow])
async def compliance(w: Range, ctx: Ctx) -> list[ComplianceRow]:
    """Cases completed in the range against their due date (else the procedure's Mitos duration): on time, late
    and by how many days."""
    return await _compliance(ctx, w)


@router.get("/compliance.csv", response_class=Response)
async def compliance_csv(w: Range, ctx: Ctx) -> Response:
    return _csv("compliance", await _compliance(ctx, w), ComplianceRow)


async def _backlog(caller: Principal, ctx: Ctx, office_id: uuid.UUID | None) -> list[BacklogRow]:
    scope = office_scope(caller, office_id)
    async with ctx.pool.acquire() as conn:
        return await store.backlog(conn=conn, office_id=scope)


@router.get("/backlog", response_model=list[BacklogRow])
async def backlog(caller: Caller, ctx: Ctx, office_id: uuid.UUID | None = None) -> list[BacklogRow]:
    """Open cases now, per office and status."""
    return await _backlog(caller, ctx, office_id)


@router.get("/backlog.csv", response_class=Response)
async def backlog_csv(caller: Caller, ctx: Ctx, office_id: uuid.UUID | None = None) -> Response:
    return _csv("backlog", await _backlog(caller, ctx, office_id), BacklogRow)


@router.get("/backlog.svg", response_class=Response)
async def backlog_svg(caller: Caller, ctx: Ctx, office_id: uuid.UUID | None = None) -> Response:
    totals: dict[str, int] = {}
    for r in await _backlog(caller, ctx, office_id):
        totals[r.status] = totals.get(r.status, 0) + r.cases
    labels = sorted(totals)
    return _svg(charts.bars("Open cases per status", labels, [("open", [totals[s] for s in labels])]))


async def _workload(caller: Principal, ctx: Ctx, office_id: uuid.UUID | None) -> list[WorkloadRow]:
    assignee = None
    if Role.ADMINISTRATOR.value in caller.roles or Role.SUPERVISOR.value in caller.roles:
        scope = office_scope(caller, office_id)
    else:
        caller.require(Role.EMPLOYEE)
        scope = caller.require_office()
        if office_id is not None and office_id != scope:
            raise Forbidden("an employee sees their own workload only")
        assignee = caller.subject
    async with ctx.pool.acquire() as conn:
        return await store.workload(conn=conn, office_id=scope, assignee=assignee)


@router.get("/workload", response_model=list[WorkloadRow])
async def workload(caller: Caller, ctx: Ctx, office_id: uuid.UUID | None = None) -> list[WorkloadRow]:
    """Open cases per assignee now (an employee: their own row only)."""
    return await _workload(caller, ctx, office_id)


@router.get("/workload.csv", response_class=Response)
async def workload_csv(caller: Caller, ctx: Ctx, office_id: uuid.UUID | None = None) -> Response:
    return _csv("workload", await _workload(caller, ctx, office_id), WorkloadRow)

"""Statistics of cases (issue 17, part 8), read from the aggregates the `kep-statistics` consumer keeps.

Who sees what: administrators every office (`office_id` one of them, or none for all); supervisors their own office
(another office: 403); employees only their own workload (everything else: 403). Days are inclusive, at most
three years; CSV (`.csv`) for every report, SVG charts (`.svg`) for volumes and backlog.

Volumes, status time and compliance are per office and procedure (`by=office,procedure`, the default) or per office
summed over its procedures (`by=office`: what comparing offices needs, 40 rows where the other is 12 000), in pages
of at most 1 000 rows (MAX_PAGE_ROWS) in the order of their keys; the next page's address is in a
`Link: <...>; rel="next"` header (RFC 8288, as every paged list here), the last page has none. A CSV file is one
page too.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, TypeAdapter

from actors.statistics import charts, store
from actors.statistics.rules import ATHENS
from messages.errors import FieldError, Forbidden, InvalidInput
from messages.roles import Role
from messages.statistics import (
    DEFAULT_RANGE_DAYS,
    MAX_PAGE_ROWS,
    MAX_RANGE_DAYS,
    BacklogRow,
    Breakdown,
    ComplianceRow,
    Period,
    StatusTimeRow,
    VolumeRow,
    WorkloadRow,
)
from serve import paging
from serve.deps import AnyRole, Ctx
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
    caller: AnyRole,
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


@dataclass(frozen=True)
class Page:
    by: Breakdown
    limit: int
    after: str | None


def page(
    by: Annotated[
        Breakdown, Query(description="rows per office and procedure, or per office summed over its procedures")
    ] = Breakdown.OFFICE_PROCEDURE,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_ROWS, description="rows per page")] = MAX_PAGE_ROWS,
    after: Annotated[str | None, Query(max_length=200, description="from the `Link` of the previous page")] = None,
) -> Page:
    return Page(by, limit, after)


Paged = Annotated[Page, Depends(page)]


def _after(report: str, p: Page) -> tuple[object, ...] | None:
    if p.after is None:
        return None
    try:
        return store.parse_after(p.after, store.keys(report, p.by))
    except ValueError:
        raise InvalidInput.at("/after", "not the cursor of a page of this report", "cursor_invalid") from None


_JSON: dict[type[BaseModel], TypeAdapter[Any]] = {
    VolumeRow: TypeAdapter(list[VolumeRow]),
    StatusTimeRow: TypeAdapter(list[StatusTimeRow]),
    ComplianceRow: TypeAdapter(list[ComplianceRow]),
}


def _answer(
    request: Request, report: str, p: Page, rows: Sequence[BaseModel], model: type[BaseModel], csv: bool
) -> Response:
    """One page, and the `Link` to the next when the store found one row more. Serialised by pydantic-core at once:
    the rows come from the store's own aggregates, and FastAPI's validating them again against the response model
    would cost about as much as the query (bench/statistics_reports.py)."""
    fields = store.keys(report, p.by)
    shown, headers = paging.page(request, rows, p.limit, lambda r: store.cursor_of(r, fields))
    if csv:
        headers["Content-Disposition"] = f'attachment; filename="{report}.csv"'
        return Response(store.to_csv(shown, model), media_type="text/csv; charset=utf-8", headers=headers)
    return Response(_JSON[model].dump_json(shown), media_type="application/json", headers=headers)


def _csv(name: str, rows: Sequence[BaseModel], model: type[BaseModel]) -> Response:
    headers = {"Content-Disposition": f'attachment; filename="{name}.csv"'}
    return Response(store.to_csv(rows, model), media_type="text/csv; charset=utf-8", headers=headers)


def _svg(svg: str) -> Response:
    return Response(svg, media_type="image/svg+xml")


async def _volumes(request: Request, ctx: Ctx, w: Window, p: Page, period: Period, csv: bool) -> Response:
    after = _after("volumes", p)
    async with ctx.pool.acquire() as conn:
        rows = await store.volumes(conn=conn, office_id=w.office_id, procedure_id=w.procedure_id, start=w.start,
                                   end=w.end, period=period, by=p.by, after=after, limit=p.limit + 1)  # fmt: skip
    return _answer(request, "volumes", p, rows, VolumeRow, csv)


@router.get("/volumes", response_model=list[VolumeRow])
async def volumes(request: Request, w: Range, p: Paged, ctx: Ctx, period: Period = Period.MONTH) -> Response:
    """Cases opened, completed and rejected per office (and procedure) and day, week (from Monday) or month, in the
    order of period, office, procedure."""
    return await _volumes(request, ctx, w, p, period, csv=False)


@router.get("/volumes.csv", response_class=Response)
async def volumes_csv(request: Request, w: Range, p: Paged, ctx: Ctx, period: Period = Period.MONTH) -> Response:
    return await _volumes(request, ctx, w, p, period, csv=True)


@router.get("/volumes.svg", response_class=Response)
async def volumes_svg(w: Range, ctx: Ctx, period: Period = Period.MONTH) -> Response:
    """Every office and procedure of the range summed per period."""
    async with ctx.pool.acquire() as conn:
        totals = await store.volume_totals(conn=conn, office_id=w.office_id, procedure_id=w.procedure_id,
                                           start=w.start, end=w.end, period=period)  # fmt: skip
    labels = [d.isoformat() for d, _, _, _ in totals]
    series = [
        ("opened", [n for _, n, _, _ in totals]),
        ("completed", [n for _, _, n, _ in totals]),
        ("rejected", [n for _, _, _, n in totals]),
    ]
    title = f"Cases per {period.value}, {w.start} – {w.end}"
    return _svg(charts.bars(title, labels, series))


async def _status_time(request: Request, ctx: Ctx, w: Window, p: Page, csv: bool) -> Response:
    after = _after("status-time", p)
    async with ctx.pool.acquire() as conn:
        rows = await store.status_time(conn=conn, office_id=w.office_id, procedure_id=w.procedure_id, start=w.start,
                                       end=w.end, by=p.by, after=after, limit=p.limit + 1)  # fmt: skip
    return _answer(request, "status-time", p, rows, StatusTimeRow, csv)


@router.get("/status-time", response_model=list[StatusTimeRow])
async def status_time(request: Request, w: Range, p: Paged, ctx: Ctx) -> Response:
    """Time spent in each status: the stays that ended in the range, their mean and longest, in the order of office,
    procedure, status."""
    return await _status_time(request, ctx, w, p, csv=False)


@router.get("/status-time.csv", response_class=Response)
async def status_time_csv(request: Request, w: Range, p: Paged, ctx: Ctx) -> Response:
    return await _status_time(request, ctx, w, p, csv=True)


async def _compliance(request: Request, ctx: Ctx, w: Window, p: Page, csv: bool) -> Response:
    after = _after("compliance", p)
    async with ctx.pool.acquire() as conn:
        rows = await store.compliance(conn=conn, office_id=w.office_id, procedure_id=w.procedure_id, start=w.start,
                                      end=w.end, by=p.by, after=after, limit=p.limit + 1)  # fmt: skip
    return _answer(request, "compliance", p, rows, ComplianceRow, csv)


@router.get("/compliance", response_model=list[ComplianceRow])
async def compliance(request: Request, w: Range, p: Paged, ctx: Ctx) -> Response:
    """Cases completed in the range against their due date (else the procedure's Mitos duration): on time, late
    and by how many days, in the order of office, procedure."""
    return await _compliance(request, ctx, w, p, csv=False)


@router.get("/compliance.csv", response_class=Response)
async def compliance_csv(request: Request, w: Range, p: Paged, ctx: Ctx) -> Response:
    return await _compliance(request, ctx, w, p, csv=True)


async def _backlog(caller: Principal, ctx: Ctx, office_id: uuid.UUID | None) -> list[BacklogRow]:
    scope = office_scope(caller, office_id)
    async with ctx.pool.acquire() as conn:
        return await store.backlog(conn=conn, office_id=scope)


@router.get("/backlog", response_model=list[BacklogRow])
async def backlog(caller: AnyRole, ctx: Ctx, office_id: uuid.UUID | None = None) -> list[BacklogRow]:
    """Open cases now, per office and status."""
    return await _backlog(caller, ctx, office_id)


@router.get("/backlog.csv", response_class=Response)
async def backlog_csv(caller: AnyRole, ctx: Ctx, office_id: uuid.UUID | None = None) -> Response:
    return _csv("backlog", await _backlog(caller, ctx, office_id), BacklogRow)


@router.get("/backlog.svg", response_class=Response)
async def backlog_svg(caller: AnyRole, ctx: Ctx, office_id: uuid.UUID | None = None) -> Response:
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
async def workload(caller: AnyRole, ctx: Ctx, office_id: uuid.UUID | None = None) -> list[WorkloadRow]:
    """Open cases per assignee now (an employee: their own row only)."""
    return await _workload(caller, ctx, office_id)


@router.get("/workload.csv", response_class=Response)
async def workload_csv(caller: AnyRole, ctx: Ctx, office_id: uuid.UUID | None = None) -> Response:
    return _csv("workload", await _workload(caller, ctx, office_id), WorkloadRow)

"""Incidents of the case processes: a step that failed for good (its retries used up, or a failure no retry
mends: a refused credential, a recipient ΚΣΗΔΕ does not know) waits there for a person. Supervisors see their
office's and give a step another try once the cause is mended; administrators see every office's. The retry is a
note on the case's timeline, by the supervisor who asked for it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import structlog
from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict

from actors.cases import store
from bpmn_bridge.models import Incident
from messages.cases import CaseAction
from messages.errors import InvalidInput, NotFound
from messages.roles import Role
from serve.deps import Caller, Ctx, RequestId, SupervisorOrAdmin
from serve.routers.cases import PROBLEMS, act

log = structlog.get_logger("incidents")
router = APIRouter(prefix="/api/incidents", tags=["incidents"], responses=PROBLEMS)
MAX_INCIDENTS = 500  # an office with more has a bigger problem than a list can show


class CaseIncident(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    case_id: uuid.UUID
    case_number: str
    office_id: uuid.UUID
    activity_id: str | None
    type: str
    message: str | None
    since: datetime


async def _visible(ctx: Ctx, caller: Caller, found: list[Incident]) -> list[CaseIncident]:
    """The incidents of cases the caller may see: the caller's office's, or every office's for administrators."""
    office = None if Role.ADMINISTRATOR.value in caller.roles else caller.require_office()
    keys = await ctx.engine.business_keys([i.process_instance_id for i in found if i.process_instance_id])
    case_of: dict[str, uuid.UUID] = {}
    for instance, key in keys.items():
        try:
            case_of[instance] = uuid.UUID(key or "")
        except ValueError:
            continue  # not a case's process
    async with ctx.pool.acquire() as conn:
        cases = await store.numbers(conn=conn, case_ids=list(set(case_of.values())), office_id=office)
    out = []
    for incident in found:
        case_id = case_of.get(incident.process_instance_id or "")
        if case_id is None or case_id not in cases:
            continue
        office_id, number = cases[case_id]
        out.append(CaseIncident(id=incident.id, case_id=case_id, case_number=number, office_id=office_id,
                                activity_id=incident.activity_id, type=incident.incident_type,
                                message=incident.incident_message, since=incident.incident_timestamp))  # fmt: skip
    return out


@router.get("", response_model=list[CaseIncident])
async def list_incidents(
    caller: SupervisorOrAdmin, ctx: Ctx, case_id: Annotated[uuid.UUID | None, Query()] = None
) -> list[CaseIncident]:
    """Open incidents, oldest first (at most 500); `case_id`: of that case only."""
    found = await ctx.engine.incidents(max_results=MAX_INCIDENTS)
    visible = await _visible(ctx, caller, found)
    return [i for i in visible if case_id is None or i.case_id == case_id]


@router.post("/{incident_id}/retry", status_code=204, response_class=Response)
async def retry_incident(incident_id: str, caller: SupervisorOrAdmin, ctx: Ctx, request_id: RequestId) -> Response:
    """One more try of the failed step; a note on the case says who asked. Another office's incident is 404."""
    found = await ctx.engine.incidents(incident_id=incident_id, max_results=1)
    visible = await _visible(ctx, caller, found)
    if not visible:
        raise NotFound(f"incident {incident_id} not found")
    incident = visible[0]
    try:
        await ctx.engine.retry_incident(found[0])
    except ValueError as exc:
        raise InvalidInput.at("/incident", str(exc), "not_retryable") from None
    log.info("incident_retried", incident=incident_id, case_id=str(incident.case_id), by=caller.subject)
    if caller.office_id == incident.office_id and Role.SUPERVISOR.value in caller.roles:
        # on the timeline, where the office looks (an administrator of no office is in the log above)
        cause = incident.message or incident.type
        reason = f"Νέα προσπάθεια του βήματος {incident.activity_id} μετά από σφάλμα: {cause}"
        await act(ctx, caller, request_id, incident.case_id, CaseAction.NOTE, fields={"reason": reason[:1000]})
    return Response(status_code=204)

"""Routing an EUGO application: the administration's rules name the competent office (channel `eugo`), a case
opens there with the citizen's eIDAS identity, and the evidence already stored under the case's keys is attached
through the case shard (so the case's timeline, outbox and live stream see it as any other document). Each step is
idempotent — the case id was chosen with the application, each attachment's command id is its document id — so a
routing that failed half way is simply run again (by an administrator: POST /api/admin/eugo/applications/{id}/route).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import structlog

from actors.cases.shards import CaseShards
from actors.eugo import applications
from actors.routings import resolver
from messages.cases import CaseAction, CaseCommand, Channel, DocumentView, OpenCase, OpenCaseRequest
from messages.citizen import Citizen, EidasIdentity
from messages.routings import NoCompetentOffice

log = structlog.get_logger()
UNROUTED = (
    "Your application was received and is kept, but no office is competent for it yet. The administrators have been"
    " alerted; it will be sent to the competent office as soon as one is designated, and you will see it here."
)


def actor_of(person_identifier: str) -> str:
    """Who a citizen is on a case's timeline."""
    return f"eugo:{person_identifier}"


async def route(
    *, pool: asyncpg.Pool[asyncpg.Record], cases: CaseShards, application_id: uuid.UUID, request_id: str | None
) -> bool:
    """True when the application is (now or already) routed to a case; False when no rule applies yet."""
    async with pool.acquire() as conn:
        app = await applications.pending(conn=conn, application_id=application_id)
        if app.case_id is not None:
            return True
        try:
            found = await resolver.resolve(
                conn,
                procedure_id=app.procedure_id,
                municipality=app.municipality,
                region=app.region,
                channel=Channel.EUGO.value,
            )
        except NoCompetentOffice as exc:
            log.warning("eugo_application_unrouted", application_id=str(application_id), reason=exc.detail)
            routing = {"explanation": UNROUTED, "reason": exc.detail, "at": datetime.now(UTC).isoformat()}
            await applications.mark(conn=conn, application_id=application_id, case_id=None, routing=routing)
            return False
    actor = actor_of(f"{app.country}/EL/{app.person_id}")
    citizen = Citizen(
        eidas=EidasIdentity(country=app.country, person_id=app.person_id),
        first_name=app.given_name or "-",
        last_name=app.family_name or "-",
        email=app.email,
    )
    opened = await cases.open(
        OpenCase(
            case_id=app.planned_case_id,
            office_id=found.office_id,
            actor=actor,
            request=OpenCaseRequest(
                procedure_id=app.procedure_id, citizen=citizen, channel=Channel.EUGO, form_data=app.form_data
            ),
            request_id=request_id,
        )
    )
    case = opened.case
    for f in app.files:
        document = DocumentView(
            id=f.document_id, case_id=case.id, kind=f.kind, filename=f.filename, content_type=f.content_type,
            size_bytes=f.size_bytes, sha256=f.sha256, created_by=actor, created_at=datetime.now(UTC),
        )  # fmt: skip
        await cases.apply(
            CaseCommand(
                command_id=f.document_id,  # once per document, however often routing runs
                case_id=case.id,
                office_id=case.office_id,
                actor=actor,
                roles=frozenset(),
                action=CaseAction.ATTACH,
                document=document,
                request_id=request_id,
            )
        )
    routing = found.model_dump(mode="json", include={"office_id", "office_code", "rule_id", "region"})
    office = f"office {found.office_code}"
    routing["explanation"] = f"Your application was sent to {office}, competent for it: case {case.number}."
    async with pool.acquire() as conn:
        await applications.mark(conn=conn, application_id=application_id, case_id=case.id, routing=routing)
    log.info("eugo_application_routed", application_id=str(application_id), case_id=str(case.id))
    return True


async def failed(*, pool: asyncpg.Pool[asyncpg.Record], application_id: uuid.UUID, reason: str) -> None:
    """Routing broke after the application was recorded: it stays unrouted, with why, for an administrator."""
    log.exception("eugo_application_routing_failed", application_id=str(application_id))
    routing = {"explanation": UNROUTED, "reason": reason, "at": datetime.now(UTC).isoformat()}
    async with pool.acquire() as conn:
        await applications.mark(conn=conn, application_id=application_id, case_id=None, routing=routing)

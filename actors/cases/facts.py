"""What the case process reads of a case to decide its next step: status, assignee, deadline, documents; who in
the office could take it or be escalated to."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from infra.db import Conn
from messages.cases import CaseStatus
from messages.roles import Role


@dataclass(frozen=True)
class CaseFacts:
    office_id: uuid.UUID
    status: CaseStatus
    version: int
    assignee: str | None
    due_at: datetime | None
    created_at: datetime
    suspended_by: str | None
    evidences_needed: int  # Mitos lists the evidence the procedure asks for
    documents_attached: int


async def facts(*, conn: Conn, case_id: uuid.UUID) -> CaseFacts | None:
    row = await conn.fetchrow(
        """SELECT c.office_id, c.status, c.version, c.assignee, c.due_at, c.created_at, c.suspended_by,
                  coalesce(jsonb_array_length(p.payload->'metadata'->'process_evidences'), 0) AS needed,
                  (SELECT count(*) FROM documents d WHERE d.case_id = c.id AND d.template_id IS NULL) AS attached
           FROM cases c JOIN procedures p ON p.id = c.procedure_id WHERE c.id = $1""",
        case_id,
    )
    if row is None:
        return None
    return CaseFacts(
        row["office_id"],
        CaseStatus(row["status"]),
        row["version"],
        row["assignee"],
        row["due_at"],
        row["created_at"],
        row["suspended_by"],
        row["needed"],
        row["attached"],
    )


async def least_busy_employee(*, conn: Conn, office_id: uuid.UUID) -> str | None:
    """The office's active employee with the fewest open cases (then by name)."""
    subject: str | None = await conn.fetchval(
        """SELECT u.subject FROM users u
           LEFT JOIN cases c ON c.assignee = u.subject AND c.status IN ('submitted', 'in_progress', 'suspended')
           WHERE u.office_id = $1 AND u.active AND $2 = ANY(u.roles)
           GROUP BY u.subject ORDER BY count(c.id), u.subject LIMIT 1""",
        office_id,
        Role.EMPLOYEE.value,
    )
    return subject


async def supervisor(*, conn: Conn, office_id: uuid.UUID) -> str | None:
    """The office's supervisor (the first by name)."""
    subject: str | None = await conn.fetchval(
        """SELECT subject FROM users WHERE office_id = $1 AND active AND $2 = ANY(roles)
           ORDER BY subject LIMIT 1""",
        office_id,
        Role.SUPERVISOR.value,
    )
    return subject


@dataclass(frozen=True)
class DocumentRef:
    id: uuid.UUID
    filename: str
    content_type: str


@dataclass(frozen=True)
class DeliveryFacts:
    """What delivering a case's result needs: who gets it (the citizen by ΑΦΜ, or the procedure's ΚΣΗΔΕ
    recipient), the certificate the process issued, and the case's other documents (ΚΣΗΔΕ attachments)."""

    office_id: uuid.UUID
    status: CaseStatus
    number: str
    citizen_afm: str | None
    citizen_name: str
    procedure_title: str
    delivery_recipient: str | None
    certificate: DocumentRef | None  # the latest one the system issued
    attachments: tuple[DocumentRef, ...]  # what goes with it to an authority: the case's documents and receipt


async def delivery_facts(*, conn: Conn, case_id: uuid.UUID) -> DeliveryFacts | None:
    row = await conn.fetchrow(
        """SELECT c.office_id, c.status, c.number, c.citizen->>'afm' AS afm,
                  concat_ws(' ', c.citizen->>'first_name', c.citizen->>'last_name') AS name,
                  p.title_el, p.delivery_recipient
           FROM cases c JOIN procedures p ON p.id = c.procedure_id WHERE c.id = $1""",
        case_id,
    )
    if row is None:
        return None
    documents = await conn.fetch(
        """SELECT d.id, d.filename, d.content_type, t.kind FROM documents d
           LEFT JOIN document_templates t ON t.id = d.template_id
           WHERE d.case_id = $1 ORDER BY d.created_at, d.id""",
        case_id,
    )
    certificates = [DocumentRef(d["id"], d["filename"], d["content_type"]) for d in documents
                    if d["kind"] == "certificate"]  # fmt: skip
    others = tuple(DocumentRef(d["id"], d["filename"], d["content_type"]) for d in documents
                   if d["kind"] != "certificate")  # fmt: skip
    return DeliveryFacts(
        row["office_id"],
        CaseStatus(row["status"]),
        row["number"],
        row["afm"],
        row["name"],
        row["title_el"],
        row["delivery_recipient"],
        certificates[-1] if certificates else None,
        others,
    )


@dataclass(frozen=True)
class CaseByNumber:
    """A case as something from outside names it (a mailbox reply's reference is the case's number)."""

    id: uuid.UUID
    office_id: uuid.UUID
    number: str
    citizen_afm: str | None


async def case_by_number(*, conn: Conn, number: str) -> CaseByNumber | None:
    row = await conn.fetchrow(
        "SELECT id, office_id, number, citizen->>'afm' AS afm FROM cases WHERE number = $1", number
    )
    return CaseByNumber(row["id"], row["office_id"], row["number"], row["afm"]) if row else None

"""What a document of a case says: the inputs a template renders, read from the case, its office and its procedure,
and their hash. A render job is idempotent on (case, template version, inputs hash): the same case as it stands
gives the same document; a changed case gives a new one."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from base64 import b32encode
from typing import Any

from actors.cases.store import get_case
from actors.catalog.store import get_procedure
from infra.db import Conn
from messages.cases import CaseStatus
from messages.documents import Lang
from messages.errors import NotFound

_NS = uuid.UUID("6c3e2b1a-9f4d-4e8a-b7c5-2d1f0a9e8b74")


async def _office(conn: Conn, office_id: uuid.UUID) -> dict[str, Any]:
    # offices get an owning package with their administration (issue 17); until then this one read
    row = await conn.fetchrow("SELECT code, name_el, name_en, municipality FROM offices WHERE id = $1", office_id)
    if row is None:
        raise NotFound(f"office {office_id} not found")
    return dict(row)


async def gather(*, conn: Conn, case_id: uuid.UUID, office_id: uuid.UUID, lang: Lang) -> dict[str, Any]:
    """The inputs of a document of the case in `lang`: JSON values only (they are hashed), nothing that changes
    between two reads of an unchanged case. 404 for another office's case."""
    case = await get_case(conn=conn, case_id=case_id, office_id=office_id)
    procedure = await get_procedure(conn=conn, procedure_id=case.procedure_id)
    office = await _office(conn, office_id)
    english = lang is Lang.EN
    completed = case.status_changed_at.get(CaseStatus.COMPLETED.value)
    return {
        "lang": lang.value,
        "case": {
            "id": str(case.id),
            "number": case.number,
            "status": case.status.value,
            "channel": case.channel.value,
            "opened_at": case.created_at.isoformat(),
            "completed_at": completed.isoformat() if completed else None,
            "due_at": case.due_at.isoformat() if case.due_at else None,
        },
        "citizen": {
            "first_name": case.citizen.first_name,
            "last_name": case.citizen.last_name,
            "father_name": case.citizen.father_name,
            "afm": case.citizen.afm,
            # only where there is one: the inputs (and their hash) of every other case stay as they were
            **({"eidas": f"{case.citizen.eidas.country}/{case.citizen.eidas.person_id}"} if case.citizen.eidas else {}),
        },
        "office": {
            "code": office["code"],
            "name": (office["name_en"] if english and office["name_en"] else office["name_el"]),
            "municipality": office["municipality"],
        },
        "procedure": {
            "mitos_id": procedure.mitos_id,
            "title": (procedure.title_en if english and procedure.title_en else procedure.title_el),
        },
        "form": case.form_data,
    }


def inputs_hash(inputs: dict[str, Any]) -> str:
    canonical = json.dumps(inputs, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def document_id(case_id: uuid.UUID, template_id: uuid.UUID, digest: str) -> uuid.UUID:
    """The one document of (case, template version, inputs): asking again finds it."""
    return uuid.uuid5(_NS, f"{case_id}/{template_id}/{digest}")


def verification_code(secret: bytes, doc_id: uuid.UUID) -> str:
    """16 characters of base32 (80 bits) keyed by the system's secret: printed on the document before it exists,
    unguessable, and the same for the same document."""
    mac = hmac.new(secret, doc_id.bytes, hashlib.sha256).digest()
    code = b32encode(mac).decode()[:16]
    return "-".join(code[i : i + 4] for i in range(0, 16, 4))

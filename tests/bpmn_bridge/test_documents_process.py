"""The case process issues its documents: the receipt when the case opens, the signed certificate before the case
completes (external tasks of the topic document-render, worked by the renderer pool from documents.render)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx

from actors.cases.lockstep import DOCUMENTS_ACTOR
from actors.cases.store import document_key
from actors.documents import signing
from actors.documents.identity import trust_roots_from_settings
from infra.settings import Settings
from infra.storage import create_store
from tests.bpmn_bridge.test_bridge import by_process, decide, offered, open_online, process_procedure, reaches
from tests.helpers import eventually


async def issued(pool: asyncpg.Pool[asyncpg.Record], case_id: str) -> dict[str, asyncpg.Record]:
    rows = await pool.fetch(
        """SELECT t.kind AS template, d.id, d.signed, d.created_by FROM documents d
           JOIN document_templates t ON t.id = d.template_id WHERE d.case_id = $1""",
        uuid.UUID(case_id),
    )
    return {r["template"]: r for r in rows}


async def test_an_opened_case_gets_its_receipt_and_a_completed_one_its_signed_certificate(
    review_form: None,
    ray_app: dict[str, Any],
    settings: Settings,
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    make_procedure: Callable[..., Any],
    office_with_staff: dict[str, Any],
) -> None:
    headers = office_with_staff["headers"]
    case = await open_online(http, headers, await process_procedure(make_procedure, pool))

    async def receipt() -> bool:
        return "receipt" in await issued(pool, case["id"])

    await eventually(receipt, within=90)
    await decide(http, headers, await offered(http, headers, case["id"]), {"decision": "approve"})
    await reaches(pool, case["id"], "completed", within=90)

    documents = await issued(pool, case["id"])
    assert set(documents) == {"receipt", "certificate"}
    certificate = documents["certificate"]
    assert certificate["signed"]
    assert certificate["created_by"] == DOCUMENTS_ACTOR
    # issued before the case completed: the completion is the process's last effect
    events = await pool.fetch("SELECT type, new FROM case_events WHERE case_id = $1 ORDER BY id",
                              uuid.UUID(case["id"]))  # fmt: skip
    types = [e["type"] for e in events]
    assert types.index("case.completed") > max(i for i, t in enumerate(types) if t == "case.document_added")
    pdf = await create_store(settings).get(document_key(uuid.UUID(case["id"]), certificate["id"]))
    check = await signing.check_signature(pdf, trust_roots_from_settings(settings))
    assert check is not None
    assert check.intact
    assert check.trusted
    # the documents are the system's, not the citizen's evidence: the intake's check did not count them, and the
    # process's own case effects are unchanged
    # (the notes: the way the certificate goes, and its posting to the citizen's mailbox)
    assert await by_process(pool, case["id"]) == [
        "case.assigned", "case.noted", "case.noted", "case.started", "case.completed"
    ]  # fmt: skip

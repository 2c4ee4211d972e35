"""The case process delivers the certificate after approval: to the citizen's gov.gr mailbox when ΚΕΔ says the
citizen is registered in ΕΜΕπ, to an authority through ΚΣΗΔΕ when the procedure names one, by hand at the office
otherwise; each effect once (counted in the doubles' own request logs), even when the delivery worker dies after
the remote side answered; a step that fails for good is an incident that the office's supervisor sees and
retries."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import ray

from bpmn_bridge.worker import DELIVERY_WORKER
from doubles.ked.server import REGISTERED_AFM, UNREGISTERED_AFM
from infra.settings import Settings
from tests.bpmn_bridge.test_bridge import decide, offered, process_procedure, reaches
from tests.conftest import OfficeFactory
from tests.helpers import bearer, eventually
from tests.serve.test_cases_http import body

PROCESS = "bpmn:kep_case"


async def open_case(http: httpx.AsyncClient, headers: dict[str, str], procedure: uuid.UUID, afm: str) -> dict[str, Any]:
    citizen = {"afm": afm, "first_name": "Ελένη", "last_name": "Παπαδάκη"}
    resp = await http.post("/api/cases", json=body(procedure, channel="online", citizen=citizen), headers=headers)
    assert resp.status_code == 201, resp.text
    case: dict[str, Any] = resp.json()
    return case


async def approve(http: httpx.AsyncClient, headers: dict[str, str], case_id: str) -> None:
    await decide(http, headers, await offered(http, headers, case_id), {"decision": "approve"})


async def calls(url: str, operation: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=url.removesuffix("/api/v1")) as client:
        logged: list[dict[str, Any]] = (await client.get("/_admin/calls")).json()
    return [c for c in logged if c["operation"] == operation]


async def process_notes(pool: asyncpg.Pool[asyncpg.Record], case_id: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT new->>'note' FROM case_events WHERE case_id = $1 AND actor = $2 AND type = 'case.noted' ORDER BY id",
        uuid.UUID(case_id),
        PROCESS,
    )
    return [r[0] for r in rows]


async def deliveries(pool: asyncpg.Pool[asyncpg.Record], case_id: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT channel, status, remote_ref, recipient, document_id FROM deliveries WHERE case_id = $1",
        uuid.UUID(case_id),
    )


def delivery_worker(settings: Settings) -> Any:
    return ray.get_actor(f"{DELIVERY_WORKER}-0", namespace=settings.ray_namespace)


async def test_a_registered_citizen_gets_the_certificate_in_the_mailbox_once_even_if_the_worker_dies(
    review_form: None,
    ray_app: dict[str, Any],
    settings: Settings,
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    make_procedure: Callable[..., Any],
    office_with_staff: dict[str, Any],
) -> None:
    headers = office_with_staff["headers"]
    case = await open_case(http, headers, await process_procedure(make_procedure, pool), REGISTERED_AFM)
    # the worker dies right after the mailbox accepted the posting, before anything was recorded or reported
    await delivery_worker(settings).arm_crash.remote("after_remote")
    await approve(http, headers, case["id"])
    await reaches(pool, case["id"], "completed", within=120)

    postings = [c for c in await calls(str(settings.mailbox_url), "post") if c["reference"] == case["number"]]
    assert len(postings) == 1  # the run after the crash sent the same idempotency key: one posting
    effect = await pool.fetchrow(
        "SELECT state, attempts, result FROM external_effects WHERE case_id = $1 AND effect = 'mailbox-post'",
        uuid.UUID(case["id"]),
    )
    assert effect is not None
    assert (effect["state"], effect["attempts"]) == ("done", 2)
    [delivered] = await deliveries(pool, case["id"])
    assert (delivered["channel"], delivered["status"]) == ("mailbox", "posted")
    assert delivered["remote_ref"] == postings[0]["posting_id"]
    notes = await process_notes(pool, case["id"])
    assert any("θυρίδα gov.gr" in n and "Τρόπος επίδοσης" in n for n in notes)
    assert any(postings[0]["posting_id"] in n for n in notes)
    # delivered before completed: the completion is the process's last effect
    types = [r["type"] for r in await pool.fetch(
        "SELECT type FROM case_events WHERE case_id = $1 AND actor = $2 ORDER BY id", uuid.UUID(case["id"]), PROCESS
    )]  # fmt: skip
    assert types[-1] == "case.completed"


async def test_an_unregistered_citizen_gets_it_by_hand_at_the_office(
    review_form: None,
    ray_app: dict[str, Any],
    settings: Settings,
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    make_procedure: Callable[..., Any],
    office_with_staff: dict[str, Any],
) -> None:
    headers = office_with_staff["headers"]
    case = await open_case(http, headers, await process_procedure(make_procedure, pool), UNREGISTERED_AFM)
    await approve(http, headers, case["id"])

    handover: dict[str, Any] | None = None

    async def offered_to_the_office() -> bool:
        nonlocal handover
        page = (await http.get("/api/tasks", params={"case_id": case["id"]}, headers=headers)).json()
        handover = next((t for t in page["items"] if t["task_definition_key"] == "physical_delivery"), None)
        return handover is not None

    await eventually(offered_to_the_office, within=90)
    assert handover is not None
    assert (await pool.fetchval("SELECT status FROM cases WHERE id = $1", uuid.UUID(case["id"]))) != "completed"
    assert not [c for c in await calls(str(settings.mailbox_url), "post") if c["reference"] == case["number"]]
    await decide(http, headers, handover, {})
    await reaches(pool, case["id"], "completed", within=90)
    [delivered] = await deliveries(pool, case["id"])
    assert (delivered["channel"], delivered["status"]) == ("physical", "handed_over")
    notes = await process_notes(pool, case["id"])
    assert any("δεν είναι εγγεγραμμένος" in n for n in notes)
    assert notes[-1] == "Παραδόθηκε στον πολίτη στο γραφείο"


async def test_a_procedure_for_an_authority_sends_through_kshde_once_and_a_refusal_is_an_incident_to_retry(
    review_form: None,
    ray_app: dict[str, Any],
    settings: Settings,
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    make_procedure: Callable[..., Any],
    make_office: OfficeFactory,
    token_for: Callable[..., str],
    office_with_staff: dict[str, Any],
) -> None:
    headers = office_with_staff["headers"]
    procedure = await process_procedure(make_procedure, pool)
    # a recipient ΚΣΗΔΕ does not know: the send is refused, no retry can mend that: an incident
    await pool.execute("UPDATE procedures SET delivery_recipient = 'NO-SUCH-SECTOR' WHERE id = $1", procedure)
    case = await open_case(http, headers, procedure, REGISTERED_AFM)

    async def receipt_issued() -> bool:  # it goes with the certificate as an attachment
        return bool(await pool.fetchval(
            "SELECT count(*) FROM documents WHERE case_id = $1 AND template_id IS NOT NULL", uuid.UUID(case["id"])
        ))  # fmt: skip

    await eventually(receipt_issued, within=90)
    await approve(http, headers, case["id"])

    supervisor = bearer(token_for(office_with_staff["office"], roles=("supervisor",)))
    seen: list[dict[str, Any]] = []

    async def incident_seen() -> bool:
        nonlocal seen
        answer = await http.get("/api/incidents", params={"case_id": case["id"]}, headers=supervisor)
        assert answer.status_code == 200, answer.text
        seen = answer.json()
        return bool(seen)

    await eventually(incident_seen, within=90)
    [incident] = seen
    assert incident["activity_id"] == "deliver_kshde"
    assert "NO-SUCH-SECTOR" in incident["message"]
    assert incident["case_number"] == case["number"]
    # another office's supervisor does not see it, nor retry it; an employee may not look
    stranger = bearer(token_for(await make_office(), roles=("supervisor",)))
    assert (await http.get("/api/incidents", headers=stranger)).json() == []
    assert (await http.post(f"/api/incidents/{incident['id']}/retry", headers=stranger)).status_code == 404
    assert (await http.get("/api/incidents", headers=headers)).status_code == 403

    # the administrators mend the procedure; the supervisor retries the step
    await pool.execute("UPDATE procedures SET delivery_recipient = 'DHM-ATH' WHERE id = $1", procedure)
    retried = await http.post(f"/api/incidents/{incident['id']}/retry", headers=supervisor)
    assert retried.status_code == 204, retried.text
    await reaches(pool, case["id"], "completed", within=90)

    sent = [c for c in await calls(settings.kshde_url or "", "send") if c["key"] == case["number"]]
    assert len(sent) == 1
    protocol_no = sent[0]["protocol_no"]
    # completed by its attachment (the receipt of submission), the last one final: now the recipient has it
    attached = [c for c in await calls(settings.kshde_url or "", "attach") if c["key"].startswith(f"{protocol_no}/")]
    assert len(attached) == 1
    assert attached[0]["final"] is True
    [delivered] = await deliveries(pool, case["id"])
    assert (delivered["channel"], delivered["remote_ref"], delivered["recipient"]) == ("kshde", protocol_no, "DHM-ATH")
    retry_note = await pool.fetchval(
        "SELECT new->>'note' FROM case_events WHERE case_id = $1 AND type = 'case.noted' AND actor <> $2",
        uuid.UUID(case["id"]),
        PROCESS,
    )
    assert retry_note is not None
    assert "deliver_kshde" in retry_note


async def test_a_certificate_over_the_mailboxs_limit_is_handed_over_instead(
    review_form: None,
    ray_app: dict[str, Any],
    settings: Settings,
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
    office_with_staff: dict[str, Any],
) -> None:
    headers = office_with_staff["headers"]
    admin = bearer(token_for(uuid.uuid4(), roles=("administrator",)))
    # administrators lower the mailbox's size limit; the delivery workers take it at their next step
    limited = await http.put("/api/admin/adapters/govgr-mailbox", json={"values": {"max_bytes": 1000}}, headers=admin)
    assert limited.status_code == 200, limited.text
    try:
        case = await open_case(http, headers, await process_procedure(make_procedure, pool), REGISTERED_AFM)
        await approve(http, headers, case["id"])

        async def handed_over_instead() -> bool:
            page = (await http.get("/api/tasks", params={"case_id": case["id"]}, headers=headers)).json()
            return any(t["task_definition_key"] == "physical_delivery" for t in page["items"])

        await eventually(handed_over_instead, within=90)
    finally:
        assert (await http.delete("/api/admin/adapters/govgr-mailbox", headers=admin)).status_code == 200
    assert not [c for c in await calls(str(settings.mailbox_url), "post") if c["reference"] == case["number"]]
    notes = await process_notes(pool, case["id"])
    assert "δεν δέχτηκε την επίδοση" in notes[-1]
    assert "1000 bytes" in notes[-1]

"""The delivery readers bring back what follows a delivery, each thing once however often they read: the mailbox
posting's service (opened by the citizen, deemed served ten working days after the posting) and the citizen's
replies onto the case's timeline (a reply to no case of ours kept for administrators); documents an authority sends
us through ΚΣΗΔΕ in answer to one of ours attached to that case, any other kept for a supervisor to attach by hand
(to a case of their office only), each acknowledged to ΚΣΗΔΕ once with our local protocol number.

Against the stack's doubles over their HTTP routes (their `/_admin` control and request log); passes on request
(POST /api/admin/delivery/read), as the test settings run no loop."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from actors.cases.lockstep import DELIVERY_ACTOR
from actors.delivery import calendar
from actors.delivery.kshde import Kshde, KshdeOptions
from actors.delivery.mailbox import GovGrMailbox, MailboxOptions
from doubles.ked.server import REGISTERED_AFM
from doubles.kshde.server import CLIENTS
from infra.settings import Settings
from tests.bpmn_bridge.test_bridge import process_procedure, reaches
from tests.bpmn_bridge.test_delivery_process import approve, calls, deliveries, open_case
from tests.conftest import OfficeFactory
from tests.helpers import bearer, eventually
from tests.serve.test_cases_http import body

PDF = b"%PDF-1.7\n" + "Απάντηση του Δήμου".encode() + b"\n%%EOF\n"
ANNEX = b"%PDF-1.7\n" + "Παράρτημα".encode() + b"\n%%EOF\n"


@pytest.fixture
def admin(token_for: Callable[..., str]) -> dict[str, str]:
    return bearer(token_for(uuid.uuid4(), roles=("administrator",)))


async def read(http: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, Any]:
    resp = await http.post("/api/admin/delivery/read", headers=admin)
    assert resp.status_code == 200, resp.text
    report: dict[str, Any] = resp.json()
    assert report["failed"] == {}, report
    assert report["skipped"] == [], report
    # ΚΣΗΔΕ's org chart is read with the rest (the stack's double has one version of it)
    assert report["org_chart"]["version"] == 1
    assert report["org_chart"]["units"] == await kshde_units(http, admin)
    return report


async def kshde_units(http: httpx.AsyncClient, admin: dict[str, str]) -> int:
    listed = await http.get("/api/admin/kshde/units", params={"sddd": "false", "limit": 100}, headers=admin)
    return len(listed.json())


def double(url: str) -> httpx.AsyncClient:
    """A double's own routes (`/_admin/…`), beside its API."""
    return httpx.AsyncClient(base_url=url.removesuffix("/api/v1"), timeout=10)


async def reader_notes(pool: asyncpg.Pool[asyncpg.Record], case_id: str | uuid.UUID) -> list[str]:
    rows = await pool.fetch(
        "SELECT new->>'note' FROM case_events WHERE case_id = $1 AND actor = $2 AND type = 'case.noted' ORDER BY id",
        uuid.UUID(str(case_id)),
        DELIVERY_ACTOR,
    )
    return [r[0] for r in rows]


async def case_documents(pool: asyncpg.Pool[asyncpg.Record], case_id: str | uuid.UUID) -> list[asyncpg.Record]:
    return await pool.fetch(
        """SELECT id, kind, filename, content_type, sha256, created_by FROM documents
           WHERE case_id = $1 AND kind = 'kshde' ORDER BY filename""",
        uuid.UUID(str(case_id)),
    )


def sector(settings: Settings, code: str) -> Kshde:
    """ΚΣΗΔΕ as another authority (a SectorCode of the double's CLIENTS) uses it."""
    client_id, secret = CLIENTS[code]
    return Kshde(KshdeOptions(url=settings.kshde_url or "", sector_code=code, client_id=client_id,
                              client_secret=secret))  # fmt: skip


async def send_to_us(settings: Settings, *, related: str | None, subject: str) -> str:
    """A document with an attachment, from the municipality to our sector; its protocol number."""
    municipality = sector(settings, "DHM-ATH")
    try:
        version, _ = await municipality.org_chart()
        sent = await municipality.send(subject=subject, file_name="apantisi.pdf", pdf=PDF,
                                       recipients=[settings.kshde_sector_code or ""],
                                       local_protocol_no=f"ΔΑ-{uuid.uuid4().hex[:6]}", org_chart_version=version,
                                       attachments=[("parartima.pdf", ANNEX)], related_protocol_no=related)  # fmt: skip
    finally:
        await municipality.close()
    return sent.protocol_no


@pytest.fixture
async def mailbox_clock(settings: Settings) -> AsyncIterator[Callable[[datetime], Any]]:
    """Moves the mailbox double's clock; back to the real time after the test, whatever happens."""
    async with double(settings.mailbox_url or "") as client:

        async def move(to: datetime) -> None:
            assert (await client.put("/_admin/clock", json={"now": to.isoformat()})).status_code == 200

        try:
            yield move
        finally:
            await client.put("/_admin/clock", json={"now": None})


async def test_the_citizen_opening_the_posting_and_replying_come_onto_the_case_once(
    review_form: None,
    ray_app: dict[str, Any],
    settings: Settings,
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    make_procedure: Callable[..., Any],
    office_with_staff: dict[str, Any],
    admin: dict[str, str],
) -> None:
    headers = office_with_staff["headers"]
    case = await open_case(http, headers, await process_procedure(make_procedure, pool), REGISTERED_AFM)
    await approve(http, headers, case["id"])
    await reaches(pool, case["id"], "completed", within=120)
    [posted] = await deliveries(pool, case["id"])
    assert (posted["channel"], posted["status"]) == ("mailbox", "posted")
    posting = posted["remote_ref"]

    async def notified() -> bool:  # the mailbox notifies the citizen a moment after the posting
        await read(http, admin)
        return bool((await deliveries(pool, case["id"]))[0]["status"] == "notified")

    await eventually(notified, within=30)
    async with double(settings.mailbox_url or "") as mailbox:
        assert (await mailbox.post(f"/_admin/postings/{posting}/open")).status_code == 200
        reply = (await mailbox.post("/_admin/replies", json={
            "afm": REGISTERED_AFM, "reference": case["number"], "text": "Το παρέλαβα, ευχαριστώ."})).json()  # fmt: skip
        # a reply naming no case of ours, and one naming this case from someone else: neither goes on a case
        stray = (
            await mailbox.post(
                "/_admin/replies",
                json={"afm": REGISTERED_AFM, "reference": f"ΚΕΠ-X/{uuid.uuid4().hex[:8]}", "text": "Λάθος αριθμός"},
            )
        ).json()
        stranger = (await mailbox.post("/_admin/replies", json={
            "afm": "012345670", "reference": case["number"], "text": "Δεν είμαι ο πολίτης"})).json()  # fmt: skip

    report = await read(http, admin)
    assert report["statuses"]["changed"] >= 1
    assert report["replies"]["noted"] >= 1
    assert report["replies"]["unmatched"] >= 2
    await read(http, admin)  # a second pass records nothing again

    [opened] = await deliveries(pool, case["id"])
    assert opened["status"] == "opened"
    row = await pool.fetchrow("SELECT status_at, deemed_served_at FROM deliveries WHERE remote_ref = $1", posting)
    assert row is not None
    assert row["deemed_served_at"] is None
    notes = await reader_notes(pool, case["id"])
    assert len([n for n in notes if posting in n and "ειδοποιήθηκε" in n]) == 1
    assert len([n for n in notes if "Η επίδοση στη θυρίδα gov.gr" in n and "ανοίχτηκε από τον πολίτη" in n]) == 1
    assert len([n for n in notes if "Το παρέλαβα, ευχαριστώ." in n]) == 1
    assert not [n for n in notes if "Δεν είμαι ο πολίτης" in n or "Λάθος αριθμός" in n]
    kept = await pool.fetchrow("SELECT case_id FROM mailbox_replies WHERE id = $1", reply["id"])
    assert kept is not None
    assert kept["case_id"] == uuid.UUID(case["id"])
    assert await pool.fetchval("SELECT position FROM delivery_cursors WHERE name = 'mailbox-replies'") is not None

    # the replies that matched no case wait for administrators; nobody else may look
    unmatched = await http.get("/api/admin/delivery/replies", params={"limit": 500}, headers=admin)
    assert unmatched.status_code == 200, unmatched.text
    ids = {r["id"] for r in unmatched.json()}
    assert {stray["id"], stranger["id"]} <= ids
    assert reply["id"] not in ids
    assert (await http.get("/api/admin/delivery/replies", headers=headers)).status_code == 403
    assert (await http.post("/api/admin/delivery/read", headers=headers)).status_code == 403


async def test_a_posting_nobody_opens_is_deemed_served_ten_working_days_after(
    ray_app: dict[str, Any],
    settings: Settings,
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    make_procedure: Callable[..., Any],
    office_with_staff: dict[str, Any],
    admin: dict[str, str],
    mailbox_clock: Callable[[datetime], Any],
) -> None:
    headers = office_with_staff["headers"]
    citizen = {"afm": REGISTERED_AFM, "first_name": "Ελένη", "last_name": "Παπαδάκη"}
    opened = await http.post("/api/cases", json=body(await make_procedure(), citizen=citizen), headers=headers)
    assert opened.status_code == 201, opened.text
    case = opened.json()
    # posted as the process's mailbox step posts, and recorded as it records
    assert settings.mailbox_url
    assert settings.mailbox_token
    mailbox = GovGrMailbox(MailboxOptions(url=settings.mailbox_url, token=settings.mailbox_token, sender_org="ΚΕΠ"))
    try:
        receipt = await mailbox.post_document(afm=REGISTERED_AFM, pdf=PDF, title="Πιστοποιητικό",
                                              doc_type="certificate", reference=case["number"],
                                              idempotency_key=str(uuid.uuid4()))  # fmt: skip
    finally:
        await mailbox.close()
    await pool.execute(
        """INSERT INTO deliveries (id, case_id, office_id, channel, remote_ref, status)
           VALUES ($1, $2, $3, 'mailbox', $4, 'posted')""",
        uuid.uuid4(),
        uuid.UUID(case["id"]),
        office_with_staff["office"],
        receipt.posting_id,
    )

    await mailbox_clock(receipt.posted_at + timedelta(days=30))
    await read(http, admin)
    await read(http, admin)

    row = await pool.fetchrow(
        "SELECT status, status_at, deemed_served_at FROM deliveries WHERE remote_ref = $1", receipt.posting_id
    )
    assert row is not None
    deadline = calendar.deemed_served_at(receipt.posted_at)
    assert (row["status"], row["deemed_served_at"], row["status_at"]) == ("deemed_served", deadline, deadline)
    notes = await reader_notes(pool, case["id"])
    served = [n for n in notes if "θεωρείται ότι επιδόθηκε" in n]
    assert len(served) == 1
    assert "10 εργάσιμες μετά την ανάρτηση" in served[0]
    assert receipt.posting_id in served[0]
    assert deadline.strftime("%d/%m/%Y") in served[0]


async def test_an_authoritys_answer_through_kshde_is_attached_to_the_case_and_acknowledged_once(
    review_form: None,
    ray_app: dict[str, Any],
    settings: Settings,
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    make_procedure: Callable[..., Any],
    office_with_staff: dict[str, Any],
    admin: dict[str, str],
) -> None:
    assert (await http.post("/api/admin/kshde/sync", headers=admin)).status_code == 200  # senders by name
    headers = office_with_staff["headers"]
    procedure = await process_procedure(make_procedure, pool)
    await pool.execute("UPDATE procedures SET delivery_recipient = 'DHM-ATH' WHERE id = $1", procedure)
    case = await open_case(http, headers, procedure, REGISTERED_AFM)
    await approve(http, headers, case["id"])
    await reaches(pool, case["id"], "completed", within=120)
    [sent] = await deliveries(pool, case["id"])
    assert (sent["channel"], sent["recipient"]) == ("kshde", "DHM-ATH")

    answer = await send_to_us(settings, related=sent["remote_ref"], subject="Απάντηση στη διαβίβασή σας")
    first = await read(http, admin)
    assert first["inbox"]["attached"] >= 1
    assert first["inbox"]["acknowledged"] >= 1
    second = await read(http, admin)
    assert second["inbox"]["read"] >= 1
    assert second["inbox"]["acknowledged"] == 0

    # the answer and its attachment are the case's documents, brought by the delivery reader
    documents = await case_documents(pool, case["id"])
    assert [(d["filename"], d["content_type"], d["created_by"]) for d in documents] == [
        ("apantisi.pdf", "application/pdf", DELIVERY_ACTOR), ("parartima.pdf", "application/pdf", DELIVERY_ACTOR)
    ]  # fmt: skip
    assert [d["sha256"] for d in documents] == [hashlib.sha256(PDF).hexdigest(), hashlib.sha256(ANNEX).hexdigest()]
    listed = await http.get(f"/api/cases/{case['id']}/documents", headers=headers)
    assert {d["id"] for d in listed.json()} >= {str(d["id"]) for d in documents}
    [note] = [n for n in await reader_notes(pool, case["id"]) if answer in n]
    assert "Δήμος Αθηναίων (DHM-ATH)" in note
    assert sent["remote_ref"] in note

    # acknowledged once, with our local protocol number and date
    row = await pool.fetchrow(
        "SELECT local_receipt_id, acknowledged_at, case_id, attached_by FROM kshde_incoming WHERE protocol_no = $1",
        answer,
    )
    assert row is not None
    assert row["acknowledged_at"] is not None
    assert (row["case_id"], row["attached_by"]) == (uuid.UUID(case["id"]), DELIVERY_ACTOR)
    assert re.fullmatch(r"\d+/\d{4}-\d{2}-\d{2}", row["local_receipt_id"])
    receipts = [c for c in await calls(settings.kshde_url or "", "receipt") if c["key"] == f"{answer}/1"]
    assert [r["local"] for r in receipts] == [row["local_receipt_id"]]
    assert row["local_receipt_id"] in note


async def test_a_document_that_matches_no_case_waits_for_a_supervisor_who_attaches_it_to_a_case_of_their_office(
    ray_app: dict[str, Any],
    settings: Settings,
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    make_procedure: Callable[..., Any],
    make_office: OfficeFactory,
    token_for: Callable[..., str],
    office_with_staff: dict[str, Any],
    admin: dict[str, str],
) -> None:
    office_a, office_b = office_with_staff["office"], await make_office()
    procedure = await make_procedure()
    case_a = (await http.post("/api/cases", json=body(procedure), headers=office_with_staff["headers"])).json()
    employee_b = bearer(token_for(office_b))
    case_b = (await http.post("/api/cases", json=body(procedure), headers=employee_b)).json()
    supervisor_a = bearer(token_for(office_a, roles=("supervisor",)))
    supervisor_b = bearer(token_for(office_b, roles=("supervisor",)))

    number = await send_to_us(settings, related=None, subject="Έγγραφο χωρίς σχετικό")
    report = await read(http, admin)
    assert report["inbox"]["unmatched"] >= 1
    await read(http, admin)
    url = f"/api/kshde/inbox/{number}/attach"

    async def listed(headers: dict[str, str], state: str = "unmatched") -> dict[str, Any] | None:
        resp = await http.get("/api/kshde/inbox", params={"state": state, "limit": 500}, headers=headers)
        assert resp.status_code == 200, resp.text
        return next((d for d in resp.json() if d["protocol_no"] == number), None)

    # it belongs to no office: every supervisor sees it waiting, as administrators do; employees do not
    waiting = await listed(supervisor_a)
    assert waiting is not None
    assert await listed(supervisor_b) is not None
    assert await listed(admin) is not None
    assert (waiting["sender"], waiting["case_id"], waiting["acknowledged"]) == ("DHM-ATH", None, True)
    assert [f["file_name"] for f in waiting["files"]] == ["apantisi.pdf", "parartima.pdf"]
    assert (await http.get("/api/kshde/inbox", headers=office_with_staff["headers"])).status_code == 403
    refused = await http.post(url, json={"case_id": case_a["id"]}, headers=office_with_staff["headers"])
    assert refused.status_code == 403

    # bad input changes nothing: another office's case, a case that does not exist, no case at all
    for wrong in ({"case_id": case_b["id"]}, {"case_id": str(uuid.uuid4())}, {}, {"case_id": "not-a-uuid"}):
        resp = await http.post(url, json=wrong, headers=supervisor_a)
        assert resp.status_code == 422, resp.text
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert [e["path"] for e in resp.json()["errors"]] == ["/case_id"]
    assert (await http.post("/api/kshde/inbox/1999/999999/attach", json={"case_id": case_a["id"]},
                            headers=supervisor_a)).status_code == 404  # fmt: skip
    assert await case_documents(pool, case_b["id"]) == []
    assert await case_documents(pool, case_a["id"]) == []
    assert (await listed(admin) or {}).get("case_id") is None

    attached = await http.post(url, json={"case_id": case_a["id"]}, headers=supervisor_a)
    assert attached.status_code == 200, attached.text
    assert (attached.json()["case_id"], attached.json()["case_number"]) == (case_a["id"], case_a["number"])
    again = await http.post(url, json={"case_id": case_a["id"]}, headers=supervisor_a)
    assert again.status_code == 200
    assert again.json() == attached.json()
    documents = await case_documents(pool, case_a["id"])
    assert [d["filename"] for d in documents] == ["apantisi.pdf", "parartima.pdf"]
    [note] = [n for n in await reader_notes(pool, case_a["id"]) if number in n]
    assert "DHM-ATH" in note
    assert "συνδέθηκε με την υπόθεση" in note

    # now it is office A's: gone from every waiting list; office B's supervisor neither sees nor takes it
    assert await listed(supervisor_b) is None
    assert await listed(supervisor_a) is None
    assert await listed(supervisor_b, "attached") is None
    assert (await listed(supervisor_a, "attached") or {}).get("case_id") == case_a["id"]
    assert (await listed(admin, "attached") or {}).get("case_id") == case_a["id"]
    assert (await http.post(url, json={"case_id": case_b["id"]}, headers=supervisor_b)).status_code == 404
    moved = await http.post(url, json={"case_id": case_b["id"]}, headers=admin)
    assert moved.status_code == 409, moved.text
    assert await case_documents(pool, case_b["id"]) == []

    await read(http, admin)
    receipts = [c for c in await calls(settings.kshde_url or "", "receipt") if c["key"] == f"{number}/1"]
    assert len(receipts) == 1

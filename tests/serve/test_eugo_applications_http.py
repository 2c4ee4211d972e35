"""EU citizens apply online through HTTP (issue 18, points 7 and 8) with real eIDAS sign-ins of two citizens of two
countries: routed to the competent office by the routing rules (which then sees the case in its list), kept when no
rule applies and routed by an administrator once one exists, bad input refused with pointers and nothing kept,
repeats answered once, each citizen sees only their own, messages both ways, more evidence later."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import Awaitable, Callable, Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

import aio_pika
import asyncpg
import httpx
import pytest
from aiosmtpd.controller import Controller

from actors.cases.store import apply_command
from actors.eugo.notifier import Smtp, alert_unrouted, notify
from kepctl.eidas_realms import TEST_CITIZENS, NodeCitizen
from kepctl.stack import StackSettings
from messages.cases import CaseAction, CaseChanged, CaseCommand, CitizenMessage
from messages.events import case_event
from tests.conftest import OfficeFactory
from tests.helpers import bearer
from tests.kepctl.test_eidas_realms import citizen_token

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
FORM = {
    "display": "form",
    "components": [
        {"type": "textfield", "key": "purpose", "label": "Purpose", "input": True, "validate": {"required": True}},
        {"type": "button", "key": "submit", "label": "Submit", "input": True},
    ],
}
PAYLOAD = {
    "metadata": {
        "process_evidences": [
            {"evidence_num_id": "1", "evidence_description": "Διαβατήριο",
             "evidence_type": {"id": "passport", "title": {"el": "Διαβατήριο", "en": "Passport"}}},
            {"evidence_num_id": "2", "evidence_description": "Άλλο", "evidence_alternative": True},
        ]
    }
}  # fmt: skip


def _by_country(country: str) -> NodeCitizen:
    return next(c for c in TEST_CITIZENS if c.person_identifier.startswith(f"{country}/"))


@pytest.fixture(scope="module")
def tokens() -> dict[str, str]:
    return {}


@pytest.fixture
async def token_of(stack: StackSettings, tokens: dict[str, str]) -> Callable[[str], Awaitable[str]]:
    async def get(country: str) -> str:
        if country not in tokens:  # one sign-in per citizen and module: tokens live five minutes
            tokens[country] = await citizen_token(stack, _by_country(country))
        return tokens[country]

    return get


@pytest.fixture
def admin(token_for: Callable[..., str]) -> dict[str, str]:
    return bearer(token_for(uuid.uuid4(), roles=("administrator",)))


@pytest.fixture
async def eugo_procedure(
    http: httpx.AsyncClient, pool: asyncpg.Pool, admin: dict[str, str]
) -> Callable[..., Awaitable[uuid.UUID]]:
    async def create(eugo: bool = True) -> uuid.UUID:
        key = f"eugo-{uuid.uuid4().hex[:8]}"
        saved = await http.post(
            "/api/admin/forms", json={"key": key, "title": "EUGO", "definition": FORM}, headers=admin
        )
        assert saved.status_code == 201, saved.text
        pid, mitos_id = uuid.uuid4(), str(uuid.uuid4().int % 10**9)
        await pool.execute(
            """INSERT INTO procedures (id, mitos_id, title_el, title_en, payload, active, duration_days, eugo, form_key)
               VALUES ($1, $2, $3, $4, $5, true, 10, $6, $7)""",
            pid, mitos_id, f"Άδεια {mitos_id}", f"Licence {mitos_id}", PAYLOAD, eugo, key,
        )  # fmt: skip
        return pid

    return create


async def _rule(http: httpx.AsyncClient, admin: dict[str, str], procedure: uuid.UUID, office: uuid.UUID) -> None:
    made = await http.post("/api/admin/routings", json={"procedure_id": str(procedure), "office_id": str(office)},
                           headers=admin)  # fmt: skip
    assert made.status_code == 201, made.text


def _parts(procedure: uuid.UUID, files: dict[str, bytes] | None = None, **application: Any) -> dict[str, Any]:
    body = {"procedure_id": str(procedure), "form_data": {"purpose": "work"}, "email": "citizen@example.eu"}
    files = {"evidence-1": PDF} if files is None else files
    return {
        "data": {"application": json.dumps(body | application)},
        "files": [(name, (f"{name}.bin", content)) for name, content in files.items()],
    }


async def _apply(http: httpx.AsyncClient, token: str, parts: dict[str, Any], key: str | None = None) -> httpx.Response:
    headers = bearer(token) | ({"Idempotency-Key": key} if key else {})
    return await http.post("/api/eugo/applications", headers=headers, **parts)


async def _counts(pool: asyncpg.Pool) -> tuple[int, int]:
    row = await pool.fetchrow(
        "SELECT (SELECT count(*) FROM eugo_applications) a, (SELECT count(*) FROM eugo_application_files) f"
    )
    return row["a"], row["f"]


async def test_routed_to_the_competent_office_which_sees_the_case(
    http: httpx.AsyncClient,
    token_of: Callable[[str], Awaitable[str]],
    eugo_procedure: Callable[..., Awaitable[uuid.UUID]],
    make_office: OfficeFactory,
    admin: dict[str, str],
    token_for: Callable[..., str],
) -> None:
    procedure, office = await eugo_procedure(), await make_office("eke")
    await _rule(http, admin, procedure, office)
    es = await token_of("ES")
    resp = await _apply(http, es, _parts(procedure, {"evidence-1": PDF, "supporting": PNG}))
    assert resp.status_code == 201, resp.text
    app = resp.json()
    assert app["status"] == "routed"
    assert app["case"]["office_id"] == str(office)
    assert app["case"]["status"] == "submitted"
    staff = bearer(token_for(office))
    listed = (await http.get("/api/cases", headers=staff)).json()
    assert app["case"]["id"] in {c["id"] for c in listed["items"]}
    case = (await http.get(f"/api/cases/{app['case']['id']}", headers=staff)).json()
    assert case["channel"] == "eugo"
    assert case["citizen"]["eidas"] == {"country": "ES", "person_id": "12345678Z"}
    assert case["citizen"]["afm"] is None
    assert case["citizen"]["email"] == "citizen@example.eu"
    docs = (await http.get(f"/api/cases/{case['id']}/documents", headers=staff)).json()
    assert sorted(d["kind"] for d in docs) == ["evidence-1", "supporting"]
    assert {d["created_by"] for d in docs} == {"eugo:ES/EL/12345678Z"}

    # another office's staff cannot write to this citizen, nor see that the application exists
    stranger = bearer(token_for(await make_office(), roles=("employee", "supervisor")))
    intruded = await http.post(f"/api/cases/{case['id']}/messages", json={"text": "x"}, headers=stranger)
    assert intruded.status_code == 404, intruded.text
    # two-way: the office writes, the citizen reads and answers, both on the case's timeline
    wrote = await http.post(f"/api/cases/{case['id']}/messages", json={"text": "Please send your diploma."},
                            headers=staff)  # fmt: skip
    assert wrote.status_code == 201, wrote.text
    answered = await http.post(f"/api/eugo/applications/{app['id']}/messages", json={"text": "Sent it."},
                               headers=bearer(es))  # fmt: skip
    assert answered.status_code == 201, answered.text
    more = await http.post(f"/api/eugo/applications/{app['id']}/documents", headers=bearer(es),
                           files=[("supporting", ("diploma.pdf", PDF))])  # fmt: skip
    assert more.status_code == 201, more.text
    detail = more.json()
    assert [(x["sender"], x["text"]) for x in detail["messages"]] == [
        ("office", "Please send your diploma."),
        ("citizen", "Sent it."),
    ]
    assert len(detail["evidence"]) == 3
    timeline = (await http.get(f"/api/cases/{case['id']}/timeline", headers=staff)).json()
    assert "Message from the citizen: Sent it." in json.dumps(timeline)

    # another citizen of another country sees nothing of it
    de = await token_of("DE")
    assert (await http.get(f"/api/eugo/applications/{app['id']}", headers=bearer(de))).status_code == 404
    mine = (await http.get("/api/eugo/applications", headers=bearer(de))).json()
    assert app["id"] not in {a["id"] for a in mine}
    theirs = await http.post(f"/api/eugo/applications/{app['id']}/messages", json={"text": "x"}, headers=bearer(de))
    assert theirs.status_code == 404
    assert app["id"] in {a["id"] for a in (await http.get("/api/eugo/applications", headers=bearer(es))).json()}


async def test_unrouted_is_kept_then_routed_by_an_administrator(
    http: httpx.AsyncClient,
    token_of: Callable[[str], Awaitable[str]],
    eugo_procedure: Callable[..., Awaitable[uuid.UUID]],
    make_office: OfficeFactory,
    admin: dict[str, str],
    pool: asyncpg.Pool,
) -> None:
    procedure = await eugo_procedure()
    de = await token_of("DE")
    resp = await _apply(http, de, _parts(procedure))
    assert resp.status_code == 202, resp.text
    app = resp.json()
    assert app["status"] == "unrouted"
    assert app["case"] is None
    assert "no office is competent" in app["explanation"]
    waiting = (await http.get("/api/admin/eugo/applications?status=unrouted&limit=500", headers=admin)).json()
    assert app["id"] in {a["id"] for a in waiting}
    still = await http.post(f"/api/admin/eugo/applications/{app['id']}/route", headers=admin)
    assert still.status_code == 409, still.text
    office = await make_office("eke")
    await _rule(http, admin, procedure, office)
    routed = await http.post(f"/api/admin/eugo/applications/{app['id']}/route", headers=admin)
    assert routed.status_code == 200, routed.text
    assert routed.json()["status"] == "routed"
    assert routed.json()["case"]["office_id"] == str(office)
    again = await http.post(f"/api/admin/eugo/applications/{app['id']}/route", headers=admin)
    assert again.json()["case"]["id"] == routed.json()["case"]["id"]
    assert await pool.fetchval("SELECT count(*) FROM documents WHERE case_id = $1",
                               uuid.UUID(routed.json()["case"]["id"])) == 1  # fmt: skip
    mine = (await http.get(f"/api/eugo/applications/{app['id']}", headers=bearer(de))).json()
    assert mine["status"] == "routed"
    assert mine["case"]["number"]


async def test_a_repeat_with_the_same_key_answers_the_first(
    http: httpx.AsyncClient,
    token_of: Callable[[str], Awaitable[str]],
    eugo_procedure: Callable[..., Awaitable[uuid.UUID]],
    make_office: OfficeFactory,
    admin: dict[str, str],
    pool: asyncpg.Pool,
) -> None:
    procedure, office = await eugo_procedure(), await make_office("eke")
    await _rule(http, admin, procedure, office)
    es, key = await token_of("ES"), f"k-{uuid.uuid4().hex}"
    first = await _apply(http, es, _parts(procedure), key)
    assert first.status_code == 201, first.text
    before = await _counts(pool)
    second = await _apply(http, es, _parts(procedure), key)
    assert second.status_code == 201
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert second.json()["id"] == first.json()["id"]
    assert await _counts(pool) == before
    assert await pool.fetchval("SELECT count(*) FROM cases WHERE procedure_id = $1", procedure) == 1

    # the key protects this application: with other form data, or other bytes in a file, it is refused
    for other in (_parts(procedure, form_data={"purpose": "study"}), _parts(procedure, {"evidence-1": PDF + b" "})):
        refused = await _apply(http, es, other, key)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["path"] == "/idempotency-key"
    assert await _counts(pool) == before
    # the same application sent with its JSON keys in another order is still the same request
    reordered = _parts(procedure)
    reordered["data"]["application"] = json.dumps(dict(reversed(json.loads(reordered["data"]["application"]).items())))
    again = await _apply(http, es, reordered, key)
    assert again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"]


@pytest.mark.parametrize(
    ("case", "pointer"),
    [
        ("not_eugo", "/procedure_id"),
        ("missing_evidence", "/evidence-1"),
        ("wrong_type", "/evidence-1"),
        ("bad_form", "/form_data/purpose"),
        ("bad_email", "/email"),
        ("bad_part", "/passport"),
    ],
)
async def test_bad_input_is_refused_with_a_pointer_and_keeps_nothing(
    http: httpx.AsyncClient,
    token_of: Callable[[str], Awaitable[str]],
    eugo_procedure: Callable[..., Awaitable[uuid.UUID]],
    pool: asyncpg.Pool,
    case: str,
    pointer: str,
) -> None:
    procedure = await eugo_procedure(eugo=case != "not_eugo")
    parts = {
        "not_eugo": _parts(procedure),
        "missing_evidence": _parts(procedure, {"supporting": PDF}),
        "wrong_type": _parts(procedure, {"evidence-1": b"just some text, not a PDF at all\n" * 4}),
        "bad_form": _parts(procedure, form_data={}),
        "bad_email": _parts(procedure, email="not-an-address"),
        "bad_part": _parts(procedure, {"evidence-1": PDF, "passport": PDF}),
    }[case]
    before = await _counts(pool)
    resp = await _apply(http, await token_of("IT"), parts)
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert pointer in [e["path"] for e in resp.json()["errors"]], resp.json()
    assert await _counts(pool) == before


async def test_a_procedure_asking_a_higher_level_of_assurance_refuses_a_lower_sign_in(
    http: httpx.AsyncClient,
    token_of: Callable[[str], Awaitable[str]],
    eugo_procedure: Callable[..., Awaitable[uuid.UUID]],
    make_office: OfficeFactory,
    admin: dict[str, str],
    pool: asyncpg.Pool,
) -> None:
    procedure = await eugo_procedure()
    await _rule(http, admin, procedure, await make_office("eke"))
    url = f"/api/admin/procedures/{procedure}"
    wrong = await http.patch(url, json={"eugo_min_loa": "medium"}, headers=admin)
    assert wrong.status_code == 422, wrong.text
    assert [e["path"] for e in wrong.json()["errors"]] == ["/eugo_min_loa"]
    set_ = await http.patch(url, json={"eugo_min_loa": "substantial", "reason": "a licence"}, headers=admin)
    assert set_.status_code == 200, set_.text
    assert set_.json()["eugo_min_loa"] == "substantial"

    before = await _counts(pool)
    low = await _apply(http, await token_of("IT"), _parts(procedure))  # the node's Italian citizen: low
    assert low.status_code == 403, low.text
    assert low.headers["content-type"].startswith("application/problem+json")
    assert "substantial" in low.json()["detail"]
    assert await _counts(pool) == before
    substantial = await _apply(http, await token_of("ES"), _parts(procedure))
    assert substantial.status_code == 201, substantial.text


async def test_staff_tokens_and_no_tokens_are_refused(
    http: httpx.AsyncClient, token_for: Callable[..., str], make_office: OfficeFactory
) -> None:
    staff = bearer(token_for(await make_office()))
    for headers in ({}, staff):
        assert (await http.get("/api/eugo/applications", headers=headers)).status_code == 401
        assert (
            await http.post("/api/eugo/applications", headers=headers, data={"application": "{}"})
        ).status_code == 401


async def _next(queue: aio_pika.abc.AbstractQueue) -> aio_pika.abc.AbstractIncomingMessage:
    """The next message, waiting for it: the outbox relays events a moment after their commit."""
    for _ in range(150):
        message = await queue.get(fail=False, timeout=5)
        if message is not None:
            return message
        await asyncio.sleep(0.2)
    raise AssertionError("no case event came")


@pytest.fixture
def smtp_server() -> Iterator[tuple[Smtp, list[EmailMessage]]]:
    """A real local SMTP server (aiosmtpd) that keeps what it receives."""
    received: list[EmailMessage] = []

    class Keep:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd's name
            received.append(message_from_bytes(envelope.content, _class=EmailMessage, policy=default))
            return "250 OK"

    with socket.socket() as probe:  # a free port: aiosmtpd's controller checks the server by connecting to its port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield Smtp("127.0.0.1", port, None, None, False, False), received
    finally:
        controller.stop()


async def test_a_status_change_mails_the_citizen_once(
    http: httpx.AsyncClient,
    token_of: Callable[[str], Awaitable[str]],
    eugo_procedure: Callable[..., Awaitable[uuid.UUID]],
    make_office: OfficeFactory,
    admin: dict[str, str],
    token_for: Callable[..., str],
    case_events: aio_pika.abc.AbstractQueue,
    pool: asyncpg.Pool,
    smtp_server: tuple[Smtp, list[EmailMessage]],
) -> None:
    smtp, received = smtp_server
    procedure, office = await eugo_procedure(), await make_office("eke")
    await _rule(http, admin, procedure, office)
    app = (await _apply(http, await token_of("ES"), _parts(procedure))).json()
    case_id = app["case"]["id"]
    started = await http.post(f"/api/cases/{case_id}/start", json={"version": 1}, headers=bearer(token_for(office)))
    assert started.status_code == 200, started.text
    changes = []
    while True:  # the queue sees every case event of the session: this case's, in order
        message = await _next(case_events)
        await message.ack()
        event = case_event(message.type or "", message.body)
        if str(event.data.case_id) == case_id:
            changes.append(event)
            if event.data.status == "in_progress":
                break
    async with pool.acquire() as conn:
        sent = [
            await notify(conn=conn, smtp=smtp, sender="EUGO <no-reply@eugo.test>", event_id=e.id, change=e.data)
            for e in changes
            if isinstance(e.data, CaseChanged)
        ]
        again = await notify(
            conn=conn, smtp=smtp, sender="x@eugo.test", event_id=changes[-1].id, change=changes[-1].data
        )  # type: ignore[arg-type]
    assert sent.count(True) == 1  # the start; the attachments and the opening are no status change
    assert again is False
    (mail,) = received
    assert mail["To"] == "citizen@example.eu"
    assert app["case"]["number"] in mail["Subject"]
    assert "being processed" in mail.get_content()
    assert "Carmen García López" in mail.get_content()


async def test_a_message_and_its_note_are_one_change(
    http: httpx.AsyncClient,
    token_of: Callable[[str], Awaitable[str]],
    eugo_procedure: Callable[..., Awaitable[uuid.UUID]],
    make_office: OfficeFactory,
    admin: dict[str, str],
    pool: asyncpg.Pool,
) -> None:
    """The note on the timeline and the message the citizen sees are written in one transaction: a message the
    database refuses leaves no note, and a command sent again leaves one of each."""
    procedure, office = await eugo_procedure(), await make_office("eke")
    await _rule(http, admin, procedure, office)
    app = (await _apply(http, await token_of("ES"), _parts(procedure))).json()
    case_id = uuid.UUID(app["case"]["id"])

    def note(application_id: uuid.UUID, command_id: uuid.UUID, message_id: uuid.UUID) -> CaseCommand:
        return CaseCommand(
            command_id=command_id, case_id=case_id, office_id=office, actor="eugo:ES/EL/12345678Z",
            roles=frozenset(), action=CaseAction.NOTE, reason="Message from the citizen: hello",
            message=CitizenMessage(id=message_id, application_id=application_id, sender="citizen", text="hello"),
        )  # fmt: skip

    async def counts() -> tuple[int, int]:
        row = await pool.fetchrow(
            """SELECT (SELECT count(*) FROM case_events WHERE case_id = $1 AND new ? 'note') n,
                      (SELECT count(*) FROM eugo_messages WHERE application_id = $2) m""",
            case_id,
            uuid.UUID(app["id"]),
        )
        return row["n"], row["m"]

    before = await counts()
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.ForeignKeyViolationError):  # no such application: the message cannot be kept
            await apply_command(conn=conn, cmd=note(uuid.uuid4(), uuid.uuid4(), uuid.uuid4()))
    assert await counts() == before
    sent = note(uuid.UUID(app["id"]), uuid.uuid4(), uuid.uuid4())
    async with pool.acquire() as conn:
        for _ in range(2):  # a shard that crashed after its commit gets the command again
            await apply_command(conn=conn, cmd=sent)
    assert await counts() == (before[0] + 1, before[1] + 1)


async def test_administrators_are_mailed_once_about_an_application_no_rule_routes(
    http: httpx.AsyncClient,
    token_of: Callable[[str], Awaitable[str]],
    eugo_procedure: Callable[..., Awaitable[uuid.UUID]],
    pool: asyncpg.Pool,
    smtp_server: tuple[Smtp, list[EmailMessage]],
) -> None:
    smtp, received = smtp_server
    app = (await _apply(http, await token_of("DE"), _parts(await eugo_procedure()))).json()
    assert app["status"] == "unrouted"
    address = f"admin-{uuid.uuid4().hex[:8]}@kep.example.gr"

    async def alert() -> int:
        async with pool.acquire() as conn:
            return await alert_unrouted(conn=conn, smtp=smtp, sender="EUGO <no-reply@eugo.test>",
                                        public_url="https://kep.example.gr")  # fmt: skip

    # no administrator with an address: nothing sent, nothing marked (the session's are put back after)
    kept = await pool.fetch("SELECT id, email FROM users WHERE 'administrator' = ANY (roles) AND email IS NOT NULL")
    await pool.execute("UPDATE users SET email = NULL WHERE id = ANY($1::uuid[])", [r["id"] for r in kept])
    try:
        assert await alert() == 0
        assert received == []
    finally:
        await pool.executemany("UPDATE users SET email = $2 WHERE id = $1", [(r["id"], r["email"]) for r in kept])
    await pool.execute(
        """INSERT INTO users (id, subject, office_id, display_name, roles, email)
           VALUES ($1, $2, NULL, 'Διαχειριστής', '{administrator}', $3)""",
        uuid.uuid4(), f"adm-{uuid.uuid4().hex[:8]}", address,
    )  # fmt: skip
    while await alert():  # the session's earlier unrouted applications first, at most ALERT_MAX a mail
        pass
    listing = [m for m in received if app["id"] in m.get_content()]
    assert len(listing) == 1
    assert address in listing[0]["To"]
    assert "no routing rule" in listing[0]["Subject"]
    assert "/api/admin/eugo/applications?status=unrouted" in listing[0].get_content()
    sent = len(received)
    assert await alert() == 0  # each is in one alert
    assert len(received) == sent


async def test_my_applications_come_in_pages(
    http: httpx.AsyncClient,
    token_of: Callable[[str], Awaitable[str]],
    eugo_procedure: Callable[..., Awaitable[uuid.UUID]],
) -> None:
    it = await token_of("IT")
    procedure = await eugo_procedure()
    for _ in range(3):
        assert (await _apply(http, it, _parts(procedure))).status_code == 202
    everything = (await http.get("/api/eugo/applications", params={"limit": 500}, headers=bearer(it))).json()
    seen: list[str] = []
    url: str | None = "/api/eugo/applications?limit=2"
    while url:
        page = await http.get(url, headers=bearer(it))
        assert page.status_code == 200, page.text
        assert len(page.json()) <= 2
        seen += [a["id"] for a in page.json()]
        url = page.links["next"]["url"] if "next" in page.links else None
    assert seen == [a["id"] for a in everything]  # newest first, each once
    assert len(seen) >= 3
    assert (await http.get("/api/eugo/applications", params={"limit": 501}, headers=bearer(it))).status_code == 422

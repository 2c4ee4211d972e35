"""Documents a case produces, end to end on the real Chromium, MinIO, RabbitMQ and PostgreSQL: asked for over HTTP,
rendered by the renderer actor from the internal render page, signed, stored, recorded on the case once, verified
by anyone with the code or the PDF, and refused where they must be."""

from __future__ import annotations

import asyncio
import re
import subprocess
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
import pytest
import ray

from actors.cases.store import document_key
from actors.documents import inputs, signing, tokens
from actors.documents.identity import trust_roots_from_settings
from actors.documents.renderer import RENDERER, BrowserGone, pool_member
from actors.ray_options import call_actor
from infra.settings import Settings
from infra.storage import create_store
from messages.documents import Lang, TemplateKind
from messages.errors import RetryableError
from tests.conftest import OfficeFactory
from tests.helpers import bearer, eventually
from tests.serve.test_live_http import listen, next_for

VALID_AFM = "090000045"


@pytest.fixture
async def case(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
) -> dict[str, Any]:
    """A case opened at the counter of a fresh office (a procedure without a process: nothing renders by itself),
    with the headers of its employee."""
    office = await make_office()
    headers = bearer(token_for(office))
    citizen = {"afm": VALID_AFM, "first_name": "Ελένη", "last_name": "Παπαδάκη", "father_name": "Νικόλαος"}
    opened = await http.post("/api/cases", json={"procedure_id": str(await make_procedure()), "citizen": citizen},
                             headers=headers)  # fmt: skip
    assert opened.status_code == 201, opened.text
    return {"case": opened.json(), "headers": headers, "office": office}


async def generated(http: httpx.AsyncClient, headers: dict[str, str], case_id: str) -> list[dict[str, Any]]:
    docs = (await http.get(f"/api/cases/{case_id}/documents", headers=headers)).json()
    return [d for d in docs if d["kind"] == "generated"]


async def render(http: httpx.AsyncClient, headers: dict[str, str], case_id: str, kind: str, lang: str = "el") -> None:
    asked = await http.post(f"/api/cases/{case_id}/documents/render", json={"kind": kind, "lang": lang},
                            headers=headers)  # fmt: skip
    assert asked.status_code == 202, asked.text


async def rendered(http: httpx.AsyncClient, headers: dict[str, str], case_id: str, count: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    async def there() -> bool:
        nonlocal found
        found = await generated(http, headers, case_id)
        return len(found) >= count

    await eventually(there, within=90)
    return found


def pdf_text(pdf: bytes, tmp_path: Path, tool: str = "pdftotext", *args: str) -> str:
    path = tmp_path / f"{uuid.uuid4().hex}.pdf"
    path.write_bytes(pdf)
    out = [str(path), "-"] if tool == "pdftotext" else [str(path)]
    return subprocess.run([tool, *args, *out], capture_output=True, text=True, check=True).stdout


def rasterised(pdf: bytes, tmp_path: Path) -> bytes:
    source, png = tmp_path / "r.pdf", tmp_path / "page"
    source.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "30", "-singlefile", str(source), str(png)], check=True)
    return png.with_suffix(".png").read_bytes()


async def stored(settings: Settings, case_id: str, document_id: str) -> bytes:
    return await create_store(settings).get(document_key(uuid.UUID(case_id), uuid.UUID(document_id)))


async def test_a_receipt_is_rendered_in_greek_recorded_once_and_verifiable(
    settings: Settings, http: httpx.AsyncClient, case: dict[str, Any], tmp_path: Path
) -> None:
    headers, case_id = case["headers"], case["case"]["id"]
    await render(http, headers, case_id, "receipt")
    [receipt] = await rendered(http, headers, case_id, 1)
    assert receipt["filename"].startswith("receipt-")
    assert receipt["content_type"] == "application/pdf"
    assert receipt["signed"] is False
    assert receipt["verification_code"]

    pdf = await stored(settings, case_id, receipt["id"])
    text = pdf_text(pdf, tmp_path)
    assert case["case"]["number"] in text
    assert "Απόδειξη υποβολής αίτησης" in text
    assert "Παπαδάκη" in text
    assert "Σελίδα 1 από 1" in text  # the running footer, numbered by Chromium
    assert receipt["verification_code"] in text
    fonts = pdf_text(pdf, tmp_path, "pdffonts")
    assert "DejaVu" in fonts
    assert all(" yes " in line for line in fonts.splitlines()[2:])
    info = pdf_text(pdf, tmp_path, "pdfinfo")
    assert f"Απόδειξη υποβολής αίτησης {case['case']['number']}" in info
    assert re.search(r"^Tagged:\s+yes$", info, re.MULTILINE)
    assert rasterised(pdf, tmp_path).startswith(b"\x89PNG")  # what a printer or a viewer does with it

    # asked again while the case is unchanged: the same document, not a second one
    before = await _jobs(settings)
    await render(http, headers, case_id, "receipt")
    await eventually(lambda: _more_jobs(settings, before), within=60)
    assert [d["id"] for d in await generated(http, headers, case_id)] == [receipt["id"]]

    # anyone with the code learns what it is and who issued it, nothing about the citizen
    answer = await http.get(f"/api/public/documents/{receipt['verification_code']}")
    assert answer.status_code == 200, answer.text
    verified = answer.json()
    assert verified["authentic"] is True
    assert verified["kind"] == "receipt"
    assert verified["case_number"] == case["case"]["number"]
    assert verified["sha256"] == receipt["sha256"]
    assert "Παπαδάκη" not in answer.text
    assert VALID_AFM not in answer.text
    assert (await http.get("/api/public/documents/AAAA-BBBB-CCCC-DDDD")).status_code == 404


async def _jobs(settings: Settings) -> int:
    stats = await call_actor(ray.get_actor(f"{RENDERER}-0", namespace=settings.ray_namespace).stats.remote())
    return int(stats["jobs"])


async def _more_jobs(settings: Settings, before: int) -> bool:
    return await _jobs(settings) > before


async def test_a_certificate_is_signed_and_a_changed_byte_is_caught(
    settings: Settings, http: httpx.AsyncClient, case: dict[str, Any], tmp_path: Path
) -> None:
    headers, case_id = case["headers"], case["case"]["id"]
    await render(http, headers, case_id, "certificate", "en")
    [certificate] = await rendered(http, headers, case_id, 1)
    assert certificate["signed"] is True
    pdf = await stored(settings, case_id, certificate["id"])
    assert "Certificate" in pdf_text(pdf, tmp_path)
    roots = trust_roots_from_settings(settings)
    check = await signing.check_signature(pdf, roots)
    assert check is not None
    assert check.intact
    assert check.trusted
    assert check.covers_whole_file

    verified = await http.post("/api/public/documents", content=pdf, headers={"Content-Type": "application/pdf"})
    assert verified.status_code == 200, verified.text
    assert verified.json()["authentic"] is True
    assert verified.json()["signed"] is True
    changed = bytearray(pdf)
    at = pdf.index(b"Certificate")  # inside the signed bytes
    changed[at] ^= 0x01
    assert (await http.post("/api/public/documents", content=bytes(changed),
                            headers={"Content-Type": "application/pdf"})).status_code == 404  # fmt: skip
    spoiled = await signing.check_signature(bytes(changed), roots)
    assert spoiled is None or not spoiled.intact


async def test_another_offices_case_is_not_found(
    http: httpx.AsyncClient, case: dict[str, Any], make_office: OfficeFactory, token_for: Callable[..., str]
) -> None:
    stranger = bearer(token_for(await make_office()))
    asked = await http.post(f"/api/cases/{case['case']['id']}/documents/render", json={"kind": "receipt"},
                            headers=stranger)  # fmt: skip
    assert asked.status_code == 404
    assert asked.headers["content-type"] == "application/problem+json"
    bad = await http.post(f"/api/cases/{case['case']['id']}/documents/render", json={"kind": "diploma"},
                          headers=case["headers"])  # fmt: skip
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["path"] == "/kind"


async def test_the_render_page_opens_only_for_its_own_valid_token(
    settings: Settings, http: httpx.AsyncClient, pool: asyncpg.Pool[asyncpg.Record], case: dict[str, Any]
) -> None:
    case_id = uuid.UUID(case["case"]["id"])
    template = await pool.fetchval(
        "SELECT id FROM document_templates WHERE procedure_id IS NULL AND kind = 'receipt' AND lang = 'el' "
        "ORDER BY version DESC LIMIT 1"
    )
    secret = settings.render_secret.get_secret_value().encode()

    def token(inputs_hash: str, now: float | None = None) -> str:
        claims = tokens.RenderClaims(case_id, case["office"], template, TemplateKind.RECEIPT, Lang.EL, inputs_hash,
                                     uuid.uuid4(), datetime.now(UTC))  # fmt: skip
        return tokens.issue(secret, claims, now)

    async with pool.acquire() as conn:
        digest = inputs.inputs_hash(await inputs.gather(conn=conn, case_id=case_id, office_id=case["office"],
                                                        lang=Lang.EL))  # fmt: skip
    ok = await http.get(f"/internal/render/{token(digest)}")
    assert ok.status_code == 200
    assert case["case"]["number"] in ok.text
    assert "default-src 'none'" in ok.headers["content-security-policy"]
    # expired, for other inputs (the case changed), or a user's token: refused
    assert (await http.get(f"/internal/render/{token(digest, now=0)}")).status_code == 403
    assert (await http.get(f"/internal/render/{token('0' * 64)}")).status_code == 403
    user_token = case["headers"]["Authorization"].removeprefix("Bearer ")
    assert (await http.get(f"/internal/render/{user_token}")).status_code == 403


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def test_a_browser_that_dies_is_relaunched_and_the_job_rendered_once(
    settings: Settings, http: httpx.AsyncClient, case: dict[str, Any]
) -> None:
    renderer = ray.get_actor(f"{RENDERER}-0", namespace=settings.ray_namespace)
    before = await call_actor(renderer.stats.remote())
    pid = await call_actor(renderer.browser_pid.remote())
    assert pid is not None
    psutil.Process(pid).kill()
    headers, case_id = case["headers"], case["case"]["id"]
    await render(http, headers, case_id, "receipt")
    docs = await rendered(http, headers, case_id, 1)
    assert len(docs) == 1
    after = await call_actor(renderer.stats.remote())
    assert after["relaunches"] > before["relaunches"]
    assert await call_actor(renderer.browser_pid.remote()) not in (None, pid)


async def test_a_killed_renderer_leaves_no_chromium_behind(settings: Settings, http: httpx.AsyncClient) -> None:
    name = f"{RENDERER}-leak-test"
    spare = pool_member(name, settings, pages=1)
    pids = await call_actor(spare.chromium_pids.remote())
    assert len(pids) >= 2  # the browser and its helpers (zygote, GPU, a renderer for the page)
    ray.kill(spare, no_restart=True)

    async def gone() -> bool:
        return not any(_alive(pid) for pid in pids)

    await eventually(gone, within=30)


async def test_a_render_page_that_never_comes_is_given_up_and_tried_again_later(
    settings: Settings, pool: asyncpg.Pool[asyncpg.Record], case: dict[str, Any]
) -> None:
    # a server that accepts and never answers, where the renderer fetches its pages
    silent = await asyncio.start_server(lambda r, w: asyncio.sleep(3600), "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    hanging = settings.model_copy(update={"render_base_url": f"http://127.0.0.1:{port}", "render_timeout_s": 2.0})
    spare = pool_member(f"{RENDERER}-silent-test", hanging, pages=1)
    template = await pool.fetchval("SELECT id FROM document_templates WHERE procedure_id IS NULL LIMIT 1")
    try:
        with pytest.raises(RetryableError, match="did not come"):
            await call_actor(spare.preview.remote(uuid.UUID(case["case"]["id"]), template))
        assert (await call_actor(spare.stats.remote()))["pages"] == 1  # no page was taken for it
    finally:
        ray.kill(spare, no_restart=True)
        silent.close()


async def test_a_page_that_hangs_in_chromium_is_timed_out_and_replaced(
    settings: Settings, pool: asyncpg.Pool[asyncpg.Record], case: dict[str, Any]
) -> None:
    # a template of a hundred thousand paragraphs: thousands of pages, far longer to print than the timeout
    procedure = await pool.fetchval("SELECT procedure_id FROM cases WHERE id = $1", uuid.UUID(case["case"]["id"]))
    template = uuid.uuid4()
    paragraphs = "{% for i in range(100000) %}<p>{{ case.number }} {{ i }}</p>{% endfor %}"
    body = f"<!doctype html><html><body>{paragraphs}</body></html>"
    await pool.execute(
        """INSERT INTO document_templates (id, procedure_id, kind, lang, version, body, created_by)
           VALUES ($1, $2, 'receipt', 'el', 1, $3, 'test')""",
        template,
        procedure,
        body,
    )
    slow = settings.model_copy(update={"render_timeout_s": 2.0})
    spare = pool_member(f"{RENDERER}-hang-test", slow, pages=1)
    try:
        with pytest.raises(BrowserGone):
            await call_actor(spare.preview.remote(uuid.UUID(case["case"]["id"]), template))
        stats = await call_actor(spare.stats.remote())
        assert stats["pages"] == 1  # the hung page was closed and a fresh one put in its place
        assert stats["relaunches"] == 0  # the browser itself was fine
    finally:
        ray.kill(spare, no_restart=True)


async def test_a_rendered_document_is_announced_live_to_its_office(
    http: httpx.AsyncClient, case: dict[str, Any]
) -> None:
    headers, case_id = case["headers"], case["case"]["id"]
    async with listen(http, headers) as events:
        await render(http, headers, case_id, "receipt", "en")
        announced = await next_for(events, case_id)
        while announced["event"] == "gr.kep.case.opened.v1":  # the opening may reach the stream after it opened
            announced = await next_for(events, case_id)
    assert announced["event"] == "gr.kep.case.document_added.v1"
    [receipt] = await generated(http, headers, case_id)
    assert receipt["filename"].startswith("receipt-")


async def test_an_attachment_sent_again_after_its_commit_applies_once(
    pool: asyncpg.Pool[asyncpg.Record], case: dict[str, Any]
) -> None:
    # what a case shard that crashed after committing an ATTACH does when Ray re-sends the command
    from actors.cases.lockstep import DOCUMENTS_ACTOR
    from actors.cases.store import apply_command
    from actors.cases.topics import PROCESS_ROLES
    from messages.cases import CaseAction, CaseCommand, DocumentView

    case_id = uuid.UUID(case["case"]["id"])
    document = DocumentView(id=uuid.uuid4(), case_id=case_id, kind="generated", filename="r.pdf",
                            content_type="application/pdf", size_bytes=4, sha256="0" * 64,
                            created_by=DOCUMENTS_ACTOR, created_at=datetime.now(UTC))  # fmt: skip
    command = CaseCommand(command_id=uuid.uuid4(), case_id=case_id, office_id=case["office"], actor=DOCUMENTS_ACTOR,
                          roles=PROCESS_ROLES, action=CaseAction.ATTACH, document=document)  # fmt: skip
    for _ in range(2):
        async with pool.acquire() as conn:
            await apply_command(conn=conn, cmd=command)
    assert await pool.fetchval("SELECT count(*) FROM documents WHERE id = $1", document.id) == 1
    assert await pool.fetchval("SELECT count(*) FROM case_events WHERE command_id = $1", command.command_id) == 1

"""Limits that hold before work is done: a body from a caller without a token, or over its route's size, is refused
before it is read (the replica's memory does not move), uploads are bounded by their procedure while they stream,
and a replica reads only so many uploads at once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx

from kepctl.chaos import peak_rss, serve_replica_pid
from serve.routers.documents import UPLOAD_SLOT_WAIT_S
from tests.conftest import OfficeFactory
from tests.helpers import bearer
from tests.serve.test_documents_http import PDF, open_case

MIB = 1024 * 1024
HOSTILE = 50 * MIB


def _multipart(size: int) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode()
    return head + PDF + b"0" * size + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


async def _post(http: httpx.AsyncClient, url: str, content: Any, headers: dict[str, str]) -> httpx.Response | None:
    """The answer, or None where the server closed the connection while the client was still sending (it refused
    the body without reading it: some clients then see the answer, some a broken pipe)."""
    try:
        return await http.post(url, content=content, headers=headers)
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
        return None


async def test_a_body_without_a_token_is_refused_before_it_is_read(
    ray_app: dict[str, Any], http: httpx.AsyncClient
) -> None:
    pid = serve_replica_pid()
    json_body = b'{"procedure_id": "' + b"a" * HOSTILE + b'"}'
    upload, upload_type = _multipart(HOSTILE)
    peak = peak_rss(pid)

    answers = [
        await _post(http, "/api/cases", json_body, {"content-type": "application/json"}),
        await _post(http, f"/api/cases/{uuid.uuid4()}/documents", upload, {"content-type": upload_type}),
        await _post(http, "/api/cases", json_body, {"content-type": "application/json", "authorization": "Bearer x"}),
    ]

    grown = peak_rss(pid) - peak
    assert grown < 16 * MIB, f"the replica's peak memory grew by {grown / MIB:.0f} MiB"
    for resp in answers:
        if resp is not None:
            assert resp.status_code == 401, resp.text
            assert resp.headers["content-type"] == "application/problem+json"


async def test_invalid_json_without_a_token_is_401_not_422(ray_app: dict[str, Any], http: httpx.AsyncClient) -> None:
    resp = await http.post("/api/cases", content=b"{not json", headers={"content-type": "application/json"})
    assert resp.status_code == 401, resp.text
    assert resp.headers["www-authenticate"].startswith("Bearer")


async def test_a_json_body_over_the_limit_is_413_declared_or_streamed(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    make_office: OfficeFactory,
    pool: asyncpg.Pool[asyncpg.Record],
    token_for: Callable[..., str],
) -> None:
    office = await make_office()
    headers = bearer(token_for(office)) | {"content-type": "application/json"}
    over = b'{"procedure_id": "' + b"a" * (2 * MIB) + b'"}'

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: only counting while reading can stop it
        for i in range(0, len(over), 64 * 1024):
            yield over[i : i + 64 * 1024]

    declared = await _post(http, "/api/cases", over, headers)
    streamed = await _post(http, "/api/cases", chunked(), headers)

    for resp in (declared, streamed):
        assert resp is not None
        assert resp.status_code == 413, resp.text
        assert resp.json()["type"] == "urn:kep:problem:TooLarge"
    assert await pool.fetchval("SELECT count(*) FROM cases WHERE office_id = $1", office) == 0


async def test_an_upload_over_its_procedure_limit_is_413_while_it_streams(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    pool: asyncpg.Pool[asyncpg.Record],
    token_for: Callable[..., str],
) -> None:
    procedure = await make_procedure()
    admin = bearer(token_for(uuid.uuid4(), roles=("administrator",)))
    limit = {"attachment_max_mb": 1}
    assert (await http.patch(f"/api/admin/procedures/{procedure}", json=limit, headers=admin)).status_code == 200
    headers = bearer(token_for(await make_office()))
    case = await open_case(http, headers, procedure)
    upload, upload_type = _multipart(3 * MIB)

    async def chunked() -> AsyncIterator[bytes]:
        for i in range(0, len(upload), 64 * 1024):
            yield upload[i : i + 64 * 1024]

    url = f"/api/cases/{case['id']}/documents"
    declared = await _post(http, url, upload, headers | {"content-type": upload_type})
    streamed = await _post(http, url, chunked(), headers | {"content-type": upload_type})

    for resp in (declared, streamed):
        assert resp is not None
        assert resp.status_code == 413, resp.text
        assert resp.json()["errors"][0]["path"] == "/file"
    assert await pool.fetchval("SELECT count(*) FROM documents WHERE case_id = $1", uuid.UUID(case["id"])) == 0


async def test_a_replica_reads_only_so_many_uploads_at_once(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
    settings: Any,
) -> None:
    """The slots are held by uploads whose bodies stall; one more waits its turn, then gets 503 with Retry-After;
    once the stalled ones go on, they are all stored."""
    headers = bearer(token_for(await make_office()))
    case = await open_case(http, headers, await make_procedure())
    url = f"/api/cases/{case['id']}/documents"
    go_on = asyncio.Event()
    body, body_type = _multipart(1024)

    async def stalled() -> AsyncIterator[bytes]:
        yield body[:100]
        await go_on.wait()
        yield body[100:]

    held = [
        asyncio.create_task(http.post(url, content=stalled(), headers=headers | {"content-type": body_type}))
        for _ in range(settings.uploads_per_replica)
    ]
    await asyncio.sleep(1)  # let them take their slots (an ordering aid only: the assertions do not depend on it)
    try:
        one_more = await http.post(url, content=body, headers=headers | {"content-type": body_type},
                                   timeout=UPLOAD_SLOT_WAIT_S + 20)  # fmt: skip
    finally:
        go_on.set()
    assert one_more.status_code == 503, one_more.text
    assert one_more.headers["retry-after"] == "5"
    assert one_more.json()["type"] == "urn:kep:problem:Busy"
    assert [r.status_code for r in await asyncio.gather(*held)] == [201] * settings.uploads_per_replica

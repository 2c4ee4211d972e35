"""Case documents over HTTP, against real MinIO: limits by procedure, sniffed types, sha256, presigned downloads."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
from minio import Minio

from infra.settings import Settings
from serve.routers.documents import safe_filename
from tests.conftest import OfficeFactory
from tests.helpers import bearer
from tests.serve.test_cases_http import body

PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"


def objects(settings: Settings, case_id: str) -> list[str]:
    assert settings.minio_endpoint
    assert settings.minio_access_key
    assert settings.minio_secret_key
    client = Minio(settings.minio_endpoint, settings.minio_access_key, settings.minio_secret_key.get_secret_value(),
                   secure=False)  # fmt: skip
    if not client.bucket_exists(settings.storage_bucket):
        return []
    return [o.object_name or "" for o in client.list_objects(settings.storage_bucket, f"cases/{case_id}/", True)]


async def open_case(http: httpx.AsyncClient, headers: dict[str, str], procedure: uuid.UUID) -> dict[str, Any]:
    resp = await http.post("/api/cases", json=body(procedure), headers=headers)
    assert resp.status_code == 201
    case: dict[str, Any] = resp.json()
    return case


async def test_upload_list_download_and_audit(
    http: httpx.AsyncClient,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
    settings: Settings,
) -> None:
    headers = bearer(token_for(await make_office()))
    case = await open_case(http, headers, await make_procedure())
    files = {"file": ("../../etc/Υπεύθυνη δήλωση*.pdf", PDF, "text/plain")}  # the client's type is ignored
    resp = await http.post(f"/api/cases/{case['id']}/documents", files=files, data={"kind": "declaration"},
                           headers=headers)  # fmt: skip
    assert resp.status_code == 201, resp.text
    doc = resp.json()
    assert (doc["filename"], doc["content_type"], doc["kind"]) == (
        "Υπεύθυνη δήλωση_.pdf",
        "application/pdf",
        "declaration",
    )
    assert (doc["size_bytes"], doc["sha256"]) == (len(PDF), hashlib.sha256(PDF).hexdigest())
    assert objects(settings, case["id"]) == [f"cases/{case['id']}/documents/{doc['id']}"]

    listed = (await http.get(f"/api/cases/{case['id']}/documents", headers=headers)).json()
    assert [d["id"] for d in listed] == [doc["id"]]
    one = (await http.get(f"/api/cases/{case['id']}/documents/{doc['id']}", headers=headers)).json()
    async with httpx.AsyncClient() as browser:  # the presigned link needs no token: MinIO checks its signature
        downloaded = await browser.get(one["url"])
    assert downloaded.content == PDF
    # saved, never shown inline under MinIO's origin, with its name in UTF-8
    assert downloaded.headers["content-disposition"] == (
        'attachment; filename="________ _______.pdf"; '
        "filename*=UTF-8''%CE%A5%CF%80%CE%B5%CF%8D%CE%B8%CF%85%CE%BD%CE%B7%20%CE%B4%CE%AE%CE%BB%CF%89%CF%83%CE%B7_.pdf"
    )
    timeline = (await http.get(f"/api/cases/{case['id']}/timeline", headers=headers)).json()
    assert timeline[-1]["type"] == "case.document_added"
    assert timeline[-1]["new"]["document"]["sha256"] == doc["sha256"]


async def test_limits_of_the_procedure_refuse_and_store_nothing(
    http: httpx.AsyncClient,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
    settings: Settings,
    pool: asyncpg.Pool[asyncpg.Record],
) -> None:
    procedure = await make_procedure()
    admin = bearer(token_for(uuid.uuid4(), roles=("administrator",)))
    limits = {"attachment_max_mb": 1, "attachment_types": ["application/pdf"]}
    assert (await http.patch(f"/api/admin/procedures/{procedure}", json=limits, headers=admin)).status_code == 200
    headers = bearer(token_for(await make_office()))
    case = await open_case(http, headers, procedure)
    url = f"/api/cases/{case['id']}/documents"

    big = await http.post(url, files={"file": ("big.pdf", PDF + b"0" * (1024 * 1024), "application/pdf")},
                          headers=headers)  # fmt: skip
    assert big.status_code == 413
    assert big.json()["errors"][0]["path"] == "/file"
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    wrong_type = await http.post(url, files={"file": ("scan.pdf", png, "application/pdf")}, headers=headers)
    assert wrong_type.status_code == 422
    assert "image/png is not accepted" in wrong_type.json()["errors"][0]["message"]
    text = await http.post(url, files={"file": ("notes.pdf", b"just some words", "application/pdf")}, headers=headers)
    assert text.status_code == 422
    assert await pool.fetchval("SELECT count(*) FROM documents WHERE case_id = $1", uuid.UUID(case["id"])) == 0
    assert objects(settings, case["id"]) == []


async def test_a_closed_case_takes_no_document_and_its_bytes_are_removed(
    http: httpx.AsyncClient,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
    settings: Settings,
    pool: asyncpg.Pool[asyncpg.Record],
) -> None:
    headers = bearer(token_for(await make_office()))
    case = await open_case(http, headers, await make_procedure())
    await pool.execute("UPDATE cases SET status = 'closed' WHERE id = $1", uuid.UUID(case["id"]))
    resp = await http.post(f"/api/cases/{case['id']}/documents", files={"file": ("a.pdf", PDF, "application/pdf")},
                           headers=headers)  # fmt: skip
    assert resp.status_code == 409
    assert objects(settings, case["id"]) == []  # stored first, then deleted when the case refused it
    assert await pool.fetchval("SELECT count(*) FROM documents WHERE case_id = $1", uuid.UUID(case["id"])) == 0


def test_file_names_are_made_safe() -> None:
    assert safe_filename("C:\\Users\\maria\\Βεβαίωση.pdf") == "Βεβαίωση.pdf"
    assert safe_filename("../../../etc/passwd") == "passwd"
    assert safe_filename('a<b>:c"|?*.pdf') == "a_b_c_.pdf"
    assert safe_filename("...") == "document"
    assert safe_filename(None) == "document"
    assert len(safe_filename("α" * 500 + ".pdf")) == 150
    assert safe_filename("Ε\u0301κδοση.pdf") == "Έκδοση.pdf"  # one composed letter, as the file system shows it
    assert safe_filename("invoice\u202efdp.exe") == "invoice_fdp.exe"  # no right-to-left override: not "exe.pdf"
    assert safe_filename("a\u200b\u2066b\u2028c\x00.pdf") == "a_b_c_.pdf"  # zero-width, isolate, separator, NUL


async def test_a_retried_upload_returns_the_same_document_and_stores_nothing_twice(
    http: httpx.AsyncClient,
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    token_for: Callable[..., str],
    settings: Settings,
    pool: asyncpg.Pool[asyncpg.Record],
) -> None:
    plain = bearer(token_for(await make_office()))
    case = await open_case(http, plain, await make_procedure())
    headers = plain | {"Idempotency-Key": f"upload-{uuid.uuid4()}"}
    url = f"/api/cases/{case['id']}/documents"
    answers = [await http.post(url, files={"file": ("δήλωση.pdf", PDF, "application/pdf")}, headers=headers)
               for _ in range(3)]  # fmt: skip
    assert [a.status_code for a in answers] == [201, 201, 201]
    assert [a.headers.get("idempotent-replayed") for a in answers] == [None, "true", "true"]
    assert len({a.text for a in answers}) == 1
    doc = answers[0].json()
    assert objects(settings, case["id"]) == [f"cases/{case['id']}/documents/{doc['id']}"]
    assert await pool.fetchval("SELECT count(*) FROM documents WHERE case_id = $1", uuid.UUID(case["id"])) == 1
    # the key once more, with another file: refused before a byte is stored
    other = await http.post(url, files={"file": ("άλλο.pdf", PDF + b"\n", "application/pdf")}, headers=headers)
    assert other.status_code == 422, other.text
    assert other.json()["errors"][0]["path"] == "/idempotency-key"
    assert objects(settings, case["id"]) == [f"cases/{case['id']}/documents/{doc['id']}"]

"""A local double of ΚΣΗΔΕ (the central electronic document exchange between authorities), speaking the API the
protocol sheet describes (../shared/protocols/kshde.md): per-SectorCode authentication with expiring tokens, the
org chart, documents sent as multipart (content + JSON metadata) and kept pending until `IsFinal`, new versions,
attachments, the inbox read page by page, each document's content and its attachments' contents, and receipts
idempotent per (protocol number, version). Errors carry `{SideTrackingId, HttpStatus, ErrorMessage}` as the
service's do; faults on demand (doubles/faults.py)."""

from __future__ import annotations

import argparse
import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from doubles.faults import FaultPlan, admin_routes

TOKEN_TTL = timedelta(minutes=30)
MAX_BYTES = 20 * 1024 * 1024
CLIENTS = {"KEP-ATH": ("kep-client", "kep-secret"), "DHM-ATH": ("dhm-client", "dhm-secret"),
           "MIN-INT": ("min-client", "min-secret")}  # fmt: skip  # SectorCode -> (ClientID, ClientSecret)


def org_chart() -> dict[str, Any]:
    def node(code: str, name: str, english: str, sddd: bool, children: tuple[dict[str, Any], ...] = (),
             departments: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:  # fmt: skip
        return {"Code": code, "Name": name, "NameEnglish": english, "IsActive": True, "IsSDDDNode": sddd,
                "Departments": list(departments), "ChildNodes": list(children)}  # fmt: skip

    return {
        "Version": 1,
        "RootNode": node("GR", "Ελληνικό Δημόσιο", "Hellenic Public Administration", False, (
            node("MIN-INT", "Υπουργείο Εσωτερικών", "Ministry of the Interior", True,
                 departments=({"Code": "MIN-INT-DDA", "Name": "Διεύθυνση Δημοτικής Κατάστασης"},)),
            node("DHM-ATH", "Δήμος Αθηναίων", "Municipality of Athens", True,
                 departments=({"Code": "DHM-ATH-LX", "Name": "Ληξιαρχείο"},)),
            node("KEP-ATH", "ΚΕΠ Δήμου Αθηναίων", "Athens Citizen Service Centre", True),
        )),
    }  # fmt: skip


def _nodes(root: dict[str, Any]) -> list[dict[str, Any]]:
    return [root, *(n for child in root["ChildNodes"] for n in _nodes(child))]


@dataclass
class Document:
    protocol_no: str
    sender: str
    metadata: dict[str, Any]
    content: bytes
    version: int = 1
    final: bool = False
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)  # (id, file name, bytes)
    protocol_date: datetime = field(default_factory=lambda: datetime.now(UTC))

    def record(self) -> dict[str, Any]:
        m = self.metadata
        return {"ProtocolNo": self.protocol_no, "ProtocolDate": self.protocol_date.strftime("%Y-%m-%d %H:%M:%S"),
                "VersionNumber": self.version, "Subject": m.get("Subject"), "FileName": m.get("FileName"),
                "Classification": m.get("Classification", 0), "Category": m.get("Category", 5),
                "DueDate": m.get("DueDate"), "Comments": m.get("Comments"), "AuthorName": m.get("AuthorName"),
                "DocumentStatus": 2 if self.final else 1,
                "RelatedDocumentProtocolNo": m.get("RelatedDocumentProtocolNo"),
                "RelatedDocumentType": m.get("RelatedDocumentType"), "SenderSectorCode": self.sender,
                "SenderSectorDepartment": m.get("SenderSectorDepartment"),
                "RecipientSectorCodes": m.get("RecipientSectorCodes", []),
                "RecipientSectorDepartments": m.get("RecipientSectorDepartments", []),
                "CCSectorCodes": m.get("CCSectorCodes", []),
                "CCSectorDepartments": m.get("CCSectorDepartments", [])}  # fmt: skip


@dataclass
class KshdeState:
    tokens: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # token -> (SectorCode, expires)
    documents: dict[str, Document] = field(default_factory=dict)
    receipts: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    counter: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class KshdeApp(Starlette):
    state_: KshdeState
    faults: FaultPlan


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"SideTrackingId": str(uuid.uuid4()), "HttpStatus": status, "ErrorMessage": message},
                        status_code=status)  # fmt: skip


def create_app(latency_s: float = 0.0) -> KshdeApp:
    app: KshdeApp
    chart = org_chart()
    sddd = {n["Code"] for n in _nodes(chart["RootNode"]) if n["IsSDDDNode"]}

    async def before(request: Request, operation: str) -> tuple[Response | None, str]:
        fault = app.faults.take(operation)
        await app.faults.before(fault)
        if fault is not None and fault.kind == "status":
            return _error(fault.status, "Injected fault"), ""
        if fault is not None and fault.kind == "malformed":
            return Response("{not json", media_type="application/json"), ""
        if operation == "authenticate":
            return None, ""
        auth = request.headers.get("authorization", "")
        with app.state_.lock:
            found = app.state_.tokens.get(auth.removeprefix("Bearer "))
        if (fault is not None and fault.kind == "auth") or found is None or found[1] < datetime.now(UTC):
            return _error(401, "Invalid or expired access token"), ""
        return None, found[0]

    async def authenticate(request: Request) -> Response:
        refused, _ = await before(request, "authenticate")
        if refused is not None:
            return refused
        body = await request.json()
        sector = str(body.get("SectorCode", ""))
        if CLIENTS.get(sector) != (body.get("ClientID"), body.get("ClientSecret")):
            return _error(401, "Invalid client credentials for this SectorCode")
        token, expires = uuid.uuid4().hex, datetime.now(UTC) + TOKEN_TTL
        with app.state_.lock:
            app.state_.tokens[token] = (sector, expires)
        app.faults.log("authenticate", sector)
        return JSONResponse({"AccessToken": token, "TokenType": "Bearer", "ExpiresOn": expires.isoformat()})

    async def orgchart(request: Request) -> Response:
        refused, _ = await before(request, "orgchart")
        return refused or JSONResponse(chart)

    async def multipart(request: Request) -> tuple[dict[str, Any], bytes] | Response:
        form = await request.form(max_files=1, max_fields=1, max_part_size=MAX_BYTES + 1)
        content, raw = form.get("DocumentContent"), form.get("DocumentMetadata")
        if not isinstance(content, UploadFile) or not isinstance(raw, str):
            return _error(400, "DocumentContent and DocumentMetadata are required")
        data = await content.read()
        if len(data) > MAX_BYTES:
            return _error(413, f"DocumentContent over {MAX_BYTES} bytes")
        try:
            return json.loads(raw), data
        except ValueError:
            return _error(400, "DocumentMetadata is not JSON")

    async def send(request: Request) -> Response:
        refused, sector = await before(request, "send")
        if refused is not None:
            return refused
        parsed = await multipart(request)
        if isinstance(parsed, Response):
            return parsed
        metadata, content = parsed
        recipients = list(metadata.get("RecipientSectorCodes") or [])
        recipients += [d.get("SectorCode") for d in metadata.get("RecipientSectorDepartments") or []]
        unknown = [r for r in recipients if r not in sddd]
        if not recipients or unknown:
            return _error(400, f"Unknown recipient SectorCode(s): {unknown or 'none given'}")
        if metadata.get("OrgChartVersion") not in (None, chart["Version"]):
            return _error(400, "OrgChartVersion is not the current one")
        with app.state_.lock:
            app.state_.counter += 1
            number = f"{datetime.now(UTC).year}/{app.state_.counter:06d}"
            document = Document(number, sector, metadata, content, final=bool(metadata.get("IsFinal", True)))
            app.state_.documents[number] = document
        app.faults.log("send", metadata.get("LocalSectorProtocolNo"), protocol_no=number, sender=sector)
        return JSONResponse({"ReceiptId": str(uuid.uuid4()), "DocumentProtocolNo": number,
                             "ReceiptDate": document.protocol_date.strftime("%Y-%m-%d %H:%M:%S"),
                             "VersionNumber": 1})  # fmt: skip

    async def new_version(request: Request) -> Response:
        refused, sector = await before(request, "version")
        if refused is not None:
            return refused
        parsed = await multipart(request)
        if isinstance(parsed, Response):
            return parsed
        with app.state_.lock:
            document = app.state_.documents.get(request.path_params["number"])
            if document is None or document.sender != sector:
                return _error(404, "No such document of this sector")
            document.metadata, document.content = {**document.metadata, **parsed[0]}, parsed[1]
            document.version += 1
            document.final = document.final or bool(parsed[0].get("IsFinal"))
        app.faults.log("version", document.protocol_no, version=document.version, final=document.final)
        return JSONResponse({"ReceiptId": str(uuid.uuid4()), "DocumentProtocolNo": document.protocol_no,
                             "ReceiptDate": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
                             "VersionNumber": document.version})  # fmt: skip

    async def attach(request: Request) -> Response:
        refused, sector = await before(request, "attach")
        if refused is not None:
            return refused
        parsed = await multipart(request)
        if isinstance(parsed, Response):
            return parsed
        metadata, content = parsed
        with app.state_.lock:
            document = app.state_.documents.get(request.path_params["number"])
            if document is None or document.sender != sector:
                return _error(404, "No such document of this sector")
            attachment_id = str(uuid.uuid4())
            document.attachments.append((attachment_id, str(metadata.get("FileName")), content))
            document.final = document.final or bool(metadata.get("IsFinal"))
        app.faults.log("attach", f"{document.protocol_no}/{metadata.get('FileName')}", final=document.final)
        return JSONResponse({"AttachmentId": attachment_id})

    async def attachments(request: Request) -> Response:
        refused, sector = await before(request, "attachments")
        if refused is not None:
            return refused
        with app.state_.lock:
            document = app.state_.documents.get(request.path_params["number"])
            if document is None or not (document.sender == sector or _visible(document, sector)):
                return _error(404, "No such document")
            listed = [{"AttachmentId": a, "FileName": name} for a, name, _ in document.attachments]
        return JSONResponse({"results": listed})

    def _visible(document: Document, sector: str) -> bool:
        codes = list(document.metadata.get("RecipientSectorCodes") or [])
        codes += [d.get("SectorCode") for d in document.metadata.get("RecipientSectorDepartments") or []]
        codes += list(document.metadata.get("CCSectorCodes") or [])
        return document.final and sector in codes

    async def inbox(request: Request) -> Response:
        refused, sector = await before(request, "inbox")
        if refused is not None:
            return refused
        page = int(request.query_params.get("page", "1"))
        with app.state_.lock:
            mine = [d.record() for d in app.state_.documents.values() if _visible(d, sector)]
        return JSONResponse({"results": mine[(page - 1) * 20 : page * 20]})

    async def content(request: Request) -> Response:
        refused, sector = await before(request, "content")
        if refused is not None:
            return refused
        with app.state_.lock:
            document = app.state_.documents.get(request.path_params["number"])
        if document is None or not (_visible(document, sector) or document.sender == sector):
            return _error(404, "No such document")
        return Response(document.content, media_type="application/pdf")

    async def attachment_content(request: Request) -> Response:
        refused, sector = await before(request, "attachment_content")
        if refused is not None:
            return refused
        with app.state_.lock:
            document = app.state_.documents.get(request.path_params["number"])
        if document is None or not (_visible(document, sector) or document.sender == sector):
            return _error(404, "No such document")
        found = next((data for a, _, data in document.attachments if a == request.path_params["attachment_id"]), None)
        if found is None:
            return _error(404, "No such attachment")
        return Response(found, media_type="application/pdf")

    async def receipt(request: Request) -> Response:
        refused, sector = await before(request, "receipt")
        if refused is not None:
            return refused
        body = await request.json()
        number, version = str(body.get("DocumentProtocolNo")), int(body.get("VersionNumber", 1))
        with app.state_.lock:
            document = app.state_.documents.get(number)
            if document is None or not _visible(document, sector):
                return _error(404, "No such document")
            known = app.state_.receipts.get((number, version))
            if known is None:
                known = {"ReceiptId": str(uuid.uuid4()), "LocalReceiptId": body.get("LocalReceiptId")}
                app.state_.receipts[(number, version)] = known
                app.faults.log("receipt", f"{number}/{version}", local=body.get("LocalReceiptId"))
        return JSONResponse(known)

    app = KshdeApp(
        routes=[
            Route("/api/v1/authenticate/", authenticate, methods=["POST"]),
            Route("/api/v1/orgchart", orgchart),
            Route("/api/v1/documents", send, methods=["POST"]),
            Route("/api/v1/documents/", inbox),
            Route("/api/v1/documents/{number:path}/attachments", attach, methods=["POST"]),
            Route("/api/v1/documents/{number:path}/attachments", attachments, methods=["GET"]),
            # before the document's own content: `{number:path}` would swallow "…/attachments/{id}"
            Route("/api/v1/documents/{number:path}/attachments/{attachment_id}/content", attachment_content),
            Route("/api/v1/documents/{number:path}/content", content),
            Route("/api/v1/documents/{number:path}", new_version, methods=["PUT"]),
            Route("/api/v1/receipts", receipt, methods=["POST"]),
        ]
    )
    app.state_ = KshdeState()
    app.faults = FaultPlan(latency_s)
    app.router.routes.extend(admin_routes(app.faults))
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=18093)
    args = parser.parse_args()
    uvicorn.run(create_app(), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()

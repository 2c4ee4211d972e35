"""A local double of the gov.gr mailbox (Θυρίδα) for organisations, speaking the port the protocol sheet recommends
(../shared/protocols/govgr-mailbox.md: no public wire specification exists, so this HTTP shape is ours and the
adapter keeps it behind a setting):

- `Authorization: Bearer <organisation token>` on every call (401 otherwise); `GET /v1/health`;
- `POST /v1/postings` (multipart: `document` a PDF, `metadata` JSON {afm, title, doc_type, sender_org, reference},
  header `Idempotency-Key`): 201 {posting_id, posted_at}; the same key and body again: 200, the same posting, never
  a second one; the same key with another body: 409. 422 `invalid_afm` / `recipient_not_registered` (not in ΕΜΕπ),
  413 over 10 MB, 415 not a PDF;
- `GET /v1/postings/{id}`: posted → notified (SMS, e-mail, Wallet) → opened (by the citizen) or deemed_served (ten
  Greek working days after the posting: actors/delivery/calendar.py);
- `GET /v1/inbox?after=<id>`: the citizens' replies to the organisation, oldest first;
- test control under `/_admin/`: the double's clock, a citizen opening a posting or replying, faults
  (doubles/faults.py).
"""

from __future__ import annotations

import argparse
import hashlib
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

from actors.delivery.calendar import deemed_served_at
from doubles.faults import FaultPlan, admin_routes
from doubles.ked.server import Registry, afm_is_valid

TOKEN = "mailbox-org-token"  # noqa: S105 - the double's own, local credential
MAX_BYTES = 10 * 1024 * 1024
NOTIFY_AFTER = timedelta(seconds=1)  # the notification goes out right after the posting


@dataclass
class Posting:
    posting_id: str
    afm: str
    title: str
    reference: str
    sha256: str
    posted_at: datetime
    opened_at: datetime | None = None

    def view(self, now: datetime) -> dict[str, Any]:
        deadline = deemed_served_at(self.posted_at)
        notified = self.posted_at + NOTIFY_AFTER
        if self.opened_at is not None:
            status = "opened"
        elif now >= deadline:
            status = "deemed_served"
        elif now >= notified:
            status = "notified"
        else:
            status = "posted"
        return {
            "posting_id": self.posting_id,
            "status": status,
            "posted_at": self.posted_at.isoformat(),
            "notified_at": notified.isoformat() if now >= notified else None,
            "opened_at": self.opened_at.isoformat() if self.opened_at else None,
            "deemed_served_at": deadline.isoformat() if status == "deemed_served" else None,
        }


@dataclass
class MailboxState:
    registry: Registry
    postings: dict[str, Posting] = field(default_factory=dict)
    by_key: dict[str, tuple[str, str]] = field(default_factory=dict)  # idempotency key -> (request hash, posting)
    replies: list[dict[str, Any]] = field(default_factory=list)
    clock: datetime | None = None  # None: the real time
    lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> datetime:
        return self.clock or datetime.now(UTC)


class MailboxApp(Starlette):
    state_: MailboxState
    faults: FaultPlan


def _error(status: int, error: str, detail: str = "") -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status)


def create_app(registry: Registry | None = None, latency_s: float = 0.0) -> MailboxApp:
    app: MailboxApp

    async def guard(request: Request, operation: str) -> Response | None:
        fault = app.faults.take(operation)
        await app.faults.before(fault)
        if fault is not None and fault.kind == "status":
            return _error(fault.status, "unavailable")
        if fault is not None and fault.kind == "malformed":
            return Response("{not json", media_type="application/json")
        if (fault is not None and fault.kind == "auth") or request.headers.get("authorization") != f"Bearer {TOKEN}":
            return _error(401, "invalid_token")
        return None

    async def health(request: Request) -> Response:
        return await guard(request, "health") or JSONResponse({"ok": True})

    async def post(request: Request) -> Response:
        if (refused := await guard(request, "post")) is not None:
            return refused
        key = request.headers.get("idempotency-key")
        if not key:
            return _error(400, "idempotency_key_required")
        form = await request.form(max_files=1, max_fields=1, max_part_size=MAX_BYTES + 1)
        document, raw = form.get("document"), form.get("metadata")
        if not isinstance(document, UploadFile) or not isinstance(raw, str):
            return _error(400, "document_and_metadata_required")
        pdf = await document.read()
        if len(pdf) > MAX_BYTES:
            return _error(413, "document_too_large", f"at most {MAX_BYTES} bytes")
        if not pdf.startswith(b"%PDF-"):
            return _error(415, "not_a_pdf")
        metadata = json.loads(raw)
        afm = str(metadata.get("afm", ""))
        fingerprint = hashlib.sha256(pdf + raw.encode()).hexdigest()
        with app.state_.lock:
            if key in app.state_.by_key:
                seen, posting_id = app.state_.by_key[key]
                if seen != fingerprint:
                    return _error(409, "idempotency_key_reused", "this key was used for another posting")
                posting = app.state_.postings[posting_id]
                return JSONResponse({"posting_id": posting.posting_id, "posted_at": posting.posted_at.isoformat()})
            if not afm_is_valid(afm):
                return _error(422, "invalid_afm")
            if afm not in app.state_.registry.contacts:
                return _error(422, "recipient_not_registered", "the citizen has no record in ΕΜΕπ")
            posting = Posting(str(uuid.uuid4()), afm, str(metadata.get("title", "")),
                              str(metadata.get("reference", "")), hashlib.sha256(pdf).hexdigest(),
                              app.state_.now())  # fmt: skip
            app.state_.postings[posting.posting_id] = posting
            app.state_.by_key[key] = (fingerprint, posting.posting_id)
        app.faults.log("post", key, afm=afm, posting_id=posting.posting_id, reference=posting.reference)
        return JSONResponse({"posting_id": posting.posting_id, "posted_at": posting.posted_at.isoformat()}, 201)

    async def status(request: Request) -> Response:
        if (refused := await guard(request, "status")) is not None:
            return refused
        with app.state_.lock:
            posting = app.state_.postings.get(request.path_params["posting_id"])
            if posting is None:
                return _error(404, "posting_not_found")
            return JSONResponse(posting.view(app.state_.now()))

    async def inbox(request: Request) -> Response:
        if (refused := await guard(request, "inbox")) is not None:
            return refused
        after = request.query_params.get("after")
        with app.state_.lock:
            replies = app.state_.replies
            start = next((i + 1 for i, r in enumerate(replies) if r["id"] == after), 0) if after else 0
            return JSONResponse({"results": replies[start : start + 100]})

    async def set_clock(request: Request) -> Response:
        body = await request.json()
        app.state_.clock = datetime.fromisoformat(body["now"]) if body.get("now") else None
        return JSONResponse({"ok": True})

    async def open_posting(request: Request) -> Response:
        with app.state_.lock:
            posting = app.state_.postings[request.path_params["posting_id"]]
            posting.opened_at = app.state_.now()
        return JSONResponse({"ok": True})

    async def reply(request: Request) -> Response:
        body = await request.json()
        with app.state_.lock:
            message = {"id": str(uuid.uuid4()), "afm": body["afm"], "reference": body["reference"],
                       "text": body["text"], "received_at": app.state_.now().isoformat()}  # fmt: skip
            app.state_.replies.append(message)
        return JSONResponse(message, status_code=201)

    app = MailboxApp(
        routes=[
            Route("/v1/health", health),
            Route("/v1/postings", post, methods=["POST"]),
            Route("/v1/postings/{posting_id}", status),
            Route("/v1/inbox", inbox),
            Route("/_admin/clock", set_clock, methods=["PUT"]),
            Route("/_admin/postings/{posting_id}/open", open_posting, methods=["POST"]),
            Route("/_admin/replies", reply, methods=["POST"]),
        ]
    )
    app.state_ = MailboxState(registry or Registry.generate())
    app.faults = FaultPlan(latency_s)
    app.router.routes.extend(admin_routes(app.faults))
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=18092)
    parser.add_argument("--seed", type=int, default=7)  # the same seed as the ΚΕΔ double: the same ΕΜΕπ
    args = parser.parse_args()
    uvicorn.run(create_app(Registry.generate(args.seed)), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()

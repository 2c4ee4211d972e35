"""The gov.gr mailbox (Θυρίδα) for organisations, through the port the protocol sheet recommends
(../shared/protocols/govgr-mailbox.md): post a document to a citizen by ΑΦΜ, follow its status until it is served
(opened, or deemed served ten Greek working days after the posting), and read the citizens' replies.

No public specification exists: the wire shape is the one of `doubles/mailbox` and the adapter stays off unless
`KEP_MAILBOX_ENABLED` is set. Every posting carries an idempotency key, so a posting retried after a timeout, a
crash or a redelivery is one posting on the remote side.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field, SecretStr, TypeAdapter, ValidationError

from actors.delivery.adapters import (
    AdapterOptions,
    CallPolicy,
    ConfigReport,
    RemoteRefused,
    RemoteUnavailable,
    register,
)
from messages.citizen import Afm
from messages.errors import InvalidInput

Status = Literal["posted", "notified", "opened", "deemed_served"]
SERVED: frozenset[str] = frozenset({"opened", "deemed_served"})


class NotRegistered(RemoteRefused):
    """The citizen has no record in ΕΜΕπ: no mailbox to post to (the office serves the document in person)."""

    title = "Not registered in ΕΜΕπ"


class MailboxOptions(AdapterOptions):
    url: str = Field(pattern=r"^https?://")
    token: SecretStr
    sender_org: str = Field(min_length=1, max_length=200)
    max_bytes: int = Field(default=10 * 1024 * 1024, ge=1)  # the mailbox's own limit, checked before sending


@dataclass(frozen=True)
class PostingReceipt:
    posting_id: str
    posted_at: datetime


@dataclass(frozen=True)
class PostingStatus:
    posting_id: str
    status: Status
    posted_at: datetime
    notified_at: datetime | None
    opened_at: datetime | None
    deemed_served_at: datetime | None

    @property
    def served(self) -> bool:
        return self.status in SERVED


@dataclass(frozen=True)
class Reply:
    id: str
    afm: str
    reference: str
    text: str
    received_at: datetime


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@register
class GovGrMailbox:
    name: ClassVar[str] = "govgr-mailbox"

    def __init__(self, options: MailboxOptions) -> None:
        self.options = options
        self.policy = CallPolicy(self.name, options)
        self._http = httpx.AsyncClient(
            base_url=options.url.rstrip("/"),
            headers={"Authorization": f"Bearer {options.token.get_secret_value()}"},
            timeout=httpx.Timeout(options.timeout_s),
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def post_document(
        self, *, afm: str, pdf: bytes, title: str, doc_type: str, reference: str, idempotency_key: str
    ) -> PostingReceipt:
        """One posting per `idempotency_key`, however often it is asked. NotRegistered when the citizen has no
        mailbox; RemoteRefused for what the mailbox will never take (over its size, not a PDF, credentials)."""
        try:
            afm = str(TypeAdapter(Afm).validate_python(afm))
        except ValidationError as exc:
            raise InvalidInput.at("/afm", exc.errors()[0]["msg"], "afm") from None
        if len(pdf) > self.options.max_bytes:
            raise InvalidInput.at("/document", f"at most {self.options.max_bytes} bytes in the mailbox", "size")
        metadata = {"afm": afm, "title": title, "doc_type": doc_type, "sender_org": self.options.sender_org,
                    "reference": reference}  # fmt: skip

        async def post() -> PostingReceipt:
            response = await self._http.post(
                "/v1/postings",
                files={"document": (f"{reference}.pdf", pdf, "application/pdf")},
                data={"metadata": json.dumps(metadata, ensure_ascii=False)},
                headers={"Idempotency-Key": idempotency_key},
            )
            body = _json(response)
            return PostingReceipt(body["posting_id"], datetime.fromisoformat(body["posted_at"]))

        return await self.policy.call("post", post)

    async def status(self, posting_id: str) -> PostingStatus:
        async def get() -> PostingStatus:
            body = _json(await self._http.get(f"/v1/postings/{posting_id}"))
            return PostingStatus(body["posting_id"], body["status"], datetime.fromisoformat(body["posted_at"]),
                                 _when(body.get("notified_at")), _when(body.get("opened_at")),
                                 _when(body.get("deemed_served_at")))  # fmt: skip

        return await self.policy.call("status", get)

    async def replies(self, after: str | None = None) -> list[Reply]:
        """The citizens' replies to the organisation after the one `after`, oldest first (a page)."""

        async def get() -> list[Reply]:
            body = _json(await self._http.get("/v1/inbox", params={"after": after} if after else None))
            return [Reply(r["id"], r["afm"], r["reference"], r["text"], datetime.fromisoformat(r["received_at"]))
                    for r in body["results"]]  # fmt: skip

        return await self.policy.call("inbox", get)

    async def check_config(self) -> ConfigReport:
        checks: dict[str, str | None] = {"settings": None, "connectivity": None, "credentials": None}
        try:
            response = await self._http.get("/v1/health")
        except httpx.HTTPError as exc:
            checks["connectivity"] = f"{self.options.url} cannot be reached: {type(exc).__name__}"
            return ConfigReport(self.name, checks)
        if response.status_code in (401, 403):
            checks["credentials"] = "the mailbox refused the organisation's token"
        elif response.status_code != 200:
            checks["connectivity"] = f"the mailbox answered HTTP {response.status_code}"
        return ConfigReport(self.name, checks)


def _json(response: httpx.Response) -> Any:
    """The body of a good answer; each refusal typed, each outage retryable."""
    status = response.status_code
    if status >= 500 or status in (408, 429):
        raise RemoteUnavailable(f"the mailbox answered HTTP {status}")
    try:
        body = response.json()
    except ValueError:
        raise RemoteUnavailable(f"the mailbox's answer (HTTP {status}) could not be read") from None
    if status < 300:
        return body
    error = body.get("error") if isinstance(body, dict) else None
    if error == "recipient_not_registered":
        raise NotRegistered("the citizen has no gov.gr mailbox (not registered in ΕΜΕπ)")
    if status in (401, 403):
        raise RemoteRefused("the mailbox refused the organisation's token (check_config tells more)")
    raise RemoteRefused(f"the mailbox refused the request: HTTP {status} {error or ''}".strip())

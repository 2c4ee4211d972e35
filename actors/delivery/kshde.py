"""ΚΣΗΔΕ, the central electronic document exchange between authorities (../shared/protocols/kshde.md): a token per
SectorCode (cached until it expires, fetched again once on a 401), the org chart to pick recipients from, documents
sent as multipart with their metadata and attachments (`IsFinal` on the last), new versions, the inbox read page
by page with each document's content, and receipts with the local protocol number."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
from pydantic import Field, SecretStr

from actors.delivery.adapters import (
    AdapterOptions,
    CallPolicy,
    ConfigReport,
    RemoteRefused,
    RemoteUnavailable,
    register,
)
from messages.errors import InvalidInput

EARLY = timedelta(seconds=60)  # a token this close to its expiry is renewed before it is used
OTHER = 5  # Category: Άλλο


class KshdeOptions(AdapterOptions):
    url: str = Field(pattern=r"^https?://")  # .../api/v1
    sector_code: str = Field(min_length=1, max_length=50)
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    department: str | None = None
    max_bytes: int = Field(default=20 * 1024 * 1024, ge=1)


@dataclass(frozen=True)
class OrgUnit:
    code: str
    name: str
    name_en: str | None
    sddd: bool  # a node that can receive documents
    active: bool
    parent: str | None
    departments: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Sent:
    protocol_no: str
    receipt_id: str
    version: int
    receipt_date: str


@dataclass(frozen=True)
class Content:
    """A file as ΚΣΗΔΕ serves it: the bytes and the media type its answer names."""

    data: bytes
    content_type: str


@dataclass(frozen=True)
class Incoming:
    protocol_no: str
    version: int
    subject: str | None
    sender: str
    related_protocol_no: str | None
    file_name: str | None
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)


@register
class Kshde:
    name: ClassVar[str] = "kshde"

    def __init__(self, options: KshdeOptions) -> None:
        self.options = options
        self.policy = CallPolicy(self.name, options)
        self._http = httpx.AsyncClient(base_url=options.url.rstrip("/"), timeout=httpx.Timeout(options.timeout_s))
        self._token: tuple[str, datetime] | None = None
        self._token_lock = asyncio.Lock()
        self.authentications = 0  # how many tokens this instance asked for (tests, metrics)

    async def close(self) -> None:
        await self._http.aclose()

    # -- the token --------------------------------------------------------------------------------------------

    async def _bearer(self, renew: bool = False) -> str:
        async with self._token_lock:
            now = datetime.now(UTC)
            if renew or self._token is None or self._token[1] - EARLY <= now:
                response = await self._http.post("/authenticate/", json={
                    "SectorCode": self.options.sector_code, "ClientID": self.options.client_id,
                    "ClientSecret": self.options.client_secret.get_secret_value()})  # fmt: skip
                body = _body(response)
                self.authentications += 1
                expires = datetime.fromisoformat(str(body["ExpiresOn"]))
                self._token = (str(body["AccessToken"]), expires if expires.tzinfo else expires.replace(tzinfo=UTC))
            return self._token[0]

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """With the sector's token; a 401 (a token the service dropped) fetches a new one and tries once more."""
        response = await self._http.request(method, path, headers={"Authorization": f"Bearer {await self._bearer()}"},
                                            **kwargs)  # fmt: skip
        if response.status_code == 401:
            token = await self._bearer(renew=True)
            response = await self._http.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs)
        return response

    # -- operations -------------------------------------------------------------------------------------------

    async def org_chart(self) -> tuple[int, list[OrgUnit]]:
        """The chart's version (documents name it) and every node, flattened, parents first."""

        async def get() -> tuple[int, list[OrgUnit]]:
            body = _body(await self._request("GET", "/orgchart"))
            units: list[OrgUnit] = []

            def walk(node: dict[str, Any], parent: str | None) -> None:
                departments = tuple((str(d["Code"]), str(d["Name"])) for d in node.get("Departments") or [])
                units.append(OrgUnit(str(node["Code"]), str(node["Name"]), node.get("NameEnglish"),
                                     bool(node.get("IsSDDDNode")), bool(node.get("IsActive", True)), parent,
                                     departments))  # fmt: skip
                for child in node.get("ChildNodes") or []:
                    walk(child, str(node["Code"]))

            walk(body["RootNode"], None)
            return int(body["Version"]), units

        return await self.policy.call("orgchart", get)

    async def send(
        self,
        *,
        subject: str,
        file_name: str,
        pdf: bytes,
        recipients: Sequence[str],
        local_protocol_no: str,
        org_chart_version: int,
        attachments: Sequence[tuple[str, bytes]] = (),
        related_protocol_no: str | None = None,
        category: int = OTHER,
        pending: bool = False,
    ) -> Sent:
        """The document to the recipients' SectorCodes; with attachments, it stays pending on the service until the
        last one (IsFinal) arrives. `pending`: the attachments come later (`complete`), so that the caller can
        record the protocol number before the document can reach anyone."""
        if not recipients:
            raise InvalidInput.at("/recipients", "at least one recipient SectorCode", "missing")
        for part in (pdf, *(content for _, content in attachments)):
            if len(part) > self.options.max_bytes:
                raise InvalidInput.at("/document", f"at most {self.options.max_bytes} bytes in ΚΣΗΔΕ", "size")
        metadata = {
            "OrgChartVersion": org_chart_version, "FileName": file_name, "Subject": subject, "Classification": 0,
            "AuthorName": self.options.sector_code, "Category": category,
            "RelatedDocumentProtocolNo": related_protocol_no, "RelatedDocumentType": 1 if related_protocol_no else None,
            "RecipientSectorCodes": list(recipients), "RecipientSectorDepartments": [],
            "CCSectorCodes": [], "CCSectorDepartments": [], "LocalSectorProtocolNo": local_protocol_no,
            "LocalSectorProtocolDate": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "SenderSectorDepartment": self.options.department, "IsFinal": not (attachments or pending),
        }  # fmt: skip

        async def post() -> Sent:
            response = await self._request("POST", "/documents", files=_multipart(file_name, pdf, metadata))
            body = _body(response)
            if "ReceiptId" not in body:  # the service's own sign of success
                raise RemoteRefused(f"ΚΣΗΔΕ did not accept the document: {body}")
            return Sent(str(body["DocumentProtocolNo"]), str(body["ReceiptId"]), int(body["VersionNumber"]),
                        str(body["ReceiptDate"]))  # fmt: skip

        sent = await self.policy.call("send", post)
        if attachments:
            await self.complete(sent.protocol_no, attachments)
        return sent

    async def attachments(self, protocol_no: str) -> list[tuple[str, str]]:
        """A document's attachments as (AttachmentId, FileName), in ΚΣΗΔΕ's order."""

        async def get() -> list[tuple[str, str]]:
            body = _body(await self._request("GET", f"/documents/{protocol_no}/attachments"))
            return [(str(a["AttachmentId"]), str(a["FileName"])) for a in body["results"]]

        return await self.policy.call("attachments", get)

    async def attachment_names(self, protocol_no: str) -> list[str]:
        return [name for _, name in await self.attachments(protocol_no)]

    async def complete(self, protocol_no: str, attachments: Sequence[tuple[str, bytes]], pdf: bytes = b"") -> None:
        """A pending document completed: each attachment ΚΣΗΔΕ does not list yet, the last one final (a run after a
        failure sends only what is missing). Without attachments, a new version of the document (`pdf`) marked
        final."""
        if not attachments:

            async def finalise() -> None:
                files = _multipart("document.pdf", pdf, {"IsFinal": True, "VersionComments": "τελικό"})
                _body(await self._request("PUT", f"/documents/{protocol_no}", files=files))

            await self.policy.call("version", finalise)
            return
        names = [name for name, _ in attachments]
        if len(set(names)) != len(names):
            raise InvalidInput.at("/attachments", "ΚΣΗΔΕ tells attachments apart by their file names", "duplicate")
        for i, (name, content) in enumerate(attachments):
            final = i == len(attachments) - 1

            async def attach(name: str = name, content: bytes = content, final: bool = final) -> None:
                # asked again inside each try: an attachment whose answer was lost is there already
                if name in await self.attachment_names(protocol_no):
                    return
                files = _multipart(name, content, {"FileName": name, "IsFinal": final})
                _body(await self._request("POST", f"/documents/{protocol_no}/attachments", files=files))

            await self.policy.call("attach", attach)

    async def inbox(self, page: int = 1) -> list[Incoming]:
        """One page of the documents sent to this sector (an empty page ends the reading)."""

        async def get() -> list[Incoming]:
            body = _body(await self._request("GET", "/documents/", params={"page": page}))
            return [Incoming(str(d["ProtocolNo"]), int(d.get("VersionNumber") or 1), d.get("Subject"),
                             str(d.get("SenderSectorCode")), d.get("RelatedDocumentProtocolNo"), d.get("FileName"), d)
                    for d in body["results"]]  # fmt: skip

        return await self.policy.call("inbox", get)

    async def content(self, protocol_no: str) -> bytes:
        return (await self.download(protocol_no)).data

    async def download(self, protocol_no: str, attachment_id: str | None = None) -> Content:
        """A document's content, or one of its attachments', with the media type ΚΣΗΔΕ answered."""
        path = f"/documents/{protocol_no}" + (f"/attachments/{attachment_id}" if attachment_id else "") + "/content"

        async def get() -> Content:
            response = await self._request("GET", path)
            _raise_for(response)
            return Content(response.content, response.headers.get("content-type", "application/octet-stream"))

        return await self.policy.call("content", get)

    async def acknowledge(self, protocol_no: str, version: int, local_receipt_id: str) -> str:
        """The receipt with our protocol number; the service keeps one per (document, version), however often."""

        async def post() -> str:
            body = _body(await self._request("POST", "/receipts", json={
                "ReceiptDate": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"), "DocumentProtocolNo": protocol_no,
                "VersionNumber": version, "LocalReceiptId": local_receipt_id}))  # fmt: skip
            return str(body["ReceiptId"])

        return await self.policy.call("receipt", post)

    async def check_config(self) -> ConfigReport:
        checks: dict[str, str | None] = {"settings": None, "connectivity": None, "credentials": None}
        try:
            await self._bearer(renew=True)
        except httpx.HTTPError as exc:
            checks["connectivity"] = f"{self.options.url} cannot be reached: {type(exc).__name__}"
        except RemoteRefused as exc:
            checks["credentials"] = exc.detail
        except RemoteUnavailable as exc:
            checks["connectivity"] = exc.detail
        return ConfigReport(self.name, checks)


def _multipart(file_name: str, content: bytes, metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "DocumentContent": (file_name, content, "application/pdf"),
        "DocumentMetadata": (None, json.dumps(metadata, ensure_ascii=False), "application/json"),
    }


def _raise_for(response: httpx.Response) -> None:
    status = response.status_code
    if status < 300:
        return
    if status >= 500 or status in (408, 429):
        raise RemoteUnavailable(f"ΚΣΗΔΕ answered HTTP {status}")
    try:
        message = response.json().get("ErrorMessage")
    except ValueError:
        message = None
    if status == 401:
        raise RemoteRefused(f"ΚΣΗΔΕ refused the sector's credentials: {message or 'HTTP 401'}")
    raise RemoteRefused(f"ΚΣΗΔΕ refused the request: HTTP {status} {message or ''}".strip())


def _body(response: httpx.Response) -> Any:
    _raise_for(response)
    try:
        return response.json()
    except ValueError:
        raise RemoteUnavailable(f"ΚΣΗΔΕ's answer (HTTP {response.status_code}) could not be read") from None

"""ΚΕΔ — the GSIS notification-centre lookup (getNncIdentityExt) over SOAP with zeep and a WS-Security
UsernameToken: the citizen's contacts and whether they are registered in ΕΜΕπ (and so reachable through the gov.gr
mailbox), by ΑΦΜ.

Every call carries the KED audit record; its `auditTransactionId` comes from a PostgreSQL sequence, so it increases
across every replica and is never handed out twice, even after a crash (a sequence's value is never rolled back),
and every call is recorded (`ked_audit`: which id asked for which ΑΦΜ, for whom, and what came back).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any, ClassVar

import httpx
from pydantic import Field, SecretStr, TypeAdapter, ValidationError
from zeep import AsyncClient, Settings
from zeep.exceptions import Fault, TransportError
from zeep.proxy import AsyncServiceProxy
from zeep.transports import AsyncTransport
from zeep.wsse.username import UsernameToken

from actors.delivery.adapters import (
    AdapterOptions,
    CallPolicy,
    ConfigReport,
    RemoteRefused,
    RemoteUnavailable,
    TryAgainNow,
    register,
)
from infra.db import Conn
from messages.citizen import Afm
from messages.errors import InvalidInput

BINDING = "{http://gsis.gr/ked/nnc}NncBinding"
NOT_REGISTERED = "NNC_AFM_NOT_FOUND"
INVALID_AFM = "GEN_INVALID_AFM"
STALE_TRANSACTION = "GEN_AUDIT_TRANSACTION_ID_REUSED"
PROBE_AFM = "090000045"  # what check_config looks up: a valid ΑΦΜ; registered or not, an answer proves the rest


class KedOptions(AdapterOptions):
    url: str = Field(pattern=r"^https?://")
    username: str = Field(min_length=1)
    password: SecretStr
    audit_unit: str = Field(min_length=1, max_length=50)  # the organisation's code in the KED audit
    audit_protocol: str = "KEP"
    audit_user_ip: str = "127.0.0.1"


@dataclass(frozen=True)
class Contacts:
    """What ΕΜΕπ holds for an ΑΦΜ; `registered` False: no record (no mailbox delivery, physical service)."""

    afm: str
    registered: bool
    email: str | None = None
    telephone: str | None = None
    mobile: str | None = None
    address: str | None = None
    zip_code: str | None = None
    municipality: str | None = None
    region: str | None = None
    call_sequence_id: int | None = None


class _Transport(AsyncTransport):
    """A 5xx that is no SOAP message (a proxy's error page) is an outage with its status, not a reply to parse (a
    SOAP Fault comes as HTTP 500 with XML, and goes on to zeep)."""

    async def post_xml(self, address: str, envelope: Any, headers: dict[str, str]) -> Any:
        response = await super().post_xml(address, envelope, headers)  # type: ignore[no-untyped-call]
        soap = response.headers.get("content-type", "").startswith(("text/xml", "application/soap+xml"))
        if response.status_code >= 400 and not soap:
            raise TransportError(f"HTTP {response.status_code}", status_code=response.status_code)  # type: ignore[no-untyped-call]
        return response


def _afm(afm: str) -> str:
    try:
        return str(TypeAdapter(Afm).validate_python(afm))
    except ValidationError as exc:
        raise InvalidInput.at("/afm", exc.errors()[0]["msg"], "afm") from None


@register
class KedNnc:
    name: ClassVar[str] = "ked-nnc"

    def __init__(self, options: KedOptions, conn_factory: Any) -> None:
        """`conn_factory()`: an async context manager giving a PostgreSQL connection (a pool's `acquire`)."""
        self.options = options
        self.policy = CallPolicy(self.name, options)
        self._connect = conn_factory
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(options.timeout_s))
        wsdl = str(resources.files("actors.delivery") / "wsdl" / "nnc.wsdl")
        # zeep is untyped: its client and service are Any here
        token = UsernameToken(options.username, options.password.get_secret_value())  # type: ignore[no-untyped-call]
        transport = _Transport(client=self._http)  # type: ignore[no-untyped-call]
        settings = Settings(strict=False, xml_huge_tree=False)
        self._client = AsyncClient(wsdl, wsse=token, transport=transport, settings=settings)  # type: ignore[no-untyped-call]
        # zeep's AsyncClient.create_service gives a synchronous proxy (zeep 4.3): bind the async one by hand
        binding = self._client.wsdl.bindings[BINDING]
        self._service: Any = AsyncServiceProxy(self._client, binding, address=options.url)  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        await self._http.aclose()

    async def lookup(self, afm: str, *, on_behalf_of: str) -> Contacts:
        """The citizen's contacts; RemoteRefused for an ΑΦΜ or credentials the service refuses, RemoteUnavailable
        (retryable) when it cannot answer now."""
        afm = _afm(afm)  # InvalidInput before any call
        return await self.policy.call("getNncIdentityExt", lambda: self._once(afm, on_behalf_of))

    async def _once(self, afm: str, on_behalf_of: str) -> Contacts:
        transaction = await self._next_transaction(afm, on_behalf_of)
        audit = {
            "auditUnit": self.options.audit_unit,
            "auditTransactionId": str(transaction),
            "auditProtocol": f"{self.options.audit_protocol}-{transaction}",
            "auditTransactionDate": datetime.now(UTC),
            "auditUserId": on_behalf_of,
            "auditUserIp": self.options.audit_user_ip,
        }
        try:
            reply = await self._service.getNncIdentityExt(auditRecord=audit, getNncIdentityExtInputRecord={"afm": afm})
        except Fault as exc:
            await self._outcome(transaction, f"fault: {exc.message}")
            if "FailedAuthentication" in str(exc.code):
                raise RemoteRefused("ΚΕΔ refused the credentials (check_config tells more)") from None
            raise RemoteRefused(f"ΚΕΔ refused the request: {exc.message}") from None
        except TransportError as exc:
            await self._outcome(transaction, f"transport: HTTP {exc.status_code}")
            if exc.status_code >= 500 or exc.status_code in (408, 429):
                raise RemoteUnavailable(f"ΚΕΔ answered HTTP {exc.status_code}") from None
            raise RemoteRefused(f"ΚΕΔ answered HTTP {exc.status_code}") from None
        except Exception as exc:  # a reply zeep cannot read (malformed XML): the remote side's fault, try again
            if isinstance(exc, httpx.HTTPError):
                raise
            await self._outcome(transaction, f"unreadable: {type(exc).__name__}")
            raise RemoteUnavailable(f"ΚΕΔ's reply could not be read: {type(exc).__name__}") from None
        return await self._contacts(afm, transaction, reply)

    async def _contacts(self, afm: str, transaction: int, reply: Any) -> Contacts:
        error = reply.errorRecord
        code = error.errorCode if error is not None else None
        await self._outcome(transaction, code or "ok", reply.callSequenceId)
        if code == NOT_REGISTERED:
            return Contacts(afm=afm, registered=False, call_sequence_id=reply.callSequenceId)
        if code == STALE_TRANSACTION:  # our sequence handed out an id again (a restored database): the next id
            raise TryAgainNow(f"ΚΕΔ refused audit transaction {transaction} as already used")
        if code is not None:
            raise RemoteRefused(f"ΚΕΔ: {code}: {error.errorDescr}")
        out = reply.getNncIdentityExtOutputRecord
        street = " ".join(p for p in (out.addressStreet, out.addressNumber) if p)
        return Contacts(
            afm=afm,
            registered=True,
            email=out.email,
            telephone=out.telephone,
            mobile=out.mobile,
            address=street or None,
            zip_code=out.addressZipCode,
            municipality=out.municipality,
            region=out.region,
            call_sequence_id=reply.callSequenceId,
        )

    async def _next_transaction(self, afm: str, on_behalf_of: str) -> int:
        async with self._connect() as conn:
            transaction: int = await conn.fetchval(
                """INSERT INTO ked_audit (transaction_id, audit_unit, afm_sha256, on_behalf_of)
                   VALUES (nextval('ked_audit_transaction_seq'), $1, $2, $3) RETURNING transaction_id""",
                self.options.audit_unit,
                hashlib.sha256(afm.encode()).hexdigest(),
                on_behalf_of,
            )
        return transaction

    async def _outcome(self, transaction: int, outcome: str, sequence: int | None = None) -> None:
        async with self._connect() as conn:
            await _record(conn, transaction, outcome, sequence)

    async def check_config(self) -> ConfigReport:
        """Settings, connectivity and credentials, each by name: what an administrator must fix."""
        checks: dict[str, str | None] = {"settings": None, "connectivity": None, "credentials": None}
        try:
            response = await self._http.get(self.options.url, params={"wsdl": ""})
            if response.status_code >= 400:
                checks["connectivity"] = f"{self.options.url}?wsdl answered HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            checks["connectivity"] = f"{self.options.url} cannot be reached: {type(exc).__name__}"
        if checks["connectivity"] is None:
            try:
                await self._once(PROBE_AFM, "check_config")
            except RemoteRefused as exc:
                checks["credentials"] = exc.detail
            except RemoteUnavailable as exc:
                checks["connectivity"] = exc.detail
        return ConfigReport(self.name, checks)


async def _record(conn: Conn, transaction: int, outcome: str, sequence: int | None) -> None:
    await conn.execute(
        "UPDATE ked_audit SET outcome = $2, call_sequence_id = $3, answered_at = now() WHERE transaction_id = $1",
        transaction,
        outcome[:200],
        sequence,
    )

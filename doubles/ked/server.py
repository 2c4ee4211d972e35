"""A local SOAP server that speaks the ΚΕΔ notification-centre lookup (getNncIdentityExt) as the protocol sheet
describes it (../shared/protocols/ked-nnc.md), with its own WSDL (actors/delivery/wsdl/nnc.wsdl, served at `?wsdl`
with this server's address):

- WS-Security UsernameToken (PasswordText) checked: a missing or wrong one is a SOAP Fault (wsse:FailedAuthentication);
- every auditRecord field required (a SOAP Fault names the missing one), and an auditTransactionId must be greater
  than every one its auditUnit used before (an errorRecord otherwise: the reason the client persists them);
- the citizen's contacts from a synthetic ΕΜΕπ (valid ΑΦΜs generated from a seed); an ΑΦΜ not in it, or with a bad
  check digit, an errorRecord with its code; a fresh callSequenceId per call;
- faults on demand (doubles/faults.py): latency, timeouts, HTTP 5xx, authentication failures, malformed replies.
"""

from __future__ import annotations

import argparse
import random
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from xml.sax.saxutils import escape

import uvicorn
from lxml import etree
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from doubles.faults import FaultPlan, admin_routes

PATH = "/esb/notificationCenterElementsService"
NNC = "http://gsis.gr/ked/nnc"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
AUDIT_FIELDS = ("auditUnit", "auditTransactionId", "auditProtocol", "auditTransactionDate", "auditUserId",
                "auditUserIp")  # fmt: skip
CONTACT_FIELDS = ("email", "telephone", "mobile", "addressStreet", "addressNumber", "addressZipCode", "locality",
                  "municipality", "regionalUnit", "region")  # fmt: skip
USERNAME, PASSWORD = "kep-ked", "ked-secret"
NOT_REGISTERED = "NNC_AFM_NOT_FOUND"  # the ΑΦΜ has no record in ΕΜΕπ
INVALID_AFM = "GEN_INVALID_AFM"
STALE_TRANSACTION = "GEN_AUDIT_TRANSACTION_ID_REUSED"
_STREETS = ("Πανεπιστημίου", "Ερμού", "Αιόλου", "Πατησίων", "Σταδίου", "Εγνατίας", "Τσιμισκή")
_PLACES = (("Αθηναίων", "Κεντρικού Τομέα Αθηνών", "Αττικής", "10559"),
           ("Θεσσαλονίκης", "Θεσσαλονίκης", "Κεντρικής Μακεδονίας", "54624"),
           ("Πατρέων", "Αχαΐας", "Δυτικής Ελλάδας", "26221"))  # fmt: skip


# The demo and test citizens: the one the README's example opens a case for has a mailbox; this one has none
# (below the generated range, so never drawn), and gets the certificate by hand.
REGISTERED_AFM = "090000045"
UNREGISTERED_AFM = "012345670"


def valid_afm(first8: int) -> str:
    digits = f"{first8:08d}"
    check = sum(int(d) << (8 - i) for i, d in enumerate(digits)) % 11 % 10
    return digits + str(check)


def afm_is_valid(afm: str) -> bool:
    return len(afm) == 9 and afm.isdigit() and afm != "000000000" and valid_afm(int(afm[:8])) == afm


@dataclass(frozen=True)
class Registry:
    """ΕΜΕπ as the double knows it: who is registered and with what contacts."""

    contacts: dict[str, dict[str, str]]
    username: str
    password: str

    @classmethod
    def generate(cls, seed: int = 7, count: int = 200, username: str = USERNAME, password: str = PASSWORD) -> Registry:
        rng = random.Random(seed)  # noqa: S311 - synthetic data, reproducible by its seed
        contacts = {}
        for _ in range(count):
            afm = valid_afm(rng.randrange(10_000_000, 99_999_999))
            municipality, unit, region, zipcode = rng.choice(_PLACES)
            contacts[afm] = {
                "email": f"citizen{afm[-4:]}@example.gr",
                "telephone": f"210{rng.randrange(1_000_000, 9_999_999)}",
                "mobile": f"69{rng.randrange(10_000_000, 99_999_999)}",
                "addressStreet": rng.choice(_STREETS),
                "addressNumber": str(rng.randrange(1, 200)),
                "addressZipCode": zipcode,
                "locality": municipality,
                "municipality": municipality,
                "regionalUnit": unit,
                "region": region,
            }
        contacts[REGISTERED_AFM] = {"email": "eleni.papadaki@example.gr", "mobile": "6900000045",
                                    "addressStreet": "Πανεπιστημίου", "addressNumber": "45", "addressZipCode": "10559",
                                    "locality": "Αθηναίων", "municipality": "Αθηναίων",
                                    "regionalUnit": "Κεντρικού Τομέα Αθηνών", "region": "Αττικής"}  # fmt: skip
        return cls(contacts, username, password)


class KedApp(Starlette):
    registry: Registry
    faults: FaultPlan
    used_transactions: dict[str, set[int]]
    sequence: int
    lock: threading.Lock


def _fault(code: str, message: str, status: int = 500) -> Response:
    body = (f'<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body><soap:Fault><faultcode>{code}</faultcode>'
            f"<faultstring>{escape(message)}</faultstring></soap:Fault></soap:Body></soap:Envelope>")  # fmt: skip
    return Response(body, status_code=status, media_type="text/xml; charset=utf-8")


def _answer(sequence: int, contacts: dict[str, str] | None, error: tuple[str, str] | None) -> Response:
    now = datetime.now(UTC).isoformat()
    record = ""
    if contacts is not None:
        fields = "".join(f"<n:{k}>{escape(v)}</n:{k}>" for k, v in contacts.items())
        record = f"<n:getNncIdentityExtOutputRecord>{fields}</n:getNncIdentityExtOutputRecord>"
    failed = (f"<n:errorRecord><n:errorCode>{error[0]}</n:errorCode><n:errorDescr>{escape(error[1])}</n:errorDescr>"
              "</n:errorRecord>") if error else ""  # fmt: skip
    body = (f'<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body><n:getNncIdentityExtResponse xmlns:n="{NNC}">'
            f"{record}<n:callSequenceId>{sequence}</n:callSequenceId><n:callSequenceDate>{now}</n:callSequenceDate>"
            f"{failed}</n:getNncIdentityExtResponse></soap:Body></soap:Envelope>")  # fmt: skip
    return Response(body, media_type="text/xml; charset=utf-8")


def _text(node: etree._Element, path: str, ns: dict[str, str]) -> str | None:
    found = node.find(path, ns)
    return found.text.strip() if found is not None and found.text and found.text.strip() else None


def create_app(registry: Registry | None = None, latency_s: float = 0.0) -> KedApp:
    app: KedApp

    async def wsdl(request: Request) -> Response:
        if "wsdl" not in request.query_params:
            return Response("GET ?wsdl for the service description", status_code=405)
        text = (resources.files("actors.delivery") / "wsdl" / "nnc.wsdl").read_text(encoding="utf-8")
        here = f"{request.url.scheme}://{request.url.netloc}{PATH}"
        return Response(text.replace("https://ked.gsis.gr/esb/notificationCenterElementsService", here),
                        media_type="text/xml; charset=utf-8")  # fmt: skip

    async def call(request: Request) -> Response:
        fault = app.faults.take("getNncIdentityExt")
        await app.faults.before(fault)
        if fault is not None and fault.kind == "status":
            return Response("Service Unavailable", status_code=fault.status)
        if fault is not None and fault.kind == "malformed":
            return Response("<soap:Envelope><unclosed>", media_type="text/xml")
        try:
            parser = etree.XMLParser(resolve_entities=False, no_network=True)
            envelope = etree.fromstring(await request.body(), parser=parser)
        except etree.XMLSyntaxError as exc:
            return _fault("soap:Client", f"malformed request: {exc}")
        ns = {"s": SOAP_ENV, "w": WSSE, "n": NNC}
        token = envelope.find("s:Header/w:Security/w:UsernameToken", ns)
        user = _text(token, "w:Username", ns) if token is not None else None
        password = _text(token, "w:Password", ns) if token is not None else None
        if (fault is not None and fault.kind == "auth") or (user, password) != (app.registry.username,
                                                                                 app.registry.password):  # fmt: skip
            return _fault("wsse:FailedAuthentication", "The security token could not be authenticated or authorized")
        request_node = envelope.find("s:Body/n:getNncIdentityExtRequest", ns)
        if request_node is None:
            return _fault("soap:Client", "getNncIdentityExtRequest expected")
        audit = {f: _text(request_node, f"n:auditRecord/n:{f}", ns) for f in AUDIT_FIELDS}
        missing = [f for f, v in audit.items() if v is None]
        if missing:
            return _fault("soap:Client", f"auditRecord.{missing[0]} is required")
        afm = _text(request_node, "n:getNncIdentityExtInputRecord/n:afm", ns) or ""
        unit, transaction = str(audit["auditUnit"]), str(audit["auditTransactionId"])
        with app.lock:
            app.sequence += 1
            sequence = app.sequence
            used = app.used_transactions.setdefault(unit, set())
            fresh = transaction.isdigit() and int(transaction) not in used
            if fresh:
                used.add(int(transaction))
        app.faults.log("getNncIdentityExt", transaction, afm=afm, unit=unit)
        if not fresh:  # the protocol asks for ids that never repeat; concurrent callers' ids arrive in any order
            return _answer(sequence, None, (STALE_TRANSACTION, f"auditTransactionId {transaction} was used before"))
        if not afm_is_valid(afm):
            return _answer(sequence, None, (INVALID_AFM, f"Μη έγκυρος ΑΦΜ: {afm}"))
        contacts = app.registry.contacts.get(afm)
        if contacts is None:
            return _answer(sequence, None, (NOT_REGISTERED, "Ο ΑΦΜ δεν είναι καταχωρημένος στο ΕΜΕπ"))
        return _answer(sequence, contacts, None)

    app = KedApp(routes=[Route(PATH, wsdl, methods=["GET"]), Route(PATH, call, methods=["POST"])])
    app.registry = registry or Registry.generate()
    app.faults = FaultPlan(latency_s)
    app.used_transactions, app.sequence, app.lock = {}, 0, threading.Lock()
    app.router.routes.extend(admin_routes(app.faults))
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=18091)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--username", default=USERNAME)
    parser.add_argument("--password", default=PASSWORD)
    args = parser.parse_args()
    app = create_app(Registry.generate(args.seed, username=args.username, password=args.password))
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()

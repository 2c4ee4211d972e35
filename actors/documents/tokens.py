"""Render tokens: what lets Chromium fetch the one page it must print, and nothing else.

A render token is a JWT (HS256, the system's render secret) bound to one document: the case, the template
version, the hash of the inputs the job read, the document id and the instant it is issued at. It lives a minute.
The render page recomputes the inputs and refuses a token whose hash no longer matches (the case changed: the job
renders again with a new document), so a token never prints anything but the document it was made for.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from messages.documents import Lang, TemplateKind
from messages.errors import Forbidden

TTL_S = 60
_ALG = "HS256"
_AUDIENCE = "kep-render"


@dataclass(frozen=True)
class RenderClaims:
    case_id: uuid.UUID
    office_id: uuid.UUID
    template_id: uuid.UUID
    kind: TemplateKind
    lang: Lang
    inputs_hash: str
    document_id: uuid.UUID
    issued_at: datetime


def _key(secret: bytes) -> OctKey:
    return OctKey.import_key(secret)


def issue(secret: bytes, claims: RenderClaims, now: float | None = None) -> str:
    at = int(now if now is not None else time.time())
    payload = {
        "aud": _AUDIENCE,
        "iat": at,
        "exp": at + TTL_S,
        "case": str(claims.case_id),
        "office": str(claims.office_id),
        "tpl": str(claims.template_id),
        "kind": claims.kind.value,
        "lang": claims.lang.value,
        "inputs": claims.inputs_hash,
        "doc": str(claims.document_id),
        "issued": claims.issued_at.isoformat(),
    }
    return jwt.encode({"alg": _ALG}, payload, _key(secret), algorithms=[_ALG])


def verify(secret: bytes, token: str, now: float | None = None) -> RenderClaims:
    """The claims of a valid, unexpired render token; Forbidden otherwise (whatever is wrong with it)."""
    try:
        decoded = jwt.decode(token, _key(secret), algorithms=[_ALG])
        registry = jwt.JWTClaimsRegistry(now=int(now) if now is not None else None, leeway=0,
                                         aud={"essential": True, "value": _AUDIENCE},
                                         exp={"essential": True})  # fmt: skip
        registry.validate(decoded.claims)
        c = decoded.claims
        return RenderClaims(
            case_id=uuid.UUID(c["case"]),
            office_id=uuid.UUID(c["office"]),
            template_id=uuid.UUID(c["tpl"]),
            kind=TemplateKind(c["kind"]),
            lang=Lang(c["lang"]),
            inputs_hash=str(c["inputs"]),
            document_id=uuid.UUID(c["doc"]),
            issued_at=datetime.fromisoformat(c["issued"]),
        )
    except (JoseError, KeyError, ValueError) as exc:
        raise Forbidden(f"the render token is not valid: {type(exc).__name__}") from None

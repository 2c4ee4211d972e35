"""Documents of a case: the upload limits of its procedure, the list, one document; the bytes live in the object
store under `store.document_key`, never under a name the client chose."""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass

from actors.cases.store import get_case
from infra.db import Conn
from messages.cases import DocumentView
from messages.errors import NotFound

_UNSAFE = re.compile(r'[<>:"/\\|?*]+')
_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp"})  # controls, formats (U+202E...), line and paragraph separators


def safe_filename(name: str | None) -> str:
    """What we show and offer for download: the last path part, NFC, no control, format (bidirectional overrides,
    zero-width marks) or reserved characters, bounded; Greek stays Greek. It never becomes a storage key. For every
    name that comes from outside: an upload's, a document's from ΚΣΗΔΕ."""
    base = unicodedata.normalize("NFC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    visible = "".join("<" if unicodedata.category(c) in _INVISIBLE else c for c in base)  # then one `_` a run
    cleaned = _UNSAFE.sub("_", visible).strip(" .")[-150:]
    return cleaned or "document"


_COLUMNS = (
    "id, case_id, kind, filename, content_type, size_bytes, sha256, created_by, created_at, template_id, inputs_hash,"
    " verification_code, signed"
)


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int
    max_mb: int
    types: tuple[str, ...]


async def upload_limits(
    *, conn: Conn, case_id: uuid.UUID, office_id: uuid.UUID, default_mb: int, default_types: tuple[str, ...]
) -> UploadLimits:
    """The procedure's own limits, else the system's; 404 for another office's case."""
    row = await conn.fetchrow(
        """SELECT coalesce(p.attachment_max_mb, $3) AS max_mb, coalesce(p.attachment_types, $4::text[]) AS types
           FROM cases c JOIN procedures p ON p.id = c.procedure_id WHERE c.id = $1 AND c.office_id = $2""",
        case_id,
        office_id,
        default_mb,
        list(default_types),
    )
    if row is None:
        raise NotFound(f"case {case_id} not found")
    return UploadLimits(row["max_mb"] * 1024 * 1024, row["max_mb"], tuple(row["types"]))


async def documents(
    *, conn: Conn, case_id: uuid.UUID, office_id: uuid.UUID, after: uuid.UUID | None = None, limit: int | None = None
) -> list[DocumentView]:
    """The documents in the order they came, from the one after the document `after`: `limit` of them (all when
    None)."""
    await get_case(conn=conn, case_id=case_id, office_id=office_id)  # 404 for another office's case
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM documents d
            WHERE case_id = $1
              AND ($2::uuid IS NULL
                   OR (created_at, id) > (SELECT created_at, id FROM documents WHERE id = $2 AND case_id = $1))
            ORDER BY created_at, id LIMIT $3""",  # noqa: S608
        case_id,
        after,
        limit,
    )
    return [DocumentView.model_validate(dict(r)) for r in rows]


async def document(*, conn: Conn, case_id: uuid.UUID, document_id: uuid.UUID, office_id: uuid.UUID) -> DocumentView:
    # the office holding the case now reads its documents (a document's own office is the one that added it)
    row = await conn.fetchrow(
        f"""SELECT {_COLUMNS} FROM documents
            WHERE id = $1 AND case_id = $2 AND EXISTS (SELECT 1 FROM cases WHERE id = $2 AND office_id = $3)""",  # noqa: S608
        document_id,
        case_id,
        office_id,
    )
    if row is None:
        raise NotFound(f"document {document_id} not found")
    return DocumentView.model_validate(dict(row))


async def is_recorded(*, conn: Conn, document_id: uuid.UUID) -> bool:
    """Whether a case holds the document (its bytes must then stay)."""
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM documents WHERE id = $1)", document_id))

"""Template versions (per procedure, or the default of all) and the verification of issued documents."""

from __future__ import annotations

import contextlib
import uuid

import asyncpg

from actors.documents import templates
from infra.db import Conn
from messages.documents import Lang, TemplateKind, TemplateVersion, Verification
from messages.errors import NotFound

_COLUMNS = "id, procedure_id, kind, lang, version, body, created_by, created_at"
SHIPPED_BY = "system"


async def ensure_shipped(*, conn: Conn) -> None:
    """The shipped defaults are the latest default versions: a release that changes one adds a version (an
    administrator's own default versions stay in the history)."""
    for kind in TemplateKind:
        for lang in Lang:
            body = templates.shipped_body(kind, lang)
            latest = await _latest(conn, None, kind, lang)
            if latest is not None and (latest.body == body or latest.created_by != SHIPPED_BY):
                continue
            with contextlib.suppress(asyncpg.UniqueViolationError):  # another renderer added it at the same moment
                await _insert(conn, None, kind, lang, body, SHIPPED_BY)


async def _latest(conn: Conn, procedure_id: uuid.UUID | None, kind: TemplateKind, lang: Lang) -> TemplateVersion | None:
    row = await conn.fetchrow(
        f"""SELECT {_COLUMNS} FROM document_templates
            WHERE procedure_id IS NOT DISTINCT FROM $1 AND kind = $2 AND lang = $3
            ORDER BY version DESC LIMIT 1""",  # noqa: S608
        procedure_id,
        kind.value,
        lang.value,
    )
    return TemplateVersion.model_validate(dict(row)) if row else None


async def _insert(
    conn: Conn, procedure_id: uuid.UUID | None, kind: TemplateKind, lang: Lang, body: str, actor: str
) -> TemplateVersion:
    row = await conn.fetchrow(
        f"""INSERT INTO document_templates (id, procedure_id, kind, lang, version, body, created_by)
            SELECT $1, $2, $3, $4, coalesce(max(version), 0) + 1, $5, $6 FROM document_templates
            WHERE procedure_id IS NOT DISTINCT FROM $2 AND kind = $3 AND lang = $4
            RETURNING {_COLUMNS}""",  # noqa: S608
        uuid.uuid4(),
        procedure_id,
        kind.value,
        lang.value,
        body,
        actor,
    )
    assert row is not None
    return TemplateVersion.model_validate(dict(row))


async def save(
    *, conn: Conn, procedure_id: uuid.UUID | None, kind: TemplateKind, lang: Lang, body: str, actor: str
) -> TemplateVersion:
    """A new version, once `templates.check` passed."""
    templates.check(body, kind, lang)
    return await _insert(conn, procedure_id, kind, lang, body, actor)


async def current(*, conn: Conn, procedure_id: uuid.UUID, kind: TemplateKind, lang: Lang) -> TemplateVersion:
    """The version a document of the procedure is rendered with: its own latest, else the default's latest."""
    found = await _latest(conn, procedure_id, kind, lang) or await _latest(conn, None, kind, lang)
    if found is None:
        await ensure_shipped(conn=conn)
        found = await _latest(conn, None, kind, lang)
    assert found is not None
    return found


async def get(*, conn: Conn, template_id: uuid.UUID) -> TemplateVersion:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM document_templates WHERE id = $1", template_id)  # noqa: S608
    if row is None:
        raise NotFound(f"template {template_id} not found")
    return TemplateVersion.model_validate(dict(row))


async def versions(
    *, conn: Conn, procedure_id: uuid.UUID | None, kind: TemplateKind, lang: Lang
) -> list[TemplateVersion]:
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM document_templates
            WHERE procedure_id IS NOT DISTINCT FROM $1 AND kind = $2 AND lang = $3 ORDER BY version DESC""",  # noqa: S608
        procedure_id,
        kind.value,
        lang.value,
    )
    return [TemplateVersion.model_validate(dict(r)) for r in rows]


async def verify(*, conn: Conn, code: str) -> Verification:
    """What a verification code proves; NotFound for a code no document carries."""
    row = await conn.fetchrow(
        """SELECT t.kind, c.number, o.code AS office_code, o.name_el, o.name_en, p.title_el, p.title_en, t.lang,
                  d.created_at, d.sha256, d.signed
           FROM documents d JOIN document_templates t ON t.id = d.template_id
           JOIN cases c ON c.id = d.case_id JOIN offices o ON o.id = d.office_id
           JOIN procedures p ON p.id = c.procedure_id
           WHERE d.verification_code = $1""",
        code.strip().upper(),
    )
    if row is None:
        raise NotFound("no document carries this verification code")
    english = row["lang"] == Lang.EN.value
    return Verification(
        authentic=True,
        kind=TemplateKind(row["kind"]),
        case_number=row["number"],
        office_code=row["office_code"],
        office_name=(row["name_en"] if english and row["name_en"] else row["name_el"]),
        procedure_title=(row["title_en"] if english and row["title_en"] else row["title_el"]),
        issued_at=row["created_at"],
        sha256=row["sha256"],
        signed=row["signed"],
    )


async def find_by_hash(*, conn: Conn, sha256: str) -> str | None:
    """The verification code of the issued document with these exact bytes."""
    code: str | None = await conn.fetchval(
        "SELECT verification_code FROM documents WHERE sha256 = $1 AND verification_code IS NOT NULL LIMIT 1", sha256
    )
    return code

"""EU citizens' online applications: the one owner of `applicants`, `eugo_applications`, their evidence and their
messages (migration 0029). Keyword-only functions over a connection; the flow that routes an application and opens
its case is actors/eugo/submission.py."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg

from actors.eugo.cpsv import service
from actors.forms import DefinitionError, check_submission
from actors.forms.i18n import translate
from actors.forms.store import problem_errors
from infra.db import Conn
from messages import eugo_applications as m
from messages.errors import ConfigurationError, InvalidInput, NotFound
from messages.forms import LocalizedForm


@dataclass(frozen=True)
class Procedure:
    """What an application to this procedure must satisfy."""

    id: uuid.UUID
    title: str
    form: dict[str, Any] | None  # the Form.io definition of its latest form version, in English where translated
    evidence: dict[str, str]  # the evidence it lists that is not an alternative: id → English (or Greek) name
    max_mb: int
    types: tuple[str, ...]
    min_loa: str | None = None  # the lowest eIDAS level of assurance it takes (`low`, `substantial`, `high`)

    @property
    def max_bytes(self) -> int:
        return self.max_mb * 1024 * 1024


async def procedure(
    *, conn: Conn, procedure_id: uuid.UUID, default_mb: int, default_types: tuple[str, ...]
) -> Procedure:
    """The procedure if a citizen may apply to it online through EUGO; else 422 at /procedure_id."""
    row = await conn.fetchrow(
        """SELECT p.*, coalesce(p.attachment_max_mb, $2) AS max_mb, coalesce(p.attachment_types, $3::text[]) AS types,
                  f.definition AS form, f.translations
           FROM procedures p
           LEFT JOIN LATERAL (SELECT definition, translations FROM forms WHERE key = p.form_key
                              ORDER BY version DESC LIMIT 1) f ON true
           WHERE p.id = $1""",
        procedure_id,
        default_mb,
        list(default_types),
    )
    if row is None or not row["active"] or not row["eugo"]:
        reason = "does not exist" if row is None else "is not active" if not row["active"] else "is not offered"
        message = f"procedure {procedure_id} {reason} through EUGO" if row else f"procedure {procedure_id} {reason}"
        raise InvalidInput.at("/procedure_id", message, "procedure")
    if row["form_key"] and row["form"] is None:
        raise ConfigurationError(f"procedure {procedure_id} names form {row['form_key']!r}, which is missing")
    described = service(dict(row))
    evidence = {e.id: e.name.en or e.name.el or e.id for e in described.evidence if not e.alternative}
    title = row["title_en"] or row["title_el"]
    # the citizen reads the form in English: so do the labels in the messages about their data
    form = translate(row["form"], row["translations"], "en") if row["form"] is not None else None
    return Procedure(row["id"], title, form, evidence, row["max_mb"], tuple(row["types"]), row["eugo_min_loa"])


async def procedure_form(*, conn: Conn, procedure_id: uuid.UUID, lang: str) -> LocalizedForm | None:
    """The newest version of the procedure's form in `lang`, or None when it has no form."""
    row = await conn.fetchrow(
        """SELECT f.key, f.version, f.title, f.definition, f.translations
           FROM procedures p JOIN forms f ON f.key = p.form_key WHERE p.id = $1 ORDER BY f.version DESC LIMIT 1""",
        procedure_id,
    )
    if row is None:
        return None
    definition = translate(row["definition"], row["translations"], lang)
    title = (row["translations"].get(lang) or {}).get(row["title"], row["title"])
    return LocalizedForm(
        key=row["key"],
        version=row["version"],
        title=title,
        lang=lang,
        definition=definition,
        i18n=row["translations"],
    )


def checked_form_data(p: Procedure, data: dict[str, Any]) -> dict[str, Any]:
    """What the procedure's form keeps of `data`, or 422 with pointers under /form_data (Form.io's rules)."""
    if p.form is None:
        return data
    try:
        checked = check_submission(p.form, data)
    except DefinitionError as exc:
        raise ConfigurationError(f"the procedure's form cannot be validated: {exc}") from exc
    if checked.errors:
        raise InvalidInput("the form's data is not valid", problem_errors(checked.errors, "/form_data"))
    return checked.data


async def applicant(
    *,
    conn: Conn,
    country: str,
    person_id: str,
    given_name: str | None,
    family_name: str | None,
    birthdate: str | None,
    email: str | None,
) -> uuid.UUID:
    """The applicant of that eIDAS identity, made on first sight; the names follow what the node asserts now."""
    born = date.fromisoformat(birthdate) if birthdate else None
    found: uuid.UUID = await conn.fetchval(
        """INSERT INTO applicants (id, country, person_id, given_name, family_name, birthdate, email)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (country, person_id) DO UPDATE
              SET given_name = EXCLUDED.given_name, family_name = EXCLUDED.family_name,
                  birthdate = EXCLUDED.birthdate, email = coalesce(EXCLUDED.email, applicants.email), updated_at = now()
           RETURNING id""",
        uuid.uuid4(),
        country,
        person_id,
        given_name,
        family_name,
        born,
        email,
    )
    return found


async def applicant_id(*, conn: Conn, country: str, person_id: str) -> uuid.UUID | None:
    found: uuid.UUID | None = await conn.fetchval(
        "SELECT id FROM applicants WHERE country = $1 AND person_id = $2", country, person_id
    )
    return found


async def by_key(*, conn: Conn, applicant: uuid.UUID, key: str, fingerprint: str) -> uuid.UUID | None:
    """The application the citizen made with this Idempotency-Key, if any; 422 when the key was used for another
    request (another application part or other files)."""
    row = await conn.fetchrow(
        "SELECT id, request_fingerprint FROM eugo_applications WHERE applicant_id = $1 AND idempotency_key = $2",
        applicant,
        key,
    )
    if row is None:
        return None
    if row["request_fingerprint"] not in (None, fingerprint):
        message = "this Idempotency-Key was used for another application; use a new key"
        raise InvalidInput.at("/idempotency-key", message, "idempotency_key")
    found: uuid.UUID = row["id"]
    return found


@dataclass(frozen=True)
class File:
    document_id: uuid.UUID
    kind: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str


async def create(
    *,
    conn: Conn,
    application_id: uuid.UUID,
    case_id: uuid.UUID,
    applicant: uuid.UUID,
    request: m.ApplicationRequest,
    form_data: dict[str, Any],
    files: list[File],
    key: str | None,
    fingerprint: str,
) -> uuid.UUID:
    """Records the application unrouted with its evidence; with a key seen before, the first application's id
    (422 if that key was used for another request)."""
    async with conn.transaction():
        made = await conn.fetchval(
            """INSERT INTO eugo_applications (id, applicant_id, procedure_id, form_data, email, municipality, region,
                                              status, planned_case_id, idempotency_key, request_fingerprint)
               VALUES ($1, $2, $3, $4, $5, $6, $7, 'unrouted', $8, $9, $10)
               ON CONFLICT (applicant_id, idempotency_key) DO NOTHING RETURNING id""",
            application_id,
            applicant,
            request.procedure_id,
            form_data,
            str(request.email),
            request.municipality,
            request.region,
            case_id,
            key,
            fingerprint,
        )
        if made is None:  # the key's first request committed meanwhile
            assert key is not None  # rows without a key never conflict
            first = await by_key(conn=conn, applicant=applicant, key=key, fingerprint=fingerprint)
            assert first is not None
            return first
        await conn.executemany(
            """INSERT INTO eugo_application_files (document_id, application_id, kind, filename, content_type,
                                                   size_bytes, sha256) VALUES ($1, $2, $3, $4, $5, $6, $7)""",
            [
                (f.document_id, application_id, f.kind, f.filename, f.content_type, f.size_bytes, f.sha256)
                for f in files
            ],
        )
    return application_id


@dataclass(frozen=True)
class Pending:
    """What routing an application needs."""

    id: uuid.UUID
    procedure_id: uuid.UUID
    planned_case_id: uuid.UUID
    case_id: uuid.UUID | None
    form_data: dict[str, Any]
    email: str
    municipality: str | None
    region: str | None
    country: str
    person_id: str
    given_name: str | None
    family_name: str | None
    files: list[File]


async def pending(*, conn: Conn, application_id: uuid.UUID) -> Pending:
    row = await conn.fetchrow(
        """SELECT a.*, p.country, p.person_id, p.given_name, p.family_name
           FROM eugo_applications a JOIN applicants p ON p.id = a.applicant_id WHERE a.id = $1""",
        application_id,
    )
    if row is None:
        raise NotFound(f"application {application_id} not found")
    files = await conn.fetch(
        """SELECT document_id, kind, filename, content_type, size_bytes, sha256 FROM eugo_application_files
           WHERE application_id = $1 ORDER BY created_at, document_id""",
        application_id,
    )
    return Pending(
        row["id"], row["procedure_id"], row["planned_case_id"], row["case_id"], row["form_data"], row["email"],
        row["municipality"], row["region"], row["country"], row["person_id"], row["given_name"], row["family_name"],
        [File(**dict(f)) for f in files],
    )  # fmt: skip


async def mark(*, conn: Conn, application_id: uuid.UUID, case_id: uuid.UUID | None, routing: dict[str, Any]) -> None:
    """Routed to the case opened (`case_id`), or still unrouted with why (`case_id` None)."""
    await conn.execute(
        """UPDATE eugo_applications SET status = CASE WHEN $2::uuid IS NULL THEN 'unrouted' ELSE 'routed' END,
                  case_id = $2, routing = $3, updated_at = now() WHERE id = $1""",
        application_id,
        case_id,
        routing,
    )


_VIEW = """
    SELECT a.id, a.procedure_id, coalesce(pr.title_en, pr.title_el) AS procedure_title, a.status, a.email,
           a.created_at, a.routing->>'explanation' AS explanation, a.municipality, a.region, ap.country, ap.person_id,
           c.id AS case_id, c.number, c.status AS case_status, c.office_id,
           coalesce(o.name_en, o.name_el) AS office_name
    FROM eugo_applications a JOIN applicants ap ON ap.id = a.applicant_id JOIN procedures pr ON pr.id = a.procedure_id
    LEFT JOIN cases c ON c.id = a.case_id LEFT JOIN offices o ON o.id = c.office_id
"""


def _view(row: asyncpg.Record) -> dict[str, Any]:
    case = None
    if row["case_id"] is not None:
        case = m.CaseSummary(
            id=row["case_id"], number=row["number"], status=row["case_status"], office_id=row["office_id"],
            office_name=row["office_name"],
        )  # fmt: skip
    return {**dict(row), "case": case}


async def mine(
    *, conn: Conn, country: str, person_id: str, after: uuid.UUID | None = None, limit: int | None = None
) -> list[m.Application]:
    """The citizen's applications, newest first: `limit` of them after the application `after` (all when None)."""
    rows = await conn.fetch(
        _VIEW  # noqa: S608 (constant parts, bound values)
        + """ WHERE ap.country = $1 AND ap.person_id = $2
                AND ($3::uuid IS NULL OR (a.created_at, a.id) < (SELECT created_at, id FROM eugo_applications
                                                                 WHERE id = $3))
              ORDER BY a.created_at DESC, a.id DESC LIMIT $4""",
        country,
        person_id,
        after,
        limit,
    )
    return [m.Application.model_validate(_view(r)) for r in rows]


async def listed(*, conn: Conn, status: m.ApplicationStatus | None, limit: int) -> list[m.AdminApplication]:
    rows = await conn.fetch(
        _VIEW + " WHERE ($1::text IS NULL OR a.status = $1) ORDER BY a.created_at, a.id LIMIT $2", status, limit
    )
    return [m.AdminApplication.model_validate(_view(r)) for r in rows]


async def admin_one(*, conn: Conn, application_id: uuid.UUID) -> m.AdminApplication:
    row = await conn.fetchrow(_VIEW + " WHERE a.id = $1", application_id)
    if row is None:
        raise NotFound(f"application {application_id} not found")
    return m.AdminApplication.model_validate(_view(row))


async def own(*, conn: Conn, application_id: uuid.UUID, country: str, person_id: str) -> m.ApplicationDetail:
    """The citizen's application with its evidence, messages and issued documents; another's is a 404."""
    row = await conn.fetchrow(
        _VIEW + " WHERE a.id = $1 AND ap.country = $2 AND ap.person_id = $3", application_id, country, person_id
    )
    if row is None:
        raise NotFound(f"application {application_id} not found")
    evidence = await conn.fetch(
        """SELECT document_id AS id, kind, filename, content_type, size_bytes FROM eugo_application_files
           WHERE application_id = $1 ORDER BY created_at, document_id""",
        application_id,
    )
    messages = await conn.fetch(
        "SELECT id, sender, body AS text, created_at FROM eugo_messages WHERE application_id = $1 ORDER BY created_at",
        application_id,
    )
    issued = await conn.fetch(
        """SELECT id, filename, verification_code, created_at FROM documents
           WHERE case_id = $1 AND verification_code IS NOT NULL ORDER BY created_at, id""",
        row["case_id"],
    )
    return m.ApplicationDetail.model_validate(
        {
            **_view(row),
            "evidence": [dict(e) for e in evidence],
            "messages": [dict(x) for x in messages],
            "documents": [{**dict(d), "verify_url": f"/api/public/documents/{d['verification_code']}"} for d in issued],
        }
    )


async def by_case(*, conn: Conn, case_id: uuid.UUID) -> uuid.UUID | None:
    found: uuid.UUID | None = await conn.fetchval("SELECT id FROM eugo_applications WHERE case_id = $1", case_id)
    return found


async def add_file(*, conn: Conn, application_id: uuid.UUID, file: File) -> None:
    await conn.execute(
        """INSERT INTO eugo_application_files (document_id, application_id, kind, filename, content_type, size_bytes,
                                               sha256) VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (document_id) DO NOTHING""",
        file.document_id, application_id, file.kind, file.filename, file.content_type, file.size_bytes, file.sha256,
    )  # fmt: skip


async def add_message(
    *, conn: Conn, message_id: uuid.UUID, application_id: uuid.UUID, sender: str, author: str, text: str
) -> None:
    await conn.execute(
        """INSERT INTO eugo_messages (id, application_id, sender, author, body) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (id) DO NOTHING""",
        message_id, application_id, sender, author, text,
    )  # fmt: skip

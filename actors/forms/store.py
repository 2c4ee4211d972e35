"""Form definitions in PostgreSQL: every save is a new version; cases keep the version they were filled with."""

from __future__ import annotations

import uuid

import asyncpg

from actors.forms.definition import check_definition
from actors.forms.i18n import check_translations, untranslated
from infra.db import Conn
from messages.errors import FieldError, InvalidInput, NotFound
from messages.forms import FormVersion, SaveFormRequest

_COLUMNS = "id, key, version, title, created_by, created_at"


def problem_errors(errors: list[FieldError], prefix: str) -> list[FieldError]:
    """A submission's errors located inside the request body that carried it (`/form_data`, `/data`)."""
    return [e.under(prefix) for e in errors]


async def save_form(*, conn: Conn, request: SaveFormRequest, actor: str) -> FormVersion:
    """Refuses, with pointers into the definition, anything the server could not validate faithfully."""
    if errors := check_definition(request.definition):
        raise InvalidInput("the form uses what the server cannot validate", problem_errors(errors, "/definition"))
    if errors := check_translations(request.definition, request.translations, request.title):
        raise InvalidInput("the form's translations do not fit its definition", errors)
    for _ in range(3):  # two administrators saving the same key at once: the loser takes the next number
        try:
            row = await conn.fetchrow(
                f"""INSERT INTO forms (id, key, version, title, definition, translations, created_by)
                    SELECT $1, $2, coalesce(max(version), 0) + 1, $3, $4, $5, $6 FROM forms WHERE key = $2
                    RETURNING {_COLUMNS}, translations""",  # noqa: S608 (a constant column list)
                uuid.uuid4(),
                request.key,
                request.title,
                request.definition,
                request.translations,
                actor,
            )
        except asyncpg.UniqueViolationError:
            continue
        assert row is not None
        return FormVersion.model_validate(
            dict(row) | {"untranslated": untranslated(request.definition, request.translations, request.title)}
        )
    raise InvalidInput("the form is being saved by someone else; try again")


async def versions(*, conn: Conn, key: str, before: int | None = None, limit: int | None = None) -> list[FormVersion]:
    """The newest versions first, from the one below version `before`: `limit` of them (all when None)."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM forms WHERE key = $1 AND ($2::int IS NULL OR version < $2)
            ORDER BY version DESC LIMIT $3""",  # noqa: S608
        key,
        before,
        limit,
    )
    if not rows and not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM forms WHERE key = $1)", key):
        raise NotFound(f"no form {key!r}")
    return [FormVersion.model_validate(dict(r)) for r in rows]


async def get_form(*, conn: Conn, key: str, version: int | None = None) -> FormVersion:
    """One version with its definition; the newest when `version` is None."""
    row = await conn.fetchrow(
        f"""SELECT {_COLUMNS}, definition, translations FROM forms
            WHERE key = $1 AND ($2::int IS NULL OR version = $2)
            ORDER BY version DESC LIMIT 1""",  # noqa: S608
        key,
        version,
    )
    if row is None:
        raise NotFound(f"no form {key!r}" + (f" version {version}" if version else ""))
    return FormVersion.model_validate(
        dict(row) | {"untranslated": untranslated(row["definition"], row["translations"], row["title"])}
    )

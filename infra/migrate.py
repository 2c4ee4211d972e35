"""Schema migrations with yoyo: plain SQL files in infra/migrations, applied in order under a lock."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, urlencode

from psycopg.conninfo import conninfo_to_dict
from yoyo import get_backend, read_migrations

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _yoyo_url(database_url: str) -> str:
    # yoyo picks the driver from the scheme; psycopg 3 is the one we ship.
    scheme, rest = database_url.split("://", 1)
    if scheme not in {"postgres", "postgresql"}:
        return database_url
    if "," not in rest.split("/", 1)[0]:
        return f"postgresql+psycopg://{rest}"
    # Several hosts (a primary and its standbys, `target_session_attrs=read-write`): yoyo parses the URL with
    # urllib, which takes one host, but hands its query to psycopg as keyword arguments, and libpq reads a list
    # in `host` and `port`. So libpq parses the URL, and yoyo gets all but the database as parameters.
    params = conninfo_to_dict(database_url)
    dbname = str(params.pop("dbname", ""))
    return f"postgresql+psycopg:///{quote(dbname)}?{urlencode({k: str(v) for k, v in params.items()})}"


def pending(database_url: str) -> list[str]:
    backend = get_backend(_yoyo_url(database_url))
    return [m.id for m in backend.to_apply(read_migrations(str(MIGRATIONS_DIR)))]


def migrate(database_url: str) -> list[str]:
    """Apply what is missing; returns the ids applied. Safe to run from several processes at once."""
    backend = get_backend(_yoyo_url(database_url))
    migrations = read_migrations(str(MIGRATIONS_DIR))
    with backend.lock():
        todo = backend.to_apply(migrations)
        backend.apply_migrations(todo)
    return [m.id for m in todo]

"""Migrations run by the tool, once; the schema has what the model needs."""

from __future__ import annotations

import asyncpg

from infra.migrate import migrate, pending


def test_migrating_again_changes_nothing(database_url: str) -> None:
    assert pending(database_url) == []
    assert migrate(database_url) == []


async def test_schema_has_search_extensions_and_greek_folding(pool: asyncpg.Pool) -> None:
    exts = {r["extname"] for r in await pool.fetch("SELECT extname FROM pg_extension")}
    assert {"pg_trgm", "unaccent"} <= exts
    assert await pool.fetchval("SELECT kep_fold('ΠΙΣΤΟΠΟΙΗΤΙΚΌ Οικογενειακής')") == "πιστοποιητικο οικογενειακης"

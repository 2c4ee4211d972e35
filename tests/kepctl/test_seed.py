"""Demo data can be seeded any number of times."""

from __future__ import annotations

import asyncpg

from kepctl.seed import OFFICES, USERS, seed, sid


async def test_seeding_twice_adds_nothing_the_second_time(database_url: str, pool: asyncpg.Pool) -> None:
    first = await seed(database_url)
    second = await seed(database_url)
    assert second == {"offices": 0, "users": 0, "forms": 0}
    assert first["offices"] in (0, len(OFFICES))  # another test of the session may have seeded first
    codes = {r["code"] for r in await pool.fetch("SELECT code FROM offices")}
    assert {o[0] for o in OFFICES} <= codes
    subjects = {r["subject"] for r in await pool.fetch("SELECT subject FROM users")}
    assert {str(sid("user", u.subject)) for u in USERS} <= subjects  # the `sub` of their Keycloak tokens

"""Demo data can be seeded any number of times."""

from __future__ import annotations

import uuid

import asyncpg

from infra.migrate import migrate
from kepctl import services
from kepctl.seed import OFFICES, USERS, activate_demo_procedures, seed, sid
from kepctl.stack import StackSettings


async def test_seeding_twice_adds_nothing_the_second_time(database_url: str, pool: asyncpg.Pool) -> None:
    first = await seed(database_url)
    second = await seed(database_url)
    assert second == {"offices": 0, "users": 0, "forms": 0}
    assert first["offices"] in (0, len(OFFICES))  # another test of the session may have seeded first
    codes = {r["code"] for r in await pool.fetch("SELECT code FROM offices")}
    assert {o[0] for o in OFFICES} <= codes
    subjects = {r["subject"] for r in await pool.fetch("SELECT subject FROM users")}
    assert {str(sid("user", u.subject)) for u in USERS} <= subjects  # the `sub` of their Keycloak tokens


async def test_the_demo_activation_tops_up_the_eugo_procedures(stack: StackSettings) -> None:
    """The first ten procedures by Mitos id are activated when none is; then EUGO ones until five are active, even
    when the first ten held one (what left a demo catalogue with a single EUGO procedure)."""
    pg = services.Postgres("postgres", stack)
    name = f"kep_test_seed_{uuid.uuid4().hex[:8]}"
    pg.psql(f'CREATE DATABASE "{name}"')
    try:
        url = stack.database_url(name)
        migrate(url)
        await seed(url)  # the offices the demo routing rules name
        conn = await asyncpg.connect(url)
        try:
            for i in range(40):  # one EUGO procedure among the first ten, then one in four
                await conn.execute(
                    "INSERT INTO procedures (id, mitos_id, title_el, payload, eugo) VALUES ($1, $2, $3, '{}', $4)",
                    uuid.uuid4(), f"{i:04d}", f"Διαδικασία {i}", i == 3 or (i >= 10 and i % 4 == 0),
                )  # fmt: skip

            async def active() -> tuple[int, int]:
                row = await conn.fetchrow("SELECT count(*) FILTER (WHERE active) a, count(*) FILTER "
                                          "(WHERE active AND eugo) e FROM procedures")  # fmt: skip
                return row["a"], row["e"]

            assert await activate_demo_procedures(url) == 14
            assert await active() == (14, 5)
            assert await activate_demo_procedures(url) == 0  # twice: nothing more
            await conn.execute("UPDATE procedures SET active = false WHERE mitos_id = '0000'")
            assert await activate_demo_procedures(url) == 0  # what an administrator deactivated stays so
            assert await active() == (13, 5)
        finally:
            await conn.close()
    finally:
        pg.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

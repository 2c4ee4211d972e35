"""The stack's PostgreSQL is a primary and a streaming standby (kepctl/services.py, `Postgres`): a switchover hands
the writes to the standby and back with nothing lost; the pair's address follows it; a start finishes a switchover
that stopped half way, and clones a standby that is missing.

These act on the stack's own servers, as the chaos run does: whatever else uses them (a `kep up` on this machine,
the rest of this session) connects through the pair's multi-host address and follows."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator

import asyncpg
import pytest
from typer.testing import CliRunner

from kepctl import services
from kepctl.main import app
from kepctl.stack import StackSettings


@pytest.fixture
def pg(stack: StackSettings) -> Iterator[services.Postgres]:
    pg = services.Postgres("postgres", stack, progress=lambda m: print(m, flush=True))
    pg.start()
    yield pg
    pg.start()  # whatever a test left, the pair up and streaming for the next


@pytest.fixture
async def probe(database_url: str) -> str:
    """A table of this test's own, in the session's database."""
    conn = await asyncpg.connect(database_url)
    table = f"pair_probe_{uuid.uuid4().hex[:8]}"
    await conn.execute(f"CREATE TABLE {table} (n int PRIMARY KEY)")
    await conn.close()
    return table


def _on(pg: services.Postgres, node: services.PgNode, database_url: str) -> str:
    """The session's database on that one server, whatever its role."""
    return database_url.replace(pg.stack.pg_hosts, f"127.0.0.1:{node.port}").split("?")[0]


async def _served_by(database_url: str) -> tuple[int, bool]:
    """The port of the server the pair's address reaches, and whether it is in recovery (a standby)."""
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow("SELECT inet_server_port() AS port, pg_is_in_recovery() AS standby")
        assert row is not None
        return row["port"], row["standby"]
    finally:
        await conn.close()


async def _rows(database_url: str, table: str) -> list[int]:
    conn = await asyncpg.connect(database_url)
    try:
        return [r["n"] for r in await conn.fetch(f"SELECT n FROM {table} ORDER BY n")]  # noqa: S608 (our name)
    finally:
        await conn.close()


async def _insert(database_url: str, table: str, n: int) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f"INSERT INTO {table} VALUES ($1)", n)  # noqa: S608 (our name)
    finally:
        await conn.close()


async def test_a_switchover_hands_the_writes_to_the_standby_and_back(
    pg: services.Postgres, database_url: str, probe: str
) -> None:
    primary, standby = pg.roles()
    assert not primary.is_standby
    assert standby.is_standby
    assert pg.streaming(primary, standby)
    assert await _served_by(database_url) == (primary.port, False)
    await _insert(database_url, probe, 1)

    pg.switchover()

    assert pg.roles() == (standby, primary)
    assert pg.streaming(standby, primary), "the old primary does not follow the new one"
    assert await _served_by(database_url) == (standby.port, False)
    assert await _rows(database_url, probe) == [1]  # what the old primary took, the new one has
    await _insert(database_url, probe, 2)
    # the old primary, now a standby, replays what the new one takes (read on it directly)
    on_old = _on(pg, primary, database_url)
    assert await _served_by(on_old) == (primary.port, True)

    pg.switchover()

    assert pg.roles() == (primary, standby)
    assert await _served_by(database_url) == (primary.port, False)
    assert await _rows(database_url, probe) == [1, 2]


async def test_a_switchover_stopped_after_the_promotion_is_finished_by_the_next_start(
    pg: services.Postgres, database_url: str, probe: str
) -> None:
    """The primary stopped and the standby promoted, then nothing more: two nodes without `standby.signal`. The
    promoted one is on the newer timeline and leads; the other starts as its standby."""
    primary, standby = pg.roles()
    await _insert(database_url, probe, 1)
    pg.stop_node(primary)
    pg.promote(standby)
    assert not primary.is_standby
    assert not standby.is_standby
    await _insert(database_url, probe, 2)  # taken by the promoted one: the pair's address found it

    pg.start()

    assert pg.roles() == (standby, primary)
    assert pg.streaming(standby, primary)
    assert await _rows(database_url, probe) == [1, 2]


async def test_a_missing_standby_is_cloned_from_the_primary(
    pg: services.Postgres, database_url: str, probe: str
) -> None:
    primary, standby = pg.roles()
    await _insert(database_url, probe, 1)
    pg.stop_node(standby)
    shutil.rmtree(standby.data_dir)

    pg.start()

    assert pg.roles() == (primary, standby)
    assert pg.streaming(primary, standby)
    on_standby = _on(pg, standby, database_url)
    assert await _served_by(on_standby) == (standby.port, True)
    assert await _rows(on_standby, probe) == [1]  # cloned with what the primary had


def test_an_operator_switches_over_from_the_cli_and_sees_the_roles(pg: services.Postgres) -> None:
    primary, standby = pg.roles()

    switched = CliRunner().invoke(app, ["services", "switchover"])

    assert switched.exit_code == 0, switched.output
    assert f"primary={standby.port} standby={primary.port}" in switched.output
    status = CliRunner().invoke(app, ["services", "status", "postgres"])
    assert f"primary={standby.port} standby={primary.port}" in status.output


def test_a_switchover_without_a_streaming_standby_is_refused_and_changes_nothing(pg: services.Postgres) -> None:
    primary, standby = pg.roles()
    pg.stop_node(standby)

    with pytest.raises(services.ServiceError, match="no standby streams"):
        pg.switchover()

    assert pg.roles() == (primary, standby)
    assert pg.answers(primary)

"""The office store on the real database: the org chart stays a tree of active offices under active ones, every
change is audited in its transaction, invalid input writes nothing."""

from __future__ import annotations

import uuid
from typing import Any, TypeAlias

import asyncpg
import pytest

from actors.offices import store
from messages.errors import InvalidInput, NotFound
from messages.offices import OfficeChange, OfficeFilter, OfficeNew, OfficeOwnChange

Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"


def _new(tag: str, **fields: Any) -> OfficeNew:
    values: dict[str, Any] = {"code": f"{tag}-{uuid.uuid4().hex[:6].upper()}", "kind": "kep", "name_el": tag}
    return OfficeNew.model_validate(values | fields)


async def _audit_rows(pool: Pool, office_id: uuid.UUID) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT action, actor, request_id, reason, old, new FROM admin_audit "
        "WHERE entity = 'office' AND entity_id = $1 ORDER BY id",
        str(office_id),
    )


async def test_create_change_and_audit_in_one_transaction(pool: Pool) -> None:
    tag = f"S{uuid.uuid4().hex[:6].upper()}"
    async with pool.acquire() as conn:
        central = await store.create(
            conn=conn, new=_new(tag, kind="central", name_el="Κεντρική"), actor="admin-1", request_id="r1"
        )
        kep = await store.create(
            conn=conn,
            new=_new(tag, name_el="ΚΕΠ Πειραιώς", parent_id=central.id, postal_code="185 31", reason="νέο"),
            actor="admin-1",
            request_id="r2",
        )
        assert (kep.parent_id, kep.parent_code, kep.postal_code) == (central.id, central.code, "18531")
        hours = {"mon": [{"opens": "08:00", "closes": "15:00"}], "note": "κλειστά τις αργίες"}
        changed = await store.change(
            conn=conn,
            office_id=kep.id,
            change=OfficeOwnChange.model_validate({"opening_hours": hours, "phone": "210 4100000"}),
            actor="sup-1",
            request_id="r3",
        )
        assert changed.opening_hours.mon[0].closes == "15:00"
        assert changed.updated_at > kep.updated_at
        # the same values again: nothing written, no audit row
        await store.change(
            conn=conn, office_id=kep.id, change=OfficeOwnChange(phone="210 4100000"), actor="sup-1", request_id="r4"
        )
    rows = await _audit_rows(pool, kep.id)
    assert [(r["action"], r["actor"], r["request_id"]) for r in rows] == [
        ("create", "admin-1", "r2"),
        ("change", "sup-1", "r3"),
    ]
    assert rows[0]["reason"] == "νέο"
    assert rows[0]["old"] == {}
    assert rows[0]["new"]["parent_id"] == str(central.id)
    assert rows[1]["old"] == {"phone": None, "opening_hours": rows[1]["old"]["opening_hours"]}
    assert rows[1]["old"]["opening_hours"]["mon"] == []
    assert rows[1]["new"]["opening_hours"]["note"] == "κλειστά τις αργίες"


async def test_cycles_unknown_and_inactive_parents_and_duplicates_change_nothing(pool: Pool) -> None:
    tag = f"C{uuid.uuid4().hex[:6].upper()}"
    async with pool.acquire() as conn:
        a = await store.create(conn=conn, new=_new(tag, kind="central"), actor="a", request_id=None)
        b = await store.create(conn=conn, new=_new(tag, parent_id=a.id), actor="a", request_id=None)
        c = await store.create(conn=conn, new=_new(tag, parent_id=b.id), actor="a", request_id=None)
        cases: list[tuple[uuid.UUID, dict[str, Any], set[tuple[str, str]]]] = [
            (a.id, {"parent_id": c.id}, {("/parent_id", "cycle")}),
            (b.id, {"parent_id": b.id}, {("/parent_id", "cycle")}),
            (b.id, {"parent_id": uuid.uuid4(), "name_el": "άλλο"}, {("/parent_id", "unknown_office")}),
            (c.id, {"code": a.code, "phone": "2101234567"}, {("/code", "duplicate")}),
            (b.id, {"active": False}, {("/active", "active_children")}),
        ]
        for office_id, fields, expected in cases:
            before = await store.get_office(conn=conn, office_id=office_id)
            with pytest.raises(InvalidInput) as caught:
                await store.change(
                    conn=conn,
                    office_id=office_id,
                    change=OfficeChange.model_validate(fields),
                    actor="a",
                    request_id=None,
                )
            assert {(e.path, e.type) for e in caught.value.errors} == expected, fields
            assert await store.get_office(conn=conn, office_id=office_id) == before
        with pytest.raises(InvalidInput) as dup:
            await store.create(conn=conn, new=_new(tag, code=a.code), actor="a", request_id=None)
        assert [(e.path, e.type) for e in dup.value.errors] == [("/code", "duplicate")]

        # leaves first: then the parent may go; an active office is not put (back) under an inactive one
        await store.change(conn=conn, office_id=c.id, change=OfficeChange(active=False), actor="a", request_id=None)
        await store.change(conn=conn, office_id=b.id, change=OfficeChange(active=False), actor="a", request_id=None)
        with pytest.raises(InvalidInput) as inactive:
            await store.change(conn=conn, office_id=c.id, change=OfficeChange(active=True), actor="a", request_id=None)
        assert [(e.path, e.type) for e in inactive.value.errors] == [("/active", "inactive_parent")]
        with pytest.raises(InvalidInput) as under:
            await store.create(conn=conn, new=_new(tag, parent_id=b.id), actor="a", request_id=None)
        assert [(e.path, e.type) for e in under.value.errors] == [("/parent_id", "inactive_parent")]
        with pytest.raises(NotFound):
            await store.change(
                conn=conn, office_id=uuid.uuid4(), change=OfficeChange(phone="2101234567"), actor="a", request_id=None
            )
    assert [r["action"] for r in await _audit_rows(pool, b.id)] == ["create", "deactivate"]
    # the table refuses a cycle whoever writes, not only the store
    with pytest.raises(asyncpg.CheckViolationError):
        await pool.execute("UPDATE offices SET parent_id = $2 WHERE id = $1", a.id, c.id)


async def test_sight_list_filters_and_tree(pool: Pool) -> None:
    tag = f"L{uuid.uuid4().hex[:6].upper()}"
    async with pool.acquire() as conn:
        root = await store.create(conn=conn, new=_new(tag, kind="central"), actor="a", request_id=None)
        athens = await store.create(
            conn=conn,
            new=_new(tag, name_el="ΚΕΠ Δήμου Αθηναίων", parent_id=root.id, region="Αττική", municipality="Αθηναίων"),
            actor="a",
            request_id=None,
        )
        closed = await store.create(
            conn=conn, new=_new(tag, name_el="ΚΕΠ κλειστό", parent_id=root.id, active=False), actor="a", request_id=None
        )
        staff = store.Sight(everything=False, own=athens.id)
        found = await store.list_offices(conn=conn, f=OfficeFilter(q=f"{tag} ΑΘΗΝΑΙΩΝ"), sight=staff)
        assert [o.id for o in found.items] == [athens.id]
        by_region = await store.list_offices(conn=conn, f=OfficeFilter(q=tag, region="ΑΤΤΙΚΗ"), sight=staff)
        assert [o.id for o in by_region.items] == [athens.id]
        assert (await store.list_offices(conn=conn, f=OfficeFilter(q=tag), sight=staff)).total == 2
        assert (await store.list_offices(conn=conn, f=OfficeFilter(q=tag), sight=store.EVERYTHING)).total == 3
        with pytest.raises(NotFound):
            await store.get_office(conn=conn, office_id=closed.id, sight=staff)
        [top] = await store.tree(conn=conn, sight=staff, root=root.id)
        assert [n.id for n in top.children] == [athens.id]
        [everything] = await store.tree(conn=conn, sight=store.EVERYTHING, root=root.id)
        assert {n.id for n in everything.children} == {athens.id, closed.id}
        assert [o.id for o in await store.children(conn=conn, office_id=root.id, sight=staff)] == [athens.id]

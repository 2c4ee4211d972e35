"""Every read and write of news: announcements, their targets, read receipts, and the audit of their changes.

Who may do what (the HTTP layer checks the roles first):

- a reader sees what is published now (not withdrawn, inside its window) and targets them: their office among its
  offices (or it names none) and one of their roles among its roles (or it names none);
- administrators write news for any offices; supervisors only for their own office, named (422 at `/offices`);
- the author and administrators change, withdraw, see the receipts and the history of one; anyone else gets 403
  when it is shown to them, 404 otherwise (they may not learn that it exists).

Invalid input changes nothing; every change is one transaction with its `admin_audit` row (entity 'news')."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from actors.news.render import to_html
from infra.db import Conn
from messages.catalog import AuditEntry
from messages.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from messages.news import (
    NewsChange,
    NewsDraft,
    NewsFormat,
    NewsItem,
    NewsRead,
    NewsState,
    Receipt,
    Receipts,
    Staff,
    StaffMember,
)

_STATE = """(CASE WHEN n.withdrawn_at IS NOT NULL THEN 'withdrawn' WHEN n.publish_at > now() THEN 'scheduled'
                 WHEN n.expire_at <= now() THEN 'expired' ELSE 'published' END)"""
# $1: the caller's subject (their read flag)
_COLUMNS = f"""n.id, n.title_el, n.title_en, n.format, n.body_el, n.body_en, n.html_el, n.html_en, n.publish_at,
              n.expire_at, n.pinned, n.roles, n.author, n.created_at, n.updated_at, n.withdrawn_at,
              array(SELECT o.office_id FROM news_offices o WHERE o.news_id = n.id ORDER BY o.office_id) AS offices,
              {_STATE} AS state, r.read_at"""  # noqa: S608 (fixed parts)
_FROM = "FROM news n LEFT JOIN news_reads r ON r.news_id = n.id AND r.subject = $1"
# $2: the caller's office (or null), $3: their roles
_VISIBLE = """n.withdrawn_at IS NULL AND n.publish_at <= now() AND (n.expire_at IS NULL OR n.expire_at > now())
              AND (n.roles = '{}' OR n.roles && $3::text[])
              AND (NOT EXISTS (SELECT 1 FROM news_offices o WHERE o.news_id = n.id)
                   OR EXISTS (SELECT 1 FROM news_offices o WHERE o.news_id = n.id AND o.office_id = $2))"""
_FEED_ORDER = "n.pinned DESC, n.publish_at DESC, n.id DESC"
# what an author sets, in the order of the table's columns
_FIELDS = ("title_el", "title_en", "format", "body_el", "body_en", "publish_at", "expire_at", "pinned", "roles")
_REQUIRED = ("title_el", "body_el", "format", "publish_at", "pinned", "offices", "roles")


def _item(row: Any) -> NewsItem:
    data = dict(row)
    data["read"] = data["read_at"] is not None
    return NewsItem.model_validate(data)


def _reader_args(reader: Staff) -> tuple[str, uuid.UUID | None, list[str]]:
    return reader.subject, reader.office_id, sorted(reader.roles)


async def feed(
    *, conn: Conn, reader: Staff, unread: bool | None, limit: int, after: uuid.UUID | None
) -> list[NewsItem]:
    """What is published now for the reader, pinned first, then newest first; `limit` after the item `after`."""
    clauses = [_VISIBLE]
    args: list[Any] = [*_reader_args(reader)]
    if unread is not None:
        clauses.append("r.read_at IS NULL" if unread else "r.read_at IS NOT NULL")
    if after is not None:
        args.append(after)
        clauses.append(
            f"(n.pinned, n.publish_at, n.id) < (SELECT pinned, publish_at, id FROM news WHERE id = ${len(args)})"  # noqa: S608
        )
    args.append(limit)
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} {_FROM} WHERE {' AND '.join(clauses)} ORDER BY {_FEED_ORDER} LIMIT ${len(args)}",
        *args,
    )
    return [_item(r) for r in rows]


async def written(
    *, conn: Conn, by: Staff, state: NewsState | None, limit: int, after: uuid.UUID | None
) -> list[NewsItem]:
    """For authors and administrators: every announcement (administrators) or the caller's own, whatever their
    state, the newest written first."""
    clauses: list[str] = []
    args: list[Any] = [by.subject]
    if not by.administrator:
        clauses.append("n.author = $1")
    if state is not None:
        args.append(str(state))
        clauses.append(f"{_STATE} = ${len(args)}")
    if after is not None:
        args.append(after)
        clauses.append(f"(n.created_at, n.id) < (SELECT created_at, id FROM news WHERE id = ${len(args)})")  # noqa: S608
    args.append(limit)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} {_FROM} {where} ORDER BY n.created_at DESC, n.id DESC LIMIT ${len(args)}",
        *args,
    )
    return [_item(r) for r in rows]


async def _one(conn: Conn, news_id: uuid.UUID, caller: Staff, *, lock: bool = False) -> tuple[NewsItem, bool] | None:
    """The announcement and whether it is shown to the caller now."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS}, ({_VISIBLE}) AS visible {_FROM} WHERE n.id = $4" + (" FOR UPDATE OF n" if lock else ""),
        *_reader_args(caller),
        news_id,
    )
    if row is None:
        return None
    return _item(row), bool(row["visible"])


async def get(*, conn: Conn, news_id: uuid.UUID, caller: Staff) -> NewsItem:
    """One announcement: as a reader sees it, or whatever its state for its author and administrators."""
    found = await _one(conn, news_id, caller)
    if found is None or not (found[1] or _writes(found[0], caller)):
        raise NotFound(f"news {news_id} not found")
    return found[0]


def _writes(item: NewsItem, caller: Staff) -> bool:
    return caller.administrator or item.author == caller.subject


async def _for_writer(conn: Conn, news_id: uuid.UUID, caller: Staff, *, lock: bool = False) -> NewsItem:
    found = await _one(conn, news_id, caller, lock=lock)
    if found is None:
        raise NotFound(f"news {news_id} not found")
    item, visible = found
    if not _writes(item, caller):
        if visible:
            raise Forbidden("only its author or an administrator may do this")
        raise NotFound(f"news {news_id} not found")
    return item


async def _target_errors(conn: Conn, offices: list[uuid.UUID], by: Staff, pointer: str) -> list[FieldError]:
    if not by.administrator:
        own = by.office_id
        if own is None:
            raise Forbidden("the caller belongs to no office")
        if not offices:
            return [FieldError(pointer, "a supervisor's news goes to their own office only: name it", "own_office")]
        return [
            FieldError(f"{pointer}/{i}", "a supervisor's news goes to their own office only", "own_office")
            for i, office in enumerate(offices)
            if office != own
        ]
    if not offices:
        return []
    known = {r["id"] for r in await conn.fetch("SELECT id FROM offices WHERE id = ANY($1::uuid[])", offices)}
    return [
        FieldError(f"{pointer}/{i}", f"no office {office}", "unknown_office")
        for i, office in enumerate(offices)
        if office not in known
    ]


def _window_errors(publish_at: datetime, expire_at: datetime | None) -> list[FieldError]:
    if expire_at is not None and expire_at <= publish_at:
        return [FieldError("/expire_at", "the window must end after it starts (publish_at)", "window")]
    return []


def _unique(values: list[Any]) -> list[Any]:
    return sorted(set(values), key=str)


async def _audit(
    conn: Conn, news_id: uuid.UUID, action: str, by: Staff, request_id: str | None, reason: str | None,
    old: dict[str, Any], new: dict[str, Any],
) -> None:  # fmt: skip
    await conn.execute(
        """INSERT INTO admin_audit (entity, entity_id, action, actor, request_id, reason, old, new)
           VALUES ('news', $1, $2, $3, $4, $5, $6, $7)""",
        str(news_id),
        action,
        by.subject,
        request_id,
        reason,
        old,
        new,
    )


async def _set_offices(conn: Conn, news_id: uuid.UUID, offices: list[uuid.UUID]) -> None:
    await conn.execute("DELETE FROM news_offices WHERE news_id = $1", news_id)
    await conn.executemany(
        "INSERT INTO news_offices (news_id, office_id) VALUES ($1, $2)", [(news_id, o) for o in offices]
    )


async def create(*, conn: Conn, draft: NewsDraft, by: Staff, request_id: str | None) -> NewsItem:
    """A new announcement, audited; `publish_at` left out is now."""
    news_id = uuid.uuid4()
    async with conn.transaction():
        now: datetime = await conn.fetchval("SELECT now()")
        values = draft.model_dump()
        values["publish_at"] = draft.publish_at or now
        errors = await _target_errors(conn, draft.offices, by, "/offices")  # pointers into what was sent
        values["offices"] = _unique(draft.offices)
        values["roles"] = sorted(set(draft.roles))
        errors += _window_errors(values["publish_at"], values["expire_at"])
        if errors:
            raise InvalidInput("the announcement was not saved", errors)
        await conn.execute(
            """INSERT INTO news (id, title_el, title_en, format, body_el, body_en, publish_at, expire_at, pinned, roles,
                                 html_el, html_en, author, created_at, updated_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)""",
            news_id,
            *(values[k] for k in _FIELDS),
            *_html(values),
            by.subject,
            now,
        )
        await _set_offices(conn, news_id, values["offices"])
        await _audit(conn, news_id, "created", by, request_id, None, {}, values)
        return await _for_writer(conn, news_id, by)


def _html(values: dict[str, Any]) -> tuple[str, str | None]:
    fmt = NewsFormat(values["format"])
    english = values["body_en"]
    return to_html(values["body_el"], fmt), None if english is None else to_html(english, fmt)


async def change(*, conn: Conn, news_id: uuid.UUID, change: NewsChange, by: Staff, request_id: str | None) -> NewsItem:
    """Change what the author set; the same values again write nothing. A withdrawn announcement stays as it was
    (409). A supervisor's result must still target their own office alone."""
    asked = change.model_dump(exclude_unset=True, exclude={"reason"})
    errors = [FieldError(f"/{k}", "may not be null", "null") for k in _REQUIRED if k in asked and asked[k] is None]
    if errors:
        raise InvalidInput("the announcement was not changed", errors)
    async with conn.transaction():
        item = await _for_writer(conn, news_id, by, lock=True)
        if item.withdrawn_at is not None:
            raise Conflict(f"news {news_id} was withdrawn: it cannot be changed")
        current = item.model_dump(include={*_FIELDS, "offices"})
        current["offices"] = _unique(current["offices"])
        errors = await _target_errors(conn, asked.get("offices", current["offices"]), by, "/offices")
        if "offices" in asked:
            asked["offices"] = _unique(asked["offices"])
        if "roles" in asked:
            asked["roles"] = sorted(set(asked["roles"]))
        merged = current | asked
        errors += _window_errors(merged["publish_at"], merged["expire_at"])
        if errors:
            raise InvalidInput("the announcement was not changed", errors)
        changed = {k: v for k, v in asked.items() if current[k] != v}
        if changed:
            await conn.execute(
                f"""UPDATE news SET {", ".join(f"{k} = ${i + 2}" for i, k in enumerate(_FIELDS))},
                        html_el = ${len(_FIELDS) + 2}, html_en = ${len(_FIELDS) + 3}, updated_at = now()
                    WHERE id = $1""",  # noqa: S608 (fixed parts)
                news_id,
                *(merged[k] for k in _FIELDS),
                *_html(merged),
            )
            if "offices" in changed:
                await _set_offices(conn, news_id, merged["offices"])
            await _audit(conn, news_id, "changed", by, request_id, change.reason,
                         {k: current[k] for k in changed}, changed)  # fmt: skip
        return await _for_writer(conn, news_id, by)


async def withdraw(
    *, conn: Conn, news_id: uuid.UUID, reason: str | None, by: Staff, request_id: str | None
) -> NewsItem:
    """Shown to nobody from now on (kept, with its receipts). Again: the same answer, nothing written."""
    async with conn.transaction():
        item = await _for_writer(conn, news_id, by, lock=True)
        if item.withdrawn_at is None:
            at = await conn.fetchval(
                "UPDATE news SET withdrawn_at = now(), withdrawn_by = $2, updated_at = now() WHERE id = $1 "
                "RETURNING withdrawn_at",
                news_id,
                by.subject,
            )
            await _audit(conn, news_id, "withdrawn", by, request_id, reason, {"withdrawn_at": None},
                         {"withdrawn_at": at})  # fmt: skip
        return await _for_writer(conn, news_id, by)


async def mark_read(*, conn: Conn, news_id: uuid.UUID, reader: Staff) -> NewsRead:
    """The reader read it: recorded the first time only. Not shown to them now: 404."""
    found = await _one(conn, news_id, reader)
    if found is None or not found[1]:
        raise NotFound(f"news {news_id} not found")
    read_at = await conn.fetchval(
        """WITH added AS (INSERT INTO news_reads (news_id, subject) VALUES ($1, $2)
                          ON CONFLICT (news_id, subject) DO NOTHING RETURNING read_at)
           SELECT read_at FROM added UNION ALL SELECT read_at FROM news_reads WHERE news_id = $1 AND subject = $2""",
        news_id,
        reader.subject,
    )
    if read_at is None:  # the same reader's other request inserted it meanwhile
        read_at = await conn.fetchval(
            "SELECT read_at FROM news_reads WHERE news_id = $1 AND subject = $2", news_id, reader.subject
        )
    return NewsRead(news_id=news_id, read_at=read_at)


async def receipts(*, conn: Conn, news_id: uuid.UUID, by: Staff) -> Receipts:
    """Who read it when, and who of the active staff it targets (by its offices and roles, now) has not."""
    await _for_writer(conn, news_id, by)
    read = await conn.fetch(
        """SELECT r.subject, u.display_name, u.office_id, r.read_at
           FROM news_reads r LEFT JOIN users u ON u.subject = r.subject
           WHERE r.news_id = $1 ORDER BY r.read_at, r.subject""",
        news_id,
    )
    targeted = await conn.fetch(
        """SELECT u.subject, u.display_name, u.office_id,
                  EXISTS (SELECT 1 FROM news_reads r WHERE r.news_id = n.id AND r.subject = u.subject) AS has_read
           FROM news n JOIN users u ON u.active
               AND (n.roles = '{}' OR u.roles && n.roles)
               AND (NOT EXISTS (SELECT 1 FROM news_offices o WHERE o.news_id = n.id)
                    OR u.office_id IN (SELECT o.office_id FROM news_offices o WHERE o.news_id = n.id))
           WHERE n.id = $1 ORDER BY u.office_id, u.display_name, u.subject""",
        news_id,
    )
    return Receipts(
        news_id=news_id,
        targeted=len(targeted),
        read_count=len(read),
        read=[Receipt.model_validate(dict(r)) for r in read],
        not_read=[
            StaffMember(subject=r["subject"], display_name=r["display_name"], office_id=r["office_id"])
            for r in targeted
            if not r["has_read"]
        ],
    )


async def history(*, conn: Conn, news_id: uuid.UUID, by: Staff) -> list[AuditEntry]:
    await _for_writer(conn, news_id, by)
    rows = await conn.fetch(
        """SELECT action, actor, request_id, reason, old, new, at FROM admin_audit
           WHERE entity = 'news' AND entity_id = $1 ORDER BY id""",
        str(news_id),
    )
    return [AuditEntry.model_validate(dict(r)) for r in rows]

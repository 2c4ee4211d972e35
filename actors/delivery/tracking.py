"""The gov.gr mailbox after a posting: how far its service has come, and what citizens answered.

- `track_statuses`: every mailbox delivery not yet served (opened, or deemed served ten working days after the
  posting) is asked about; a status that moved on updates the `deliveries` row and is a note on the case, once per
  (posting, status). The note goes first: a row left behind by a crash is caught up next pass, and the note then
  is the same command again.
- `read_replies`: the organisation's replies after the last one read (`delivery_cursors`), each kept in
  `mailbox_replies`; one whose reference is the number of a case we posted to, from that case's citizen, is a note
  on it (once per reply id); any other is kept with no case for administrators (GET /api/admin/delivery/replies).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import structlog

from actors.cases import facts as case_facts
from actors.cases.shards import CaseShards
from actors.delivery import calendar, notes
from actors.delivery.adapters import RemoteRefused
from actors.delivery.mailbox import GovGrMailbox, PostingStatus, Reply
from infra.db import Conn
from messages.delivery import MailboxReply, ReplyCounts, StatusCounts

log = structlog.get_logger("delivery.mailbox")
PAGE = 200
REPLIES_CURSOR = "mailbox-replies"
# how far a posting has come: a status never goes back (a late answer of a replica, a clock moved in a test)
RANK = {"posted": 0, "notified": 1, "opened": 2, "deemed_served": 2}


def _athens(when: datetime) -> str:
    return when.astimezone(calendar.ATHENS).strftime("%d/%m/%Y %H:%M")


def status_note(status: PostingStatus, deemed_at: datetime | None) -> str:
    prefix = f"Η επίδοση στη θυρίδα gov.gr (ανάρτηση {status.posting_id})"
    if status.status == "notified":
        return f"{prefix}: ο/η πολίτης ειδοποιήθηκε (SMS, e-mail, Wallet)"
    if status.status == "opened":
        when = f" στις {_athens(status.opened_at)}" if status.opened_at else ""
        return f"{prefix}: ανοίχτηκε από τον πολίτη{when}"
    assert deemed_at is not None
    days = calendar.SERVICE_WORKING_DAYS
    return f"{prefix}: θεωρείται ότι επιδόθηκε στις {_athens(deemed_at)} ({days} εργάσιμες μετά την ανάρτηση)"


async def track_statuses(pool: asyncpg.Pool[asyncpg.Record], cases: CaseShards, mailbox: GovGrMailbox) -> StatusCounts:
    checked = changed = failed = 0
    after = uuid.UUID(int=0)
    while True:
        rows = await pool.fetch(
            """SELECT id, case_id, office_id, remote_ref, status FROM deliveries
               WHERE channel = 'mailbox' AND status NOT IN ('opened', 'deemed_served') AND remote_ref IS NOT NULL
                 AND id > $1
               ORDER BY id LIMIT $2""",
            after,
            PAGE,
        )
        for row in rows:
            checked += 1
            try:
                status = await mailbox.status(row["remote_ref"])
            except RemoteRefused as exc:  # a posting the mailbox does not know (any more): a person looks at the log
                failed += 1
                log.warning("mailbox_status_refused", delivery=str(row["id"]), posting=row["remote_ref"],
                            error=exc.detail)  # fmt: skip
                continue
            if RANK.get(status.status, 0) <= RANK.get(row["status"], 0):
                continue
            deemed_at = None
            if status.status == "deemed_served":
                # the mailbox says when; where it does not, the law's ten Greek working days after the posting
                deemed_at = status.deemed_served_at or calendar.deemed_served_at(status.posted_at)
            moved_at = {"notified": status.notified_at, "opened": status.opened_at}.get(status.status) or deemed_at
            key = notes.command_id("mailbox-status", status.posting_id, status.status)
            await notes.note(cases, row["case_id"], row["office_id"], key, status_note(status, deemed_at))
            await pool.execute(
                """UPDATE deliveries SET status = $2, status_at = $3, deemed_served_at = $4
                   WHERE id = $1 AND status = $5""",
                row["id"],
                status.status,
                moved_at or datetime.now(UTC),
                deemed_at,
                row["status"],
            )
            changed += 1
            log.info("mailbox_status_changed", case_id=str(row["case_id"]), posting=status.posting_id,
                     status=status.status)  # fmt: skip
        if len(rows) < PAGE:
            return StatusCounts(checked=checked, changed=changed, failed=failed)
        after = rows[-1]["id"]


async def _case_of(conn: Conn, reply: Reply) -> case_facts.CaseByNumber | None:
    """The case the reply answers: its reference is the number of a case we posted to the mailbox of, and it comes
    from that case's citizen (anyone else's reply is not put on someone's case)."""
    case = await case_facts.case_by_number(conn=conn, number=reply.reference)
    if case is None or case.citizen_afm != reply.afm:
        return None
    posted = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM deliveries WHERE case_id = $1 AND channel = 'mailbox')", case.id
    )
    return case if posted else None


async def read_replies(pool: asyncpg.Pool[asyncpg.Record], cases: CaseShards, mailbox: GovGrMailbox) -> ReplyCounts:
    read = noted = unmatched = 0
    after: str | None = await pool.fetchval("SELECT position FROM delivery_cursors WHERE name = $1", REPLIES_CURSOR)
    while page := await mailbox.replies(after):
        for reply in page:
            read += 1
            async with pool.acquire() as conn:
                case = await _case_of(conn, reply)
                await conn.execute(
                    """INSERT INTO mailbox_replies (id, afm, reference, body, received_at, case_id)
                       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING""",
                    reply.id,
                    reply.afm,
                    reply.reference,
                    reply.text,
                    reply.received_at,
                    case.id if case else None,
                )
            if case is None:
                unmatched += 1
                log.warning("mailbox_reply_unmatched", reply=reply.id, reference=reply.reference)
            else:
                text = f"Απάντηση του πολίτη από τη θυρίδα gov.gr ({_athens(reply.received_at)}): {reply.text}"
                await notes.note(cases, case.id, case.office_id, notes.command_id("mailbox-reply", reply.id), text)
                noted += 1
            # moved only once the reply is kept (and noted): a pass cut short reads it again, and records it once
            await pool.execute(
                """INSERT INTO delivery_cursors (name, position) VALUES ($1, $2)
                   ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, moved_at = now()""",
                REPLIES_CURSOR,
                reply.id,
            )
            after = reply.id
    return ReplyCounts(read=read, noted=noted, unmatched=unmatched)


async def unmatched_replies(conn: Conn, *, limit: int, after: str | None = None) -> list[MailboxReply]:
    """Replies that named no case of ours, oldest first, a page after the reply `after`."""
    rows = await conn.fetch(
        """SELECT id, afm, reference, body, received_at, read_at FROM mailbox_replies
           WHERE case_id IS NULL
             AND ($1::text IS NULL
                  OR (received_at, id) > (SELECT received_at, id FROM mailbox_replies WHERE id = $1))
           ORDER BY received_at, id LIMIT $2""",
        after,
        limit,
    )
    return [MailboxReply(id=r["id"], afm=r["afm"], reference=r["reference"], text=r["body"],
                         received_at=r["received_at"], read_at=r["read_at"]) for r in rows]  # fmt: skip

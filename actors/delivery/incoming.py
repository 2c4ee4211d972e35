"""Documents other authorities send us through ΚΣΗΔΕ: read from our sector's inbox page by page, protocolled here
(`kshde_incoming`, our local receipt number from a PostgreSQL sequence and the day's date), their files kept in the
object store, acknowledged to ΚΣΗΔΕ once with that number, and put on the case they concern.

A document concerns a case when its `RelatedDocumentProtocolNo` is the protocol number of one of our ΚΣΗΔΕ
deliveries: it is attached to that delivery's case with a note naming the sender. Any other belongs to no office
until a supervisor or an administrator attaches it to a case by hand (`attach_by_hand`; a supervisor only to a
case of their office); once attached, it is that case's office's, as the case's documents are.

Each step is recorded as it is done (the row, each file, the receipt, the attachment), and a pass skips only what is
done in full, so a pass cut short anywhere carries on next time with what is missing: a second receipt is never
sent, a file is never attached twice (its document id is derived from the protocol number, version and its place).
"""

from __future__ import annotations

import contextlib
import re
import uuid
from dataclasses import dataclass

import asyncpg
import structlog

from actors.cases import store as case_store
from actors.cases.documents import safe_filename
from actors.cases.lockstep import DELIVERY_ACTOR
from actors.cases.shards import CaseShards
from actors.delivery import notes
from actors.delivery.adapters import RemoteRefused
from actors.delivery.kshde import Incoming, Kshde
from infra.db import Conn
from infra.storage.base import ObjectStore
from messages.cases import DocumentView
from messages.delivery import InboxCounts, IncomingDocument, IncomingFile
from messages.errors import Conflict, InvalidInput, NotFound

log = structlog.get_logger("delivery.kshde")
KIND = "kshde"  # the case document's kind
INBOX_KEYS = "kshde/inbox"  # where the files of a document that waits for a case are kept
MAX_PAGES = 100_000  # a service that never answers an empty page must not keep a pass going for ever
_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
_NS = uuid.UUID("d2a4c1b7-8e65-4f0a-b3c9-5e7f1a2d4c80")


@dataclass(frozen=True)
class InboxDeps:
    pool: asyncpg.Pool[asyncpg.Record]
    cases: CaseShards
    store: ObjectStore


def document_id(protocol_no: str, version: int, ordinal: int) -> uuid.UUID:
    """The case document a file becomes: the same for the same file of the same version, whoever attaches it."""
    return uuid.uuid5(_NS, f"{protocol_no}/{version}/{ordinal}")


def media_type(header: str) -> str:
    """The type ΚΣΗΔΕ's answer names, without its parameters; octet-stream for what is no media type."""
    value = header.split(";", 1)[0].strip().lower()
    return value if _MEDIA_TYPE.match(value) else "application/octet-stream"


# -- the pass --------------------------------------------------------------------------------------------------------


async def read_inbox(deps: InboxDeps, kshde: Kshde) -> InboxCounts:
    counts = {"read": 0, "received": 0, "attached": 0, "unmatched": 0, "acknowledged": 0, "failed": 0}
    for page in range(1, MAX_PAGES + 1):
        documents = await kshde.inbox(page)
        if not documents:
            break
        done = await _done(deps.pool, documents)
        for document in documents:
            counts["read"] += 1
            if (document.protocol_no, document.version) in done:
                continue
            try:
                await _receive(deps, kshde, document, counts)
            except RemoteRefused as exc:  # this one document (gone, refused): the others still come in
                counts["failed"] += 1
                log.warning("kshde_incoming_refused", protocol_no=document.protocol_no, version=document.version,
                            error=exc.detail)  # fmt: skip
    # what a person attached while its attaching was cut short (the shard or the object store away)
    for row in await deps.pool.fetch(
        """SELECT protocol_no, version FROM kshde_incoming
           WHERE case_id IS NOT NULL AND attached_at IS NULL AND stored_at IS NOT NULL ORDER BY local_receipt_no"""
    ):
        if await attach_files(deps, row["protocol_no"], row["version"]):
            counts["attached"] += 1
    return InboxCounts(**counts)


async def _done(pool: asyncpg.Pool[asyncpg.Record], documents: list[Incoming]) -> set[tuple[str, int]]:
    """Of these, the ones handled in full: stored, acknowledged, and attached where they have a case."""
    rows = await pool.fetch(
        """SELECT i.protocol_no, i.version FROM kshde_incoming i
           JOIN unnest($1::text[], $2::int[]) AS k (protocol_no, version) USING (protocol_no, version)
           WHERE i.stored_at IS NOT NULL AND i.acknowledged_at IS NOT NULL
             AND (i.case_id IS NULL OR i.attached_at IS NOT NULL)""",
        [d.protocol_no for d in documents],
        [d.version for d in documents],
    )
    return {(r["protocol_no"], r["version"]) for r in rows}


async def _receive(deps: InboxDeps, kshde: Kshde, document: Incoming, counts: dict[str, int]) -> None:
    key = (document.protocol_no, document.version)
    row = await deps.pool.fetchrow("SELECT * FROM kshde_incoming WHERE protocol_no = $1 AND version = $2", *key)
    if row is None:
        row = await _protocol(deps.pool, document)
        counts["received"] += 1
        if row["case_id"] is None:
            counts["unmatched"] += 1
            log.info("kshde_unmatched", protocol_no=document.protocol_no, sender=document.sender,
                     related=document.related_protocol_no)  # fmt: skip
    if row["stored_at"] is None:
        await _store_files(deps, kshde, document, row["case_id"])
    if row["acknowledged_at"] is None:
        # the receipt says we have it: only once every file of it is kept here
        receipt_id = await kshde.acknowledge(document.protocol_no, document.version, row["local_receipt_id"])
        await deps.pool.execute(
            """UPDATE kshde_incoming SET acknowledged_at = now(), receipt_id = $3
               WHERE protocol_no = $1 AND version = $2""",
            *key,
            receipt_id,
        )
        counts["acknowledged"] += 1
    if row["case_id"] is not None and row["attached_at"] is None and await attach_files(deps, *key):
        counts["attached"] += 1


async def _protocol(pool: asyncpg.Pool[asyncpg.Record], document: Incoming) -> asyncpg.Record:
    """The document entered in our protocol (its local receipt number), with the delivery it answers if any."""
    async with pool.acquire() as conn, conn.transaction():
        delivery = None
        if document.related_protocol_no:
            delivery = await conn.fetchrow(
                """SELECT id, case_id, office_id FROM deliveries WHERE channel = 'kshde' AND remote_ref = $1
                   ORDER BY created_at DESC LIMIT 1""",
                document.related_protocol_no,
            )
        raw = document.raw
        row = await conn.fetchrow(
            """INSERT INTO kshde_incoming (protocol_no, version, sender, sender_department, subject,
                                           related_protocol_no, protocol_date, record, local_receipt_no,
                                           local_receipt_id, delivery_id, case_id, office_id, attached_by)
               SELECT $1::text, $2::int, $3::text, $4::text, $5::text, $6::text, $7::text, $8::jsonb, n,
                      n || '/' || to_char(now() AT TIME ZONE 'Europe/Athens', 'YYYY-MM-DD'),
                      $9::uuid, $10::uuid, $11::uuid, $12::text
               FROM (SELECT nextval('kshde_receipt_seq') AS n) AS s
               ON CONFLICT (protocol_no, version) DO NOTHING
               RETURNING *""",
            document.protocol_no,
            document.version,
            document.sender,
            raw.get("SenderSectorDepartment"),
            document.subject,
            document.related_protocol_no,
            raw.get("ProtocolDate"),
            raw,
            delivery["id"] if delivery else None,
            delivery["case_id"] if delivery else None,
            delivery["office_id"] if delivery else None,
            DELIVERY_ACTOR if delivery else None,
        )
        if row is None:  # another pass protocolled it meanwhile
            row = await conn.fetchrow(
                "SELECT * FROM kshde_incoming WHERE protocol_no = $1 AND version = $2",
                document.protocol_no,
                document.version,
            )
        assert row is not None
        return row


async def _store_files(deps: InboxDeps, kshde: Kshde, document: Incoming, case_id: uuid.UUID | None) -> None:
    """The document's content and each attachment, in the object store (under the case's document key where the
    case is known, else under the inbox's), each recorded as soon as it is stored."""
    number, version = document.protocol_no, document.version
    listed: list[tuple[str | None, str]] = [(None, document.file_name or f"kshde-{number}")]
    listed += await kshde.attachments(number)
    have = {r["ordinal"] for r in await deps.pool.fetch(
        "SELECT ordinal FROM kshde_incoming_files WHERE protocol_no = $1 AND version = $2", number, version
    )}  # fmt: skip
    for ordinal, (attachment_id, name) in enumerate(listed):
        if ordinal in have:
            continue
        content = await kshde.download(number, attachment_id)
        doc_id = document_id(number, version, ordinal)
        key = case_store.document_key(case_id, doc_id) if case_id else f"{INBOX_KEYS}/{doc_id}"
        content_type = media_type(content.content_type)
        stored = await deps.store.put(key, content.data, content_type)
        await deps.pool.execute(
            """INSERT INTO kshde_incoming_files (protocol_no, version, ordinal, attachment_id, document_id, file_name,
                                                 content_type, size_bytes, sha256, storage_key)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING""",
            number,
            version,
            ordinal,
            attachment_id,
            doc_id,
            safe_filename(name),
            content_type,
            stored.size,
            stored.sha256,
            key,
        )
    await deps.pool.execute(
        "UPDATE kshde_incoming SET stored_at = now() WHERE protocol_no = $1 AND version = $2", number, version
    )


# -- attaching --------------------------------------------------------------------------------------------------------


async def attach_files(deps: InboxDeps, protocol_no: str, version: int, by_name: str | None = None) -> bool:
    """The document's files made the case's documents, then a note naming the sender; False when it was attached
    before. Runs for one document take turns (the reader finishing what a person began, the person retrying)."""
    async with deps.pool.acquire() as conn:
        lock = f"kshde-incoming:{protocol_no}/{version}"
        await conn.execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", lock)
        try:
            return await _attach_files(deps, conn, protocol_no, version, by_name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", lock)


async def _attach_files(deps: InboxDeps, conn: Conn, protocol_no: str, version: int, by_name: str | None) -> bool:
    row = await conn.fetchrow(
        """SELECT i.*, u.name AS sender_name FROM kshde_incoming i LEFT JOIN kshde_units u ON u.code = i.sender
           WHERE protocol_no = $1 AND version = $2""",
        protocol_no,
        version,
    )
    if row is None or row["case_id"] is None or row["attached_at"] is not None:
        return False
    case_id, office_id = row["case_id"], row["office_id"]
    files = await conn.fetch(
        "SELECT * FROM kshde_incoming_files WHERE protocol_no = $1 AND version = $2 ORDER BY ordinal",
        protocol_no,
        version,
    )
    sender = f"{row['sender_name']} ({row['sender']})" if row["sender_name"] else row["sender"]
    moved: list[tuple[int, str, str]] = []  # (ordinal, inbox key, case key)
    for f in files:
        target = case_store.document_key(case_id, f["document_id"])
        if f["storage_key"] != target:  # waited in the inbox's keys: the case's copy first, the inbox's goes last
            await deps.store.put(target, await deps.store.get(f["storage_key"]), f["content_type"])
            moved.append((f["ordinal"], f["storage_key"], target))
        document = DocumentView(id=f["document_id"], case_id=case_id, kind=KIND, filename=f["file_name"],
                                content_type=f["content_type"], size_bytes=f["size_bytes"], sha256=f["sha256"],
                                created_by=DELIVERY_ACTOR, created_at=row["received_at"])  # fmt: skip
        reason = f"Έγγραφο μέσω ΚΣΗΔΕ από {sender}, αρ. πρωτ. {protocol_no}"
        await notes.attach(deps.cases, office_id, document, uuid.uuid5(f["document_id"], "attached"), reason)
    await notes.note(deps.cases, case_id, office_id, notes.command_id("kshde-incoming", protocol_no, str(version)),
                     _note(row, sender, len(files), by_name))  # fmt: skip
    async with conn.transaction():
        await conn.execute(
            "UPDATE kshde_incoming SET attached_at = now() WHERE protocol_no = $1 AND version = $2",
            protocol_no,
            version,
        )
        for ordinal, _, target in moved:
            await conn.execute(
                """UPDATE kshde_incoming_files SET storage_key = $4
                   WHERE protocol_no = $1 AND version = $2 AND ordinal = $3""",
                protocol_no,
                version,
                ordinal,
                target,
            )
    for _, key, _ in moved:
        with contextlib.suppress(Exception):  # a copy left under the inbox's keys costs space, not correctness
            await deps.store.delete(key)
    log.info("kshde_attached", protocol_no=protocol_no, version=version, case_id=str(case_id), by=row["attached_by"])
    return True


def _note(row: asyncpg.Record, sender: str, files: int, by_name: str | None) -> str:
    version = f" (έκδοση {row['version']})" if row["version"] > 1 else ""
    subject = f": «{row['subject']}»" if row["subject"] else ""
    text = f"Εισερχόμενο μέσω ΚΣΗΔΕ από {sender}, αρ. πρωτ. {row['protocol_no']}{version}{subject}"
    if row["delivery_id"] is not None:
        text += f", σε απάντηση της διαβίβασης με αρ. πρωτ. {row['related_protocol_no']}"
    else:
        text += f"; συνδέθηκε με την υπόθεση από {by_name or row['attached_by']}"
    return f"{text}. Αρ. πρωτ. παραλαβής {row['local_receipt_id']}; αρχεία: {files}"


async def attach_by_hand(
    deps: InboxDeps,
    *,
    protocol_no: str,
    version: int | None,
    case_id: uuid.UUID,
    office_scope: uuid.UUID | None,
    by: str,
    by_name: str | None = None,
) -> IncomingDocument:
    """A document that matched no case, given to `case_id` (of the office `office_scope` only, a supervisor's; None:
    any, an administrator's). Attaching it again to the same case answers the same; to another case, 409 (404 for a
    supervisor of another office: it is not theirs to know of)."""
    async with deps.pool.acquire() as conn:
        found = await case_store.numbers(conn=conn, case_ids=[case_id], office_id=office_scope)
        if case_id not in found:
            where = "of your office" if office_scope else "with this id"
            raise InvalidInput.at("/case_id", f"there is no case {where}", "not_found")
        office_id = found[case_id][0]
        async with conn.transaction():
            row = await conn.fetchrow(
                """SELECT protocol_no, version, case_id, office_id FROM kshde_incoming
                   WHERE protocol_no = $1 AND ($2::int IS NULL OR version = $2) AND stored_at IS NOT NULL
                   ORDER BY version DESC LIMIT 1 FOR UPDATE""",
                protocol_no,
                version,
            )
            if row is None or (office_scope is not None and row["office_id"] not in (None, office_scope)):
                raise NotFound(f"no incoming ΚΣΗΔΕ document {protocol_no}" + (f" version {version}" if version else ""))
            if row["case_id"] is not None and row["case_id"] != case_id:
                taken = await case_store.numbers(conn=conn, case_ids=[row["case_id"]], office_id=None)
                number = taken[row["case_id"]][1] if row["case_id"] in taken else str(row["case_id"])
                raise Conflict(f"ΚΣΗΔΕ document {protocol_no} is attached to case {number} already")
            if row["case_id"] is None:
                await conn.execute(
                    """UPDATE kshde_incoming SET case_id = $3, office_id = $4, attached_by = $5
                       WHERE protocol_no = $1 AND version = $2""",
                    row["protocol_no"],
                    row["version"],
                    case_id,
                    office_id,
                    by,
                )
    await attach_files(deps, row["protocol_no"], row["version"], by_name)
    async with deps.pool.acquire() as conn:
        [shown] = await _list(conn, "WHERE i.protocol_no = $1 AND i.version = $2", row["protocol_no"], row["version"])
    return shown


# -- reading ----------------------------------------------------------------------------------------------------------


async def listed(
    conn: Conn, *, attached: bool, office_id: uuid.UUID | None, limit: int, after: int | None = None
) -> list[IncomingDocument]:
    """Documents that wait for a case (they belong to no office), or those attached to a case (of `office_id` only,
    when given), in the order we protocolled them."""
    which = "i.case_id IS NOT NULL" if attached else "i.case_id IS NULL"
    return await _list(
        conn,
        f"""WHERE {which} AND i.stored_at IS NOT NULL AND ($1::uuid IS NULL OR i.office_id = $1)
              AND ($2::bigint IS NULL OR i.local_receipt_no > $2)
            ORDER BY i.local_receipt_no LIMIT $3""",
        office_id,
        after,
        limit,
    )


async def _list(conn: Conn, where: str, *args: object) -> list[IncomingDocument]:
    rows = await conn.fetch(
        f"""SELECT i.*, u.name AS sender_name,
                   coalesce((SELECT jsonb_agg(jsonb_build_object(
                                 'file_name', f.file_name, 'content_type', f.content_type,
                                 'size_bytes', f.size_bytes, 'document_id', f.document_id) ORDER BY f.ordinal)
                             FROM kshde_incoming_files f
                             WHERE f.protocol_no = i.protocol_no AND f.version = i.version), '[]') AS files
            FROM kshde_incoming i LEFT JOIN kshde_units u ON u.code = i.sender
            {where}""",  # noqa: S608 (fixed parts, bound values)
        *args,
    )
    numbers = await case_store.numbers(conn=conn, case_ids=[r["case_id"] for r in rows if r["case_id"]],
                                       office_id=None)  # fmt: skip
    return [_view(r, numbers.get(r["case_id"])) for r in rows]


def _view(row: asyncpg.Record, case: tuple[uuid.UUID, str] | None) -> IncomingDocument:
    return IncomingDocument(
        protocol_no=row["protocol_no"],
        version=row["version"],
        sender=row["sender"],
        sender_name=row["sender_name"],
        subject=row["subject"],
        related_protocol_no=row["related_protocol_no"],
        protocol_date=row["protocol_date"],
        local_receipt_no=row["local_receipt_no"],
        local_receipt_id=row["local_receipt_id"],
        received_at=row["received_at"],
        acknowledged=row["acknowledged_at"] is not None,
        files=[IncomingFile.model_validate(f) for f in row["files"]],
        case_id=row["case_id"],
        case_number=case[1] if case else None,
        attached_by=row["attached_by"],
        attached_at=row["attached_at"],
    )

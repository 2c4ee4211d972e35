"""The office's case list: folded trigram text search and filters, newest first, paged by keyset (no OFFSET).

A cursor is the (created_at, id) of the last row seen, so a page costs the same at row 20 and at row 200 000,
and rows inserted meanwhile never shift a page.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from datetime import datetime, time, timedelta
from typing import Any

from infra.db import Conn, like_escape
from messages.cases import CaseFilter, CasePage, CaseSummary
from messages.errors import InvalidInput

OPEN_FOR_DEADLINE = ("submitted", "in_progress")  # a suspended case's clock is stopped
AFM = re.compile(r"\d{9}")
CASE_NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{1,31}/\d{4}/\d{6}")


def encode_cursor(created_at: datetime, case_id: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(case_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        created_at, case_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(created_at), uuid.UUID(case_id)
    except (ValueError, TypeError) as exc:
        message = "not a cursor this API gave out"
        raise InvalidInput.at("/cursor", message, "cursor") from exc


def _where(f: CaseFilter, office_id: uuid.UUID, now: datetime) -> tuple[list[str], list[Any]]:
    args: list[Any] = [office_id]
    clauses = ["c.office_id = $1"]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    q = f.q.strip() if f.q else ""
    if AFM.fullmatch(q):  # a whole identifier: an exact index lookup, not a substring scan
        clauses.append(f"c.citizen->>'afm' = {arg(q)}")
    elif CASE_NUMBER.fullmatch(q):
        clauses.append(f"c.number = {arg(q.upper())}")
    elif q:
        # the same folding as the generated column; LIKE '%…%' is served by the trigram index
        clauses.append(f"c.search_text LIKE '%' || translate(kep_fold({arg(like_escape(q))}), 'ς', 'σ') || '%'")
    if f.status:
        clauses.append(f"c.status = ANY({arg([s.value for s in f.status])}::text[])")
    if f.unassigned:
        clauses.append("c.assignee IS NULL")
    elif f.assignee:
        clauses.append(f"c.assignee = {arg(f.assignee)}")
    if f.procedure_id:
        clauses.append(f"c.procedure_id = {arg(f.procedure_id)}")
    if f.created_from:
        clauses.append(f"c.created_at >= {arg(datetime.combine(f.created_from, time(), now.tzinfo))}")
    if f.created_to:
        end = datetime.combine(f.created_to + timedelta(days=1), time(), now.tzinfo)
        clauses.append(f"c.created_at < {arg(end)}")
    if f.overdue:
        clauses.append(f"c.status = ANY({arg(list(OPEN_FOR_DEADLINE))}::text[]) AND c.due_at < {arg(now)}")
    if f.cursor:
        created_at, case_id = decode_cursor(f.cursor)
        clauses.append(f"(c.created_at, c.id) < ({arg(created_at)}, {arg(case_id)})")
    return clauses, args


async def search_cases(*, conn: Conn, f: CaseFilter, office_id: uuid.UUID, now: datetime) -> CasePage:
    clauses, args = _where(f, office_id, now)
    rows = await conn.fetch(
        f"""SELECT c.id, c.number, c.status, c.procedure_id, c.procedure_title, c.assignee, c.due_at, c.created_at,
                   c.version, c.citizen->>'afm' AS afm,
                   concat_ws(' ', c.citizen->>'first_name', c.citizen->>'last_name') AS citizen_name
            FROM cases c WHERE {" AND ".join(clauses)}
            ORDER BY c.created_at DESC, c.id DESC LIMIT {f.limit + 1}""",  # noqa: S608 (fixed parts, bound values)
        *args,
    )
    items = [
        CaseSummary.model_validate(
            dict(r) | {"overdue": r["status"] in OPEN_FOR_DEADLINE and r["due_at"] is not None and r["due_at"] < now}
        )
        for r in rows[: f.limit]
    ]
    more = len(rows) > f.limit
    return CasePage(items=items, next_cursor=encode_cursor(items[-1].created_at, items[-1].id) if more else None)

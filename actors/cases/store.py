"""Case rows in PostgreSQL: keyword-only functions, each the SQL of one use case; no Ray here."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from actors.cases import idempotency, lifecycle, transfers
from actors.eugo import applications as eugo
from actors.forms import DefinitionError, check_submission
from actors.forms.store import problem_errors
from infra import outbox
from infra.db import Conn
from messages.cases import (
    CaseAction,
    CaseChanged,
    CaseCommand,
    CaseOpened,
    CaseStatus,
    CaseView,
    Channel,
    CommandResult,
    OpenCase,
    OpenCaseResult,
)
from messages.errors import ConfigurationError, InvalidInput, KepError, NotFound
from messages.events import CASE_CHANGED, CASE_OPENED
from messages.roles import Role

SOURCE = "urn:kep:backoffice:cases"

COMMAND_ONCE = "case_events_command_id_key"  # the unique index that applies a command once
_SELECT_CASE = """SELECT c.*, f.key AS form_key, f.version AS form_version
                  FROM cases c LEFT JOIN forms f ON f.id = c.form_id"""


# A command's audit event and its outbox event, written by the statement that changes the case (or alone):
# $1 case, $2 office, $3–$9 the audit event, $10–$13 the outbox event; $14 on are the change's own.
_EVENTS = f"""e AS (INSERT INTO case_events (case_id, office_id, type, actor, reason, request_id, old, new, command_id)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)),
              o AS (INSERT INTO outbox {outbox.COLUMNS} VALUES ($10, $11, $12, $13))"""  # noqa: S608


def _view(row: asyncpg.Record) -> CaseView:
    return CaseView.model_validate(dict(row))


async def get_case(*, conn: Conn, case_id: uuid.UUID, office_id: uuid.UUID | None) -> CaseView:
    """A case of the caller's office; another office's case is reported as not found, not forbidden. None: the
    case in whichever office holds it now (the system's own reads, e.g. after a transfer)."""
    row = await conn.fetchrow(
        _SELECT_CASE + " WHERE c.id = $1 AND ($2::uuid IS NULL OR c.office_id = $2)", case_id, office_id
    )
    if row is None:
        raise NotFound(f"case {case_id} not found")
    return _view(row)


def _scope(cmd: CaseCommand) -> uuid.UUID | None:
    """Whose case the command may act on: a person's, their office's only; the system's (the process, the
    renderer, the delivery readers), the case wherever it is now: a case handed over to another office keeps its
    process, which names the office it knew when it asked."""
    return None if Role.SYSTEM.value in cmd.roles else cmd.office_id


async def _existing(conn: Conn, cmd: OpenCase) -> CaseView | None:
    row = await conn.fetchrow(_SELECT_CASE + " WHERE c.id = $1 AND c.office_id = $2", cmd.case_id, cmd.office_id)
    return None if row is None else _view(row)


async def _next_number(conn: Conn, office_id: uuid.UUID, year: int) -> tuple[int, str]:
    # The upsert takes the counter row's lock, so concurrent openings in one office queue here and never clash.
    row = await conn.fetchrow(
        """
        WITH bumped AS (
            INSERT INTO case_number_counters AS c (office_id, year, last_value) VALUES ($1, $2, 1)
            ON CONFLICT (office_id, year) DO UPDATE SET last_value = c.last_value + 1
            RETURNING last_value
        )
        SELECT bumped.last_value, o.code FROM bumped, offices o WHERE o.id = $1
        """,
        office_id,
        year,
    )
    if row is None:
        raise NotFound(f"office {office_id} not found")
    seq: int = row["last_value"]
    return seq, f"{row['code']}/{year}/{seq:06d}"


# Opened at the counter or on the phone, a case is the employee's who took it in; one that arrives online (or
# through EUGO) waits for the process's assignment rule.
_TAKEN_BY_OPENER = frozenset({Channel.COUNTER, Channel.PHONE})


async def open_case(*, conn: Conn, cmd: OpenCase) -> OpenCaseResult:
    """Case row, audit event and outbox event in one transaction; once per case id and per Idempotency-Key."""
    async with conn.transaction():
        if cmd.idempotency is not None:
            stored = await idempotency.claim(
                conn=conn, office_id=cmd.office_id, subject=cmd.actor, idem=cmd.idempotency
            )
            if stored is not None:
                return OpenCaseResult(case=CaseView.model_validate(stored.answer), created=False)
        found = await _existing(conn, cmd)
        if found is not None:  # the same command re-sent after a crash
            return OpenCaseResult(case=found, created=False)
        view = await _insert_case(conn, cmd)
        if cmd.idempotency is not None:
            answer = view.model_dump(mode="json")
            await idempotency.remember(
                conn=conn, office_id=cmd.office_id, subject=cmd.actor, idem=cmd.idempotency, status=201, answer=answer
            )
        return OpenCaseResult(case=view, created=True)


async def _insert_case(conn: Conn, cmd: OpenCase) -> CaseView:
    proc = await conn.fetchrow(
        """SELECT id, mitos_id, active, duration_days, title_el, form_key, bpmn_process_key,
                  NOT EXISTS (SELECT 1 FROM procedure_offices WHERE procedure_id = p.id)
                  OR EXISTS (SELECT 1 FROM procedure_offices WHERE procedure_id = p.id AND office_id = $2)
                  AS offered
           FROM procedures p WHERE id = $1""",
        cmd.request.procedure_id,
        cmd.office_id,
    )
    if proc is None or not proc["active"] or not proc["offered"]:
        reason = (
            "does not exist"
            if proc is None
            else "is not active"
            if not proc["active"]
            else "is not offered by this office"
        )
        raise InvalidInput.at("/procedure_id", f"procedure {reason}", "procedure")
    form_id, form_data = None, cmd.request.form_data
    if proc["form_key"]:
        form = await conn.fetchrow(
            "SELECT id, definition FROM forms WHERE key = $1 ORDER BY version DESC LIMIT 1", proc["form_key"]
        )
        if form is None:
            raise ConfigurationError(f"procedure {proc['id']} names form {proc['form_key']!r}, which is missing")
        form_data = _checked_form_data(form["definition"], cmd.request.form_data)
        form_id = form["id"]
    now = datetime.now(UTC)
    seq, number = await _next_number(conn, cmd.office_id, now.year)
    due = now + timedelta(days=proc["duration_days"]) if proc["duration_days"] else None
    status = CaseStatus.SUBMITTED
    assignee = cmd.actor if cmd.request.channel in _TAKEN_BY_OPENER else None
    await conn.execute(
        """INSERT INTO cases (id, office_id, year, seq, number, procedure_id, status, citizen, form_data, channel,
                              due_at, assignee, created_by, created_at, updated_at, status_changed_at,
                              procedure_title, form_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $15, $16, $17)""",
        cmd.case_id,
        cmd.office_id,
        now.year,
        seq,
        number,
        cmd.request.procedure_id,
        status.value,
        cmd.request.citizen.model_dump(mode="json"),
        form_data,
        cmd.request.channel.value,
        due,
        assignee,
        cmd.actor,
        now,
        {status.value: now.isoformat()},
        proc["title_el"],
        form_id,
    )
    view = await get_case(conn=conn, case_id=cmd.case_id, office_id=cmd.office_id)
    await _record_event(conn, view, cmd, reason=cmd.request.note)
    envelope = CASE_OPENED.envelope(
        CaseOpened(
            case_id=view.id,
            number=view.number,
            office_id=view.office_id,
            procedure_id=view.procedure_id,
            status=view.status,
            channel=view.channel,
            opened_by=cmd.actor,
            due_at=view.due_at,
            process_key=proc["bpmn_process_key"],
        ),
        source=SOURCE,
        subject=str(view.id),
        correlationid=cmd.request_id,
    )
    await outbox.enqueue(conn, envelope, routing_key=CASE_OPENED.routing_key(_office_code(number), proc["mitos_id"]))
    return view


def _office_code(number: str) -> str:
    return number.split("/", 1)[0]


async def _record_event(conn: Conn, view: CaseView, cmd: OpenCase, reason: str | None) -> None:
    new: dict[str, Any] = view.model_dump(mode="json")
    await conn.execute(
        """
        INSERT INTO case_events (case_id, office_id, type, actor, reason, request_id, old, new)
        VALUES ($1, $2, 'case.opened', $3, $4, $5, NULL, $6)
        """,
        view.id,
        view.office_id,
        cmd.actor,
        reason,
        cmd.request_id,
        new,
    )


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _checked_form_data(definition: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """What the form keeps of `data` (see `check_submission`), or InvalidInput with pointers under /form_data."""
    try:
        checked = check_submission(definition, data)
    except DefinitionError as exc:  # saved before a check existed, or written around the API
        raise ConfigurationError(f"the case's form cannot be validated: {exc}") from exc
    if checked.errors:
        raise InvalidInput("the form's data is not valid", problem_errors(checked.errors, "/form_data"))
    return checked.data


async def _check_assignee(conn: Conn, assignee: str, office_id: uuid.UUID) -> None:
    found = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM users WHERE subject = $1 AND office_id = $2 AND active)", assignee, office_id
    )
    if not found:
        message = f"{assignee!r} is not an active user of this office"
        raise InvalidInput.at("/assignee", message, "unknown_user")


# what a keyed request answered with, when it was first applied
_CREATED = frozenset({CaseAction.NOTE, CaseAction.ATTACH})


async def apply_command(
    *, conn: Conn, cmd: CaseCommand, before_commit: Callable[[], None] | None = None
) -> CommandResult:
    """One action on a case: the row, its audit event and its outbox event in one transaction, applied once per
    command id (its event is unique per command id: a command re-sent after a crash finds it) and once per
    Idempotency-Key (a replay gets the first answer)."""
    try:
        async with conn.transaction():
            if cmd.idempotency is not None:
                stored = await idempotency.claim(
                    conn=conn, office_id=cmd.office_id, subject=cmd.actor, idem=cmd.idempotency
                )
                if stored is not None:
                    return await _replay(conn, cmd, stored)
            try:
                view = await _apply(conn, cmd)
            except KepError:
                # the case moved on since this very command was applied (a task's second delivery): done already
                if await _applied(conn, cmd.command_id):
                    return await _as_it_is(conn, cmd)
                raise
            if cmd.idempotency is not None:
                answer = cmd.document.model_dump(mode="json") if cmd.document else view.model_dump(mode="json")
                status = 201 if cmd.action in _CREATED else 200
                await idempotency.remember(
                    conn=conn,
                    office_id=cmd.office_id,
                    subject=cmd.actor,
                    idem=cmd.idempotency,
                    status=status,
                    answer=answer,
                )
            if before_commit is not None:
                before_commit()
            return CommandResult(case=view)
    except asyncpg.UniqueViolationError as exc:
        # the same command applied before (a shard that crashed after its commit, re-sent): its event is there, or
        # its document is, which an attachment inserts first
        if exc.constraint_name != COMMAND_ONCE and not await _applied(conn, cmd.command_id):
            raise
        return await _as_it_is(conn, cmd)


async def _as_it_is(conn: Conn, cmd: CaseCommand) -> CommandResult:
    """The answer to a command applied before: the case as it is now (a transfer's, in the office it went to)."""
    office = None if cmd.action is CaseAction.TRANSFER else _scope(cmd)
    return CommandResult(case=await get_case(conn=conn, case_id=cmd.case_id, office_id=office))


async def _applied(conn: Conn, command_id: uuid.UUID) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM case_events WHERE command_id = $1)", command_id))


async def _replay(conn: Conn, cmd: CaseCommand, stored: idempotency.Stored) -> CommandResult:
    if cmd.action is CaseAction.ATTACH:  # the answer was the document; the case is as it is now
        case = await get_case(conn=conn, case_id=cmd.case_id, office_id=_scope(cmd))
    else:
        case = CaseView.model_validate(stored.answer)
    return CommandResult(case=case, replayed=True, answer=stored.answer)


async def _apply(conn: Conn, cmd: CaseCommand) -> CaseView:
    # Four round trips: BEGIN, this locked read, one statement that writes the row, its audit event and its outbox
    # event together, COMMIT. Every value the two events carry is known once the plan is made.
    row = await conn.fetchrow(
        """SELECT c.*, p.mitos_id, p.bpmn_process_key, o.code AS office_code, f.key AS form_key,
                  f.version AS form_version
           FROM cases c JOIN procedures p ON p.id = c.procedure_id JOIN offices o ON o.id = c.office_id
           LEFT JOIN forms f ON f.id = c.form_id
           WHERE c.id = $1 AND ($2::uuid IS NULL OR c.office_id = $2) FOR UPDATE OF c""",
        cmd.case_id,
        _scope(cmd),
    )
    if row is None:
        raise NotFound(f"case {cmd.case_id} not found")
    office_id: uuid.UUID = row["office_id"]
    state = lifecycle.CaseState(
        status=CaseStatus(row["status"]),
        version=row["version"],
        assignee=row["assignee"],
        due_at=row["due_at"],
        suspended_at=row["suspended_at"],
        suspended_from=CaseStatus(row["suspended_from"]) if row["suspended_from"] else None,
        office_id=office_id,
    )
    now = datetime.now(UTC)
    form_data = cmd.form_data
    if cmd.action is CaseAction.UPDATE_FORM and row["form_id"] is not None:
        definition = await conn.fetchval("SELECT definition FROM forms WHERE id = $1", row["form_id"])
        form_data = _checked_form_data(definition, cmd.form_data or {})
    command = lifecycle.Command(
        cmd.action, cmd.actor, cmd.roles, cmd.version, cmd.reason, cmd.days, cmd.assignee, form_data, cmd.to_office_id
    )
    plan = lifecycle.plan(state, command, now)
    if cmd.action is CaseAction.ASSIGN and cmd.assignee is not None and plan.changes:
        await _check_assignee(conn, cmd.assignee, office_id)
    if cmd.action is CaseAction.TRANSFER:
        await transfers.hand_over(conn, cmd, row, now)
    if cmd.message is not None and cmd.action is not CaseAction.NOTE:
        raise InvalidInput("only a note carries a message to or from the citizen")
    if cmd.action is CaseAction.ATTACH:
        if cmd.document is None:
            raise InvalidInput("an attach command carries its document")
        await _insert_document(conn, cmd, office_id)
    if not plan.changes and cmd.action not in _CREATED:
        return _view(row)  # nothing to change

    note = cmd.action is CaseAction.NOTE
    document = cmd.document.model_dump(mode="json", exclude={"url"}) if cmd.document else None
    event = [
        f"case.{cmd.action.past}",
        cmd.actor,
        None if note else cmd.reason,
        cmd.request_id,
        None if note or document else {k: _jsonable(row[k]) for k in plan.changes},
        {"note": cmd.reason}
        if note
        else {"document": document}
        if document
        else {k: _jsonable(v) for k, v in plan.changes.items()},
        cmd.command_id,
    ]
    after = {**row, **plan.changes}
    kind = CASE_CHANGED[cmd.action]
    envelope = kind.envelope(
        CaseChanged(
            case_id=cmd.case_id,
            number=row["number"],
            office_id=after["office_id"],
            procedure_id=row["procedure_id"],
            action=cmd.action,
            status=after["status"],
            assignee=after["assignee"],
            due_at=after["due_at"],
            version=row["version"] + 1 if plan.changes else row["version"],
            actor=cmd.actor,
            reason=None if note else cmd.reason,
            process_key=row["bpmn_process_key"],
            channel=Channel(row["channel"]),
            from_office_id=office_id if cmd.action is CaseAction.TRANSFER else None,
        ),
        source=SOURCE,
        subject=str(cmd.case_id),
        correlationid=cmd.request_id,
    )
    args = [
        cmd.case_id,
        office_id,
        *event,
        *outbox.values(envelope, kind.routing_key(row["office_code"], row["mitos_id"])),
    ]
    if not plan.changes:  # a note or a document: the case row stays as it is
        await conn.execute(f"WITH {_EVENTS} SELECT 1", *args)
        if cmd.message is not None:
            m = cmd.message
            await eugo.add_message(
                conn=conn, message_id=m.id, application_id=m.application_id, sender=m.sender,
                author=cmd.actor, text=m.text,
            )  # fmt: skip
        return _view(row)
    columns = list(plan.changes)
    sets = ", ".join(f"{c} = ${i + 15}" for i, c in enumerate(columns))
    stamp = ""
    if "status" in plan.changes:
        status = f"${len(columns) + 15}::text"
        stamp = f", status_changed_at = status_changed_at || jsonb_build_object({status}, $14::timestamptz)"
    updated = await conn.fetchrow(
        f"""WITH c AS (UPDATE cases SET {sets}, version = version + 1, updated_at = $14{stamp} WHERE id = $1
                       RETURNING *),
                 {_EVENTS}
            SELECT c.*, f.key AS form_key, f.version AS form_version
            FROM c LEFT JOIN forms f ON f.id = c.form_id""",  # noqa: S608 (fixed parts, bound values)
        *args,
        now,
        *plan.changes.values(),
        *([plan.changes["status"]] if stamp else []),
    )
    assert updated is not None  # this transaction holds the row's lock
    return _view(updated)


async def _insert_document(conn: Conn, cmd: CaseCommand, office_id: uuid.UUID) -> None:
    d = cmd.document
    assert d is not None
    await conn.execute(
        """INSERT INTO documents (id, case_id, office_id, kind, filename, content_type, size_bytes, sha256,
                                  storage_key, created_by, created_at, template_id, inputs_hash, verification_code,
                                  signed)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)""",
        d.id,
        cmd.case_id,
        office_id,
        d.kind,
        d.filename,
        d.content_type,
        d.size_bytes,
        d.sha256,
        document_key(cmd.case_id, d.id),
        d.created_by,
        d.created_at,
        d.template_id,
        d.inputs_hash,
        d.verification_code,
        d.signed,
    )


def document_key(case_id: uuid.UUID, document_id: uuid.UUID) -> str:
    return f"cases/{case_id}/documents/{document_id}"


async def numbers(
    *, conn: Conn, case_ids: list[uuid.UUID], office_id: uuid.UUID | None
) -> dict[uuid.UUID, tuple[uuid.UUID, str]]:
    """Each case's office and number, of the office `office_id` only (None: any office)."""
    rows = await conn.fetch(
        "SELECT id, office_id, number FROM cases WHERE id = ANY($1::uuid[]) AND ($2::uuid IS NULL OR office_id = $2)",
        case_ids,
        office_id,
    )
    return {r["id"]: (r["office_id"], r["number"]) for r in rows}

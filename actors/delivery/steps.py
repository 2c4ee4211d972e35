"""The case process's delivery steps (bpmn_bridge/processes/kep_case.bpmn, after the certificate): which way the
result goes, and the going.

- `delivery-lookup`: a procedure whose results go to an authority (its ΚΣΗΔΕ recipient) is sent there; otherwise
  ΚΕΔ says whether the citizen is registered in ΕΜΕπ: registered, the gov.gr mailbox; not (or no electronic
  delivery configured, or no ΑΦΜ), the office hands it over (a user task).
- `delivery-mailbox`: the certificate posted to the citizen's mailbox (the effect's idempotency key is the
  posting's); a citizen who left ΕΜΕπ since the lookup, or a document the mailbox will never take (over its size),
  is a BPMN error: the office hands it over.
- `delivery-kshde`: the certificate sent through ΚΣΗΔΕ with the case's documents as attachments. ΚΣΗΔΕ takes no
  idempotency key, so the document is sent pending (not final), its protocol number recorded at once, and only
  then completed by its attachments, the last one final, each sent only if ΚΣΗΔΕ does not list it already: a run
  after a crash carries on with the recorded document, and a pending copy left by a crash before its number was
  recorded never reaches the recipient.
- `delivery-handover`: the office handed it over in person.

Each remote call is an effect of the ledger (`ledger.once`); each step's outcome is a note on the case's timeline
with the process as actor (a case command keyed by the task's effect key, like every step of the process) and a
row of `deliveries`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg
import structlog

from actors.cases import facts as case_facts
from actors.cases.shards import CaseShards
from actors.cases.store import document_key
from actors.cases.topics import act_as_process, case_id_of
from actors.delivery import ledger
from actors.delivery.configured import Live
from actors.delivery.kshde import Kshde
from actors.delivery.mailbox import NotRegistered
from infra.storage.base import ObjectStore
from messages.cases import CaseAction
from messages.errors import InvalidInput
from messages.tasks import BusinessError, TaskCommand, TaskFailed, Topic, TopicOptions

log = structlog.get_logger("delivery")
Channel = Literal["mailbox", "kshde", "physical"]
CHANNEL_VARIABLE = "deliveryChannel"
NOT_REGISTERED = "not-registered"  # the BPMN error of a mailbox step whose citizen has no mailbox (any more)
CrashPoint = Literal["after_remote"]


@dataclass
class DeliveryDeps:
    pool: asyncpg.Pool[asyncpg.Record]
    cases: CaseShards
    adapters: Live  # as configured now (settings and what administrators saved)
    store: ObjectStore
    crash: CrashPoint | None = None  # fault injection: die after a remote call answered, before it was recorded

    def crash_at(self, point: CrashPoint) -> None:
        if self.crash == point:
            log.warning("delivery_crash_injected", point=point)
            os._exit(1)


Handler = Callable[[TaskCommand, DeliveryDeps], Awaitable[dict[str, Any]]]


async def _facts(task: TaskCommand, deps: DeliveryDeps) -> case_facts.DeliveryFacts:
    async with deps.pool.acquire() as conn:
        found = await case_facts.delivery_facts(conn=conn, case_id=case_id_of(task))
    if found is None:
        raise TaskFailed(f"case {task.business_key} does not exist", retry=False)
    return found


def _key(task: TaskCommand, effect: str) -> ledger.EffectKey:
    return ledger.EffectKey(task.process_instance_id, task.activity_instance_id, effect)


async def _note(task: TaskCommand, deps: DeliveryDeps, facts: case_facts.DeliveryFacts, effect: str, text: str) -> None:
    await act_as_process(task, deps.cases, facts.office_id, effect, CaseAction.NOTE, reason=text)


async def _record(
    deps: DeliveryDeps,
    task: TaskCommand,
    facts: case_facts.DeliveryFacts,
    channel: Channel,
    status: str,
    *,
    remote_ref: str | None = None,
    recipient: str | None = None,
    document_id: uuid.UUID | None = None,
) -> None:
    """The delivery's row, once per step (its id is the step's)."""
    delivery_id = uuid.uuid5(_key(task, "delivery").idempotency_key, channel)
    await deps.pool.execute(
        """INSERT INTO deliveries (id, case_id, office_id, channel, document_id, recipient, remote_ref, status)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING""",
        delivery_id,
        case_id_of(task),
        facts.office_id,
        channel,
        document_id,
        recipient,
        remote_ref,
        status,
    )


async def lookup(task: TaskCommand, deps: DeliveryDeps) -> dict[str, Any]:
    facts = await _facts(task, deps)
    channel: Channel
    if facts.delivery_recipient:
        channel, why = "kshde", f"διαβίβαση μέσω ΚΣΗΔΕ στον φορέα {facts.delivery_recipient}"
    elif (adapters := await deps.adapters.get()).ked is None or adapters.mailbox is None:
        channel, why = "physical", "η ηλεκτρονική επίδοση δεν είναι διαθέσιμη: παράδοση στο γραφείο"
    elif not facts.citizen_afm:
        channel, why = "physical", "χωρίς ΑΦΜ: παράδοση στο γραφείο"
    else:
        ked = adapters.ked
        afm = facts.citizen_afm

        async def ask(attempt: ledger.Attempt) -> dict[str, Any]:
            try:
                contacts = await ked.lookup(afm, on_behalf_of=f"case:{facts.number}")
            except InvalidInput as exc:  # an ΑΦΜ ΚΕΔ would refuse: the office sees to it
                return {"registered": False, "invalid": exc.detail}
            return {"registered": contacts.registered}

        found = await ledger.once(deps.pool, _key(task, "ked-lookup"), case_id=case_id_of(task), adapter=ked.name,
                                  call=ask)  # fmt: skip
        if found.get("invalid"):
            channel, why = "physical", f"ΚΕΔ: {found['invalid']}: παράδοση στο γραφείο"
        elif found["registered"]:
            channel, why = "mailbox", "ΚΕΔ: εγγεγραμμένος/η στο ΕΜΕπ: επίδοση στη θυρίδα gov.gr"
        else:
            channel, why = "physical", "ΚΕΔ: δεν είναι εγγεγραμμένος/η στο ΕΜΕπ: παράδοση στο γραφείο"
    await _note(task, deps, facts, "delivery-route", f"Τρόπος επίδοσης: {why}")
    return {CHANNEL_VARIABLE: channel}


async def _certificate(
    deps: DeliveryDeps, facts: case_facts.DeliveryFacts, case_id: uuid.UUID
) -> tuple[uuid.UUID, bytes]:
    if facts.certificate is None:
        raise TaskFailed(f"case {facts.number} has no certificate to deliver", retry=False)
    return facts.certificate.id, await deps.store.get(document_key(case_id, facts.certificate.id))


async def to_mailbox(task: TaskCommand, deps: DeliveryDeps) -> dict[str, Any]:
    mailbox = (await deps.adapters.get()).mailbox
    if mailbox is None:
        raise BusinessError(NOT_REGISTERED, "the gov.gr mailbox is not configured here any more")
    facts = await _facts(task, deps)
    case_id = case_id_of(task)
    document_id, pdf = await _certificate(deps, facts, case_id)
    afm = facts.citizen_afm or ""

    async def post(attempt: ledger.Attempt) -> dict[str, Any]:
        try:
            receipt = await mailbox.post_document(
                afm=afm, pdf=pdf, title=f"{facts.procedure_title} ({facts.number})", doc_type="certificate",
                reference=facts.number, idempotency_key=str(attempt.idempotency_key),
            )  # fmt: skip
        except NotRegistered:
            return {"registered": False}
        except InvalidInput as exc:  # what the mailbox will never take (over its size): the office hands it over
            return {"registered": True, "refused": exc.detail}
        deps.crash_at("after_remote")
        return {"registered": True, "posting_id": receipt.posting_id, "posted_at": receipt.posted_at.isoformat()}

    posted = await ledger.once(deps.pool, _key(task, "mailbox-post"), case_id=case_id, adapter=mailbox.name, call=post)
    if not posted["registered"] or posted.get("refused"):
        why = posted.get("refused") or "ο/η πολίτης δεν είναι πλέον εγγεγραμμένος/η στο ΕΜΕπ"
        await _note(task, deps, facts, "delivery-refused",
                    f"Η θυρίδα gov.gr δεν δέχτηκε την επίδοση: {why}: παράδοση στο γραφείο")  # fmt: skip
        raise BusinessError(NOT_REGISTERED, f"the mailbox took no posting: {why}")
    await _record(deps, task, facts, "mailbox", "posted", remote_ref=posted["posting_id"], document_id=document_id)
    await _note(task, deps, facts, "delivery-done",
                f"Αναρτήθηκε στη θυρίδα gov.gr του πολίτη (ανάρτηση {posted['posting_id']})")  # fmt: skip
    return {"deliveryRef": posted["posting_id"]}


async def to_authority(task: TaskCommand, deps: DeliveryDeps) -> dict[str, Any]:
    kshde = (await deps.adapters.get()).kshde
    if kshde is None:
        raise TaskFailed("ΚΣΗΔΕ is not configured (KEP_KSHDE_* settings)", retry=False)
    facts = await _facts(task, deps)
    recipient = facts.delivery_recipient
    if not recipient:
        raise TaskFailed(f"the procedure of case {facts.number} names no ΚΣΗΔΕ recipient", retry=False)
    case_id = case_id_of(task)
    document_id, pdf = await _certificate(deps, facts, case_id)

    async def send(attempt: ledger.Attempt) -> dict[str, Any]:
        return await _send_once(deps, kshde, attempt, facts, case_id, recipient, pdf)

    sent = await ledger.once(deps.pool, _key(task, "kshde-send"), case_id=case_id, adapter=kshde.name, call=send)
    await _record(deps, task, facts, "kshde", "sent", remote_ref=sent["protocol_no"], recipient=recipient,
                  document_id=document_id)  # fmt: skip
    await _note(task, deps, facts, "delivery-done",
                f"Διαβιβάστηκε μέσω ΚΣΗΔΕ στον φορέα {recipient} (αρ. πρωτ. {sent['protocol_no']})")  # fmt: skip
    return {"deliveryRef": sent["protocol_no"]}


async def _send_once(
    deps: DeliveryDeps,
    kshde: Kshde,
    attempt: ledger.Attempt,
    facts: case_facts.DeliveryFacts,
    case_id: uuid.UUID,
    recipient: str,
    pdf: bytes,
) -> dict[str, Any]:
    attachments = [(_unique(d.filename, i), await deps.store.get(document_key(case_id, d.id)))
                   for i, d in enumerate(facts.attachments)]  # fmt: skip
    protocol_no = attempt.remote_ref
    if protocol_no is None:
        version, _ = await kshde.org_chart()
        sent = await kshde.send(
            subject=f"{facts.procedure_title}: {facts.number}", file_name=f"{facts.number.replace('/', '-')}.pdf",
            pdf=pdf, recipients=[recipient], local_protocol_no=facts.number, org_chart_version=version,
            pending=True,
        )  # fmt: skip
        protocol_no = sent.protocol_no
        await attempt.progress(protocol_no)
        deps.crash_at("after_remote")
    await kshde.complete(protocol_no, attachments, pdf=pdf)
    return {"protocol_no": protocol_no}


def _unique(filename: str, index: int) -> str:
    """ΚΣΗΔΕ tells a document's attachments apart by name, and a case may hold two files of one name."""
    return f"{index + 1:02d}-{filename}"


async def handover(task: TaskCommand, deps: DeliveryDeps) -> dict[str, Any]:
    facts = await _facts(task, deps)
    document_id = facts.certificate.id if facts.certificate else None
    await _record(deps, task, facts, "physical", "handed_over", document_id=document_id)
    await _note(task, deps, facts, "delivery-done", "Παραδόθηκε στον πολίτη στο γραφείο")
    return {}


LOCK_MS = 60_000  # a remote call with its retries fits in it; the bridge extends it while the worker holds it
TABLE: tuple[tuple[TopicOptions, Handler], ...] = (
    (TopicOptions("delivery-lookup", variables=(), lock_ms=LOCK_MS), lookup),
    (TopicOptions("delivery-mailbox", variables=(), lock_ms=LOCK_MS), to_mailbox),
    (TopicOptions("delivery-kshde", variables=(), lock_ms=LOCK_MS), to_authority),
    (TopicOptions("delivery-handover", variables=(), lock_ms=LOCK_MS), handover),
)
OPTIONS: dict[str, TopicOptions] = {options.topic: options for options, _ in TABLE}


def topics(deps: DeliveryDeps) -> dict[str, Topic]:
    def bound(handler: Handler) -> Callable[[TaskCommand], Awaitable[dict[str, Any]]]:
        async def run(task: TaskCommand) -> dict[str, Any]:
            return await handler(task, deps)

        return run

    return {options.topic: Topic(options, bound(handler)) for options, handler in TABLE}

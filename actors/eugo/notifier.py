"""The `kep-eugo-notifier` actor: an English e-mail to an EUGO applicant when their case changes status, and one
to the administrators about applications no routing rule could send to an office.

Its own quorum queue (`eugo.notifications`, bound to `case.#`, with a dead-letter queue), consumed as every consumer
here (infra/consumer.py, re-subscribed by its ConsumerGroup's watchdog). Each status change of a case that an EUGO
application opened is sent once: the event's id is written to `eugo_notifications` in the transaction that sends
the mail, so a redelivered event finds it and sends nothing; a mail the server refuses rolls the row back and the
event is delivered again. (A crash between the server's acceptance and the commit sends that one mail twice: SMTP has
no idempotency key to close that gap.)

Every ALERT_EVERY_S the actor also mails the active administrators who have an address one list of the unrouted
applications not yet alerted (the citizen was told theirs waits for an office), and marks them in the same
transaction: each is in one alert, unless a crash comes between the server's acceptance and the commit.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
import asyncpg
import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from actors.ray_options import actor_class
from infra import amqp
from infra.consumer import CONSUMER_STALE_S, ConsumerGroup
from infra.db import Conn, create_pool
from infra.logging import configure_logging
from infra.settings import Settings
from messages.cases import CaseAction, CaseChanged, CaseStatus
from messages.events import CASE_EVENTS, case_event

log = structlog.get_logger("eugo.notifier")
NOTIFIER_QUEUE = "eugo.notifications"
NOTIFIER_ACTOR = "kep-eugo-notifier"
SMTP_TIMEOUT_S = 15.0
ALERT_EVERY_S = 60.0
ALERT_MAX = 100  # applications per alert; more wait for the next
# the actions that change a case's status; a note, an attachment or an assignment is no news for the citizen
STATUS_ACTIONS = frozenset(
    {CaseAction.START, CaseAction.SUSPEND, CaseAction.RESUME, CaseAction.COMPLETE, CaseAction.REJECT,
     CaseAction.CLOSE, CaseAction.REOPEN}
)  # fmt: skip
STATUS_TEXT = {
    CaseStatus.SUBMITTED: "submitted and waiting to be processed",
    CaseStatus.IN_PROGRESS: "being processed",
    CaseStatus.SUSPENDED: "on hold: the office waits for something from you (see the messages of your application)",
    CaseStatus.COMPLETED: "completed: the documents issued are in your application",
    CaseStatus.REJECTED: "rejected (see the messages of your application)",
    CaseStatus.CLOSED: "closed",
}


@dataclass(frozen=True)
class Smtp:
    """Where mail goes, from `KEP_SMTP_URL`: smtp://[user:password@]host[:port][?starttls=true], or smtps://."""

    hostname: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool
    start_tls: bool

    @classmethod
    def from_url(cls, url: str) -> Smtp:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("KEP_SMTP_URL must be smtp://host[:port] or smtps://host[:port]")
        tls = parts.scheme == "smtps"
        starttls = parse_qs(parts.query).get("starttls", ["false"])[0].lower() == "true"
        return cls(
            parts.hostname, parts.port or (465 if tls else 25),
            unquote(parts.username) if parts.username else None, unquote(parts.password) if parts.password else None,
            tls, starttls,
        )  # fmt: skip

    def __repr__(self) -> str:  # never the password
        return f"Smtp({self.hostname}:{self.port}, tls={self.use_tls}, starttls={self.start_tls})"

    async def send(self, message: EmailMessage) -> None:
        await aiosmtplib.send(
            message, hostname=self.hostname, port=self.port, username=self.username, password=self.password,
            use_tls=self.use_tls, start_tls=self.start_tls, timeout=SMTP_TIMEOUT_S,
        )  # fmt: skip


def mail(*, sender: str, to: str, name: str, number: str, procedure: str, status: CaseStatus) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"] = sender, to
    message["Subject"] = f"Your application {number}: {status.value.replace('_', ' ')}"
    message.set_content(
        f"Dear {name},\n\nyour application {number} ({procedure}) is now {STATUS_TEXT[status]}.\n\n"
        "You can follow it, read the office's messages and answer them where you applied, after signing in with your"
        " national eID.\n\nEUGO Greece, Point of Single Contact\n"
    )
    return message


async def notify(*, conn: Conn, smtp: Smtp, sender: str, event_id: uuid.UUID, change: CaseChanged) -> bool:
    """True when this event sent a mail; False when it is no status change of an EUGO case, or was sent before."""
    if change.action not in STATUS_ACTIONS:
        return False
    row = await conn.fetchrow(
        """SELECT a.id, a.email, coalesce(p.title_en, p.title_el) AS procedure, ap.given_name, ap.family_name
           FROM eugo_applications a JOIN applicants ap ON ap.id = a.applicant_id
                JOIN procedures p ON p.id = a.procedure_id
           WHERE a.case_id = $1""",
        change.case_id,
    )
    if row is None:
        return False
    async with conn.transaction():
        first = await conn.fetchval(
            """INSERT INTO eugo_notifications (event_id, application_id, email, status) VALUES ($1, $2, $3, $4)
               ON CONFLICT (event_id) DO NOTHING RETURNING true""",
            event_id, row["id"], row["email"], change.status.value,
        )  # fmt: skip
        if not first:
            return False
        name = " ".join(n for n in (row["given_name"], row["family_name"]) if n) or "applicant"
        await smtp.send(
            mail(sender=sender, to=row["email"], name=name, number=change.number, procedure=row["procedure"],
                 status=change.status)
        )  # fmt: skip
    log.info("eugo_status_mail_sent", case_id=str(change.case_id), event_id=str(event_id), status=change.status)
    return True


async def alert_unrouted(*, conn: Conn, smtp: Smtp, sender: str, public_url: str) -> int:
    """One mail to the active administrators with an address listing the unrouted applications not alerted yet
    (oldest first, at most ALERT_MAX), marked alerted with it; how many it listed. None while no administrator has
    an address: they wait (logged), so that the first one who does is told."""
    async with conn.transaction():
        waiting = await conn.fetch(
            f"""SELECT a.id, a.created_at, a.routing->>'reason' AS reason, coalesce(p.title_en, p.title_el) AS title
                FROM eugo_applications a JOIN procedures p ON p.id = a.procedure_id
                WHERE a.status = 'unrouted' AND a.alerted_at IS NULL
                ORDER BY a.created_at LIMIT {ALERT_MAX} FOR UPDATE OF a SKIP LOCKED"""  # noqa: S608 (a constant)
        )
        if not waiting:
            return 0
        to = await conn.fetchval(
            """SELECT coalesce(array_agg(DISTINCT email ORDER BY email), '{}') FROM users
               WHERE active AND 'administrator' = ANY (roles) AND email IS NOT NULL"""
        )
        if not to:
            log.warning("eugo_unrouted_alert_no_recipient", waiting=len(waiting))
            return 0
        message = EmailMessage()
        message["From"], message["To"] = sender, ", ".join(to)
        message["Subject"] = f"EUGO: {len(waiting)} application(s) no routing rule sends to an office"
        lines = [
            f"- {r['id']} ({r['created_at']:%Y-%m-%d %H:%M} UTC) {r['title']}: {r['reason'] or 'no rule applies'}"
            for r in waiting
        ]
        message.set_content(
            "These EUGO applications are kept, but no routing rule names the office competent for them:\n\n"
            + "\n".join(lines)
            + "\n\nAdd a rule (/api/admin/routings; the gaps: /api/admin/routings/gaps), then route each"
            f" (POST /api/admin/eugo/applications/<id>/route). The list: {public_url.rstrip('/')}"
            "/api/admin/eugo/applications?status=unrouted\n"
        )
        await conn.execute(
            "UPDATE eugo_applications SET alerted_at = now() WHERE id = ANY($1::uuid[])", [r["id"] for r in waiting]
        )
        await smtp.send(message)  # last: a refusal rolls the marks back, the next round tries again
    log.info("eugo_unrouted_alert_sent", applications=len(waiting), recipients=len(to))
    return len(waiting)


class Notifier:
    async def __init__(self, settings: Settings) -> None:  # type: ignore[misc]  # Ray awaits async __init__
        configure_logging(settings.log_format, settings.log_level)
        self.sent = 0
        self.sender = settings.smtp_from
        self.smtp = Smtp.from_url(settings.smtp_url.get_secret_value()) if settings.smtp_url else None
        if self.smtp is None:
            log.warning("eugo_smtp_not_configured", hint="set KEP_SMTP_URL to mail EUGO applicants")
        self.pool: asyncpg.Pool[asyncpg.Record] = await create_pool(settings.database_url.get_secret_value(), 1, 2)
        self._amqp: AbstractRobustConnection = await amqp.connect(settings.amqp_url.get_secret_value(), NOTIFIER_ACTOR)
        channel = await self._amqp.channel()
        await amqp.declare_exchanges(channel, settings.events_exchange)
        queue = await amqp.declare_queue(
            channel, NOTIFIER_QUEUE, [amqp.Binding(settings.events_exchange, CASE_EVENTS)], delivery_limit=20
        )
        self._consumers = ConsumerGroup(stale_after_s=CONSUMER_STALE_S)
        await self._consumers.consume(queue, self._handle, prefetch=10)
        self.alerted = 0
        self.public_url = settings.public_url
        self._alerts = asyncio.create_task(self._alert_forever())  # held: a task nobody holds may be collected

    async def _alert_forever(self) -> None:
        while True:
            await asyncio.sleep(ALERT_EVERY_S)
            if self.smtp is None:
                continue
            try:
                async with self.pool.acquire() as conn:
                    self.alerted += await alert_unrouted(
                        conn=conn, smtp=self.smtp, sender=self.sender, public_url=self.public_url
                    )
            except Exception as exc:  # the next round tries again
                log.warning("eugo_unrouted_alert_failed", error=repr(exc))

    async def _handle(self, message: AbstractIncomingMessage) -> None:
        event = case_event(message.type or "", message.body)
        if not isinstance(event.data, CaseChanged):
            return
        if self.smtp is None:  # no server configured (said at the start): the events pass unsent
            return
        async with self.pool.acquire() as conn:
            if await notify(conn=conn, smtp=self.smtp, sender=self.sender, event_id=event.id, change=event.data):
                self.sent += 1

    async def stats(self) -> dict[str, int]:
        return {"sent": self.sent, "alerted": self.alerted}


NotifierActor = actor_class(Notifier, max_restarts=-1, max_task_retries=0)

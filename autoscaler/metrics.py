"""Queue depth from RabbitMQ: the management HTTP API first, AMQP passive declare when that cannot be read.

Every figure the broker did not report, or reported from statistics older than allowed, is `None` (unknown), never 0.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterable
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Protocol
from urllib.parse import quote, unquote, urlsplit

import aio_pika
import aiormq.exceptions
import httpx
import structlog
from aio_pika.abc import AbstractConnection
from pydantic import BaseModel, ConfigDict, ValidationError

from autoscaler.model import MetricSource, QueueMetrics
from infra.settings import Settings
from messages.errors import KepError

log = structlog.get_logger("autoscaler.metrics")
Clock = Callable[[], float]
Answer = tuple[Any, float]  # a JSON body and the broker's time when it answered (epoch seconds)


class MetricsError(KepError):
    """A queue's metrics could not be read; `queue` and `source` say which and how."""

    def __init__(self, queue: str, source: MetricSource, reason: str) -> None:
        super().__init__(f"{queue} ({source}): {reason}", queue=queue, source=source)
        self.queue, self.source, self.reason = queue, source, reason


class MetricsUnavailable(MetricsError):
    """The broker or its management API answered badly or not at all; it may pass on its own."""

    retryable: ClassVar[bool] = True


class BrokerUnreachable(MetricsUnavailable):
    """Nothing answered: refused, timed out or dropped (also how a disabled management plugin looks)."""


class ManagementApiMissing(MetricsUnavailable):
    """Something answered at the management URL, but not the RabbitMQ management API (plugin off, wrong URL)."""


class MetricsAccessDenied(MetricsError):
    """The broker refused the credentials or the user's permissions; an operator must fix them."""


class QueueMissing(MetricsError):
    """The queue (or its vhost) does not exist."""


class MetricsReader(Protocol):
    async def read(self, queue: str) -> QueueMetrics: ...

    async def aclose(self) -> None: ...


def vhost_of(amqp_url: str) -> str:
    """The vhost an AMQP URL names; an empty path is the default vhost `/` (as aio-pika reads it)."""
    path = urlsplit(amqp_url).path
    return unquote(path[1:]) if len(path) > 1 else "/"


# -- the management API's JSON, as far as we read it; every field may be absent -------------------------------


class _Sample(BaseModel):
    timestamp: int  # ms since the epoch, on the broker's clock


class _Details(BaseModel):
    avg_rate: float | None = None
    samples: list[_Sample] = []


class _MessageStats(BaseModel):
    publish_details: _Details | None = None
    deliver_get_details: _Details | None = None
    ack_details: _Details | None = None


class _Queue(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    type: str | None = None
    messages_ready: int | None = None
    messages_unacknowledged: int | None = None
    consumers: int | None = None
    message_stats: _MessageStats | None = None
    messages_ready_details: _Details | None = None
    messages_unacknowledged_details: _Details | None = None


class _Page(BaseModel):
    items: list[_Queue]


def _rate(details: _Details | None, counted: bool) -> float | None:
    if details is None:
        # a statistics database that is counting this queue (`counted`) but has never seen one of these
        # operations omits the field: none happened. Without a live database an absent field tells nothing.
        return 0.0 if counted else None
    # one sample gives no slope: the broker still reports 0.0, which would read as an idle queue
    if len(details.samples) < 2:
        return None
    return details.avg_rate


def _newest_sample_ms(stats: _Queue) -> int | None:
    ms = stats.message_stats or _MessageStats()
    all_details = (
        stats.messages_ready_details,
        stats.messages_unacknowledged_details,
        ms.publish_details,
        ms.deliver_get_details,
        ms.ack_details,
    )
    stamps = [s.timestamp for d in all_details if d is not None for s in d.samples]
    return max(stamps, default=None)


def reading_from_payloads(
    queue: str, page: Any, single: Any, *, broker_now_s: float, at: float, max_stats_age_s: float
) -> QueueMetrics:
    """Combine the two answers of the management API (the paged list, the single queue) into one reading.

    - consumers and rates: the single-queue endpoint, i.e. the statistics database, which lags by up to
      `collect_statistics_interval` (5 s by default) and has no count fields at all for a fresh queue. They count
      only while its newest sample is at most `max_stats_age_s` old, measured on the broker's own clock
      (its `Date` header), so clock skew between hosts does not matter.
    - ready and unacked: the list endpoint's queue totals (`disable_stats&enable_queue_totals`), read live from a
      classic queue's process. A quorum queue publishes those totals only on its periodic tick and reads 0/0 until
      the first one (observed on 3.10: 30 messages queued, totals 0 for 5 s), so for any other queue type they count
      only once the statistics database has counts for it too; until then they are unknown.
    """
    try:
        items = _Page.model_validate(page).items
        stats = _Queue.model_validate(single)
    except ValidationError as exc:
        raise ManagementApiMissing(
            queue, "http", f"not the management API's JSON ({exc.error_count()} errors)"
        ) from None
    totals = next((q for q in items if q.name == queue), None)
    if totals is None:
        raise QueueMissing(queue, "http", f"queue {queue!r} not found")
    newest = _newest_sample_ms(stats)
    stats_fresh = newest is not None and broker_now_s - newest / 1000 <= max_stats_age_s
    counted = stats_fresh and stats.messages_ready is not None
    ready = unacked = None
    if totals.type == "classic" or counted:
        ready, unacked = totals.messages_ready, totals.messages_unacknowledged
    elif counted:
        ready, unacked = stats.messages_ready, stats.messages_unacknowledged
    ms = (stats.message_stats if stats_fresh else None) or _MessageStats()
    return QueueMetrics(
        queue=queue,
        at=at,
        source="http",
        ready=ready,
        unacked=unacked,
        consumers=stats.consumers if stats_fresh else None,
        publish_rate=_rate(ms.publish_details, counted),
        deliver_rate=_rate(ms.deliver_get_details, counted),
        ack_rate=_rate(ms.ack_details, counted),
    )


class ManagementApi:
    """Reads one queue through the management API: two GETs, run together."""

    def __init__(
        self,
        url: str,
        *,
        vhost: str = "/",
        rate_window_s: int = 60,
        rate_step_s: int = 5,
        max_stats_age_s: float = 30.0,
        timeout_s: float = 5.0,
        clock: Clock = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        parts = httpx.URL(url)
        # credentials travel in the URL (KEP_RABBIT_MGMT_URL=http://user:pass@host:port); send them as basic auth
        auth = httpx.BasicAuth(parts.username, parts.password) if parts.username else None
        self.url = str(parts.copy_with(username=None, password=None)).rstrip("/")
        self.vhost, self.max_stats_age_s, self._clock = vhost, max_stats_age_s, clock
        window = {"msg_rates_age": rate_window_s, "msg_rates_incr": rate_step_s}
        self._stats_params = {**window, "lengths_age": rate_window_s, "lengths_incr": rate_step_s}
        self._http = httpx.AsyncClient(base_url=self.url, auth=auth, timeout=timeout_s, transport=transport)

    def __repr__(self) -> str:
        return f"ManagementApi({self.url!r}, vhost={self.vhost!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def read(self, queue: str) -> QueueMetrics:
        vhost = quote(self.vhost, safe="")
        # `name` filters only on a paged request, by regex and case-insensitively: match exactly here afterwards
        listed = {
            "disable_stats": "true",
            "enable_queue_totals": "true",
            "use_regex": "true",
            "name": f"^{re.escape(queue)}$",
            "page": 1,
            "page_size": 100,
        }
        # both requests always finish (no orphaned task); the list's failure, if any, is the one reported
        answers: tuple[Answer | BaseException, Answer | BaseException] = await asyncio.gather(
            self._get(queue, f"/api/queues/{vhost}", listed),
            self._get(queue, f"/api/queues/{vhost}/{quote(queue, safe='')}", self._stats_params),
            return_exceptions=True,
        )
        listed_answer, single_answer = answers
        if isinstance(listed_answer, BaseException):
            raise listed_answer
        if isinstance(single_answer, BaseException):
            raise single_answer
        page, single, date = listed_answer[0], single_answer[0], single_answer[1]
        return reading_from_payloads(
            queue, page, single, broker_now_s=date, at=self._clock(), max_stats_age_s=self.max_stats_age_s
        )

    async def _get(self, queue: str, path: str, params: dict[str, Any]) -> Answer:
        try:
            response = await self._http.get(path, params=params)
        except httpx.TransportError as exc:
            reason = f"management API at {self.url} unreachable ({type(exc).__name__}: {exc})"
            raise BrokerUnreachable(queue, "http", f"{reason}; is the rabbitmq_management plugin enabled?") from None
        body = _json_or_none(response)
        if response.status_code in (401, 403):
            why = body.get("reason") if isinstance(body, dict) else response.reason_phrase
            raise MetricsAccessDenied(queue, "http", f"management API refused access: {why}")
        if response.status_code == 404 and isinstance(body, dict) and body.get("error") == "Object Not Found":
            raise QueueMissing(queue, "http", f"queue {queue!r} not found in vhost {self.vhost!r} (or no such vhost)")
        if response.status_code >= 500:
            raise MetricsUnavailable(queue, "http", f"management API answered {response.status_code}")
        if response.status_code != 200 or body is None:
            reason = f"{self.url} answered {response.status_code} without the management API's JSON"
            raise ManagementApiMissing(queue, "http", reason)
        return body, _broker_time(response)


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _broker_time(response: httpx.Response) -> float:
    date = response.headers.get("date")
    # Cowboy always sends Date; without it, our own clock is the best estimate of the broker's
    return parsedate_to_datetime(date).timestamp() if date else time.time()


class AmqpProbe:
    """Passive declare: live, but ready messages and consumers only (unacked and rates are unknown over AMQP)."""

    def __init__(self, url: str, *, timeout_s: float = 5.0, clock: Clock = time.monotonic) -> None:
        self._url, self._timeout_s, self._clock = url, timeout_s, clock
        self._connection: AbstractConnection | None = None

    def __repr__(self) -> str:
        return f"AmqpProbe({urlsplit(self._url).hostname!r})"

    async def aclose(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def read(self, queue: str) -> QueueMetrics:
        try:
            connection = await self._connect()
            # a missing queue makes the broker close the channel (404 NOT_FOUND): one channel per probe
            async with connection.channel(publisher_confirms=False) as channel:
                declared = await channel.declare_queue(queue, passive=True, timeout=self._timeout_s)
        except aiormq.exceptions.ChannelNotFoundEntity:
            raise QueueMissing(queue, "amqp", f"queue {queue!r} not found") from None
        except (aiormq.exceptions.ProbableAuthenticationError, aiormq.exceptions.ChannelAccessRefused) as exc:
            raise MetricsAccessDenied(queue, "amqp", f"broker refused access: {exc}") from None
        except (ConnectionError, TimeoutError, aiormq.exceptions.AMQPError) as exc:
            await self._drop()
            raise BrokerUnreachable(queue, "amqp", f"broker unreachable ({type(exc).__name__}: {exc})") from None
        ok = declared.declaration_result
        return QueueMetrics(
            queue=queue, at=self._clock(), source="amqp", ready=ok.message_count, consumers=ok.consumer_count
        )

    async def _connect(self) -> AbstractConnection:
        if self._connection is None or self._connection.is_closed:
            self._connection = await aio_pika.connect(self._url, timeout=self._timeout_s)
        return self._connection

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed:
            await connection.close()


class WithFallback:
    """The first reader that answers; a missing queue is missing everywhere, so it is reported at once."""

    def __init__(self, readers: Iterable[MetricsReader]) -> None:
        self.readers = list(readers)
        if not self.readers:
            raise ValueError("WithFallback needs at least one reader")

    async def aclose(self) -> None:
        for reader in self.readers:
            await reader.aclose()

    async def read(self, queue: str) -> QueueMetrics:
        failure: MetricsError = MetricsUnavailable(queue, "http", "no reader answered")
        for reader in self.readers:
            try:
                return await reader.read(queue)
            except QueueMissing:
                raise
            except (MetricsUnavailable, MetricsAccessDenied) as exc:
                log.warning("queue_metrics_reader_failed", queue=queue, reader=repr(reader), error=exc.reason)
                failure = exc
        raise failure


def reader_from_settings(settings: Settings, **options: Any) -> MetricsReader:
    """The management API when `KEP_RABBIT_MGMT_URL` is set, backed by AMQP passive declare on `KEP_AMQP_URL`."""
    amqp_url = settings.amqp_url.get_secret_value()
    probe = AmqpProbe(amqp_url)
    if settings.rabbit_mgmt_url is None:
        return probe
    api = ManagementApi(settings.rabbit_mgmt_url.get_secret_value(), vhost=vhost_of(amqp_url), **options)
    return WithFallback([api, probe])

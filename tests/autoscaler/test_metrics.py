"""Queue metrics against the real broker with real queued messages: ready vs in flight, consumers, rates, a missing
queue, the AMQP fallback, and figures the broker has not reported (or reported too long ago) read as unknown."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Literal
from urllib.parse import quote

import aio_pika
import httpx
import pytest
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection

from autoscaler.metrics import (
    AmqpProbe,
    BrokerUnreachable,
    ManagementApi,
    ManagementApiMissing,
    MetricsAccessDenied,
    MetricsError,
    MetricsReader,
    QueueMissing,
    WithFallback,
    reader_from_settings,
    reading_from_payloads,
    vhost_of,
)
from autoscaler.model import QueueMetrics
from infra import amqp
from infra.settings import Settings
from tests.helpers import eventually

QueueType = Literal["classic", "quorum"]
QueueFactory = Callable[..., Awaitable[str]]
PREFETCH = 5


@pytest.fixture
async def connection(settings: Settings) -> AsyncIterator[AbstractRobustConnection]:
    conn = await amqp.connect(settings.amqp_url.get_secret_value(), "test-autoscaler-metrics")
    yield conn
    await conn.close()


@pytest.fixture
async def channel(connection: AbstractRobustConnection) -> AbstractChannel:
    return await connection.channel(publisher_confirms=True)


@pytest.fixture
async def make_queue(channel: AbstractChannel) -> AsyncIterator[QueueFactory]:
    """A queue of this test's own holding `messages` confirmed messages; deleted afterwards."""
    names: list[str] = []

    async def create(kind: QueueType = "quorum", messages: int = 0) -> str:
        name = f"test.autoscaler.{uuid.uuid4().hex}"
        names.append(name)
        await channel.declare_queue(name, durable=True, arguments={"x-queue-type": kind})
        for i in range(messages):
            await channel.default_exchange.publish(aio_pika.Message(b"{}", message_id=str(i)), routing_key=name)
        return name

    yield create
    for name in names:
        await channel.queue_delete(name)


@pytest.fixture
async def hold(connection: AbstractRobustConnection) -> AsyncIterator[Callable[[str], Awaitable[list[str]]]]:
    """A consumer that takes its prefetch and never acknowledges: those messages stay in flight (unacked)."""
    channels: list[AbstractChannel] = []

    async def start(queue: str) -> list[str]:
        held: list[str] = []
        ch = await connection.channel()
        channels.append(ch)
        await ch.set_qos(prefetch_count=PREFETCH)

        async def keep(message: AbstractIncomingMessage) -> None:
            held.append(str(message.message_id))

        await (await ch.get_queue(queue, ensure=False)).consume(keep)
        return held

    yield start
    for ch in channels:
        await ch.close()


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[ManagementApi]:
    assert settings.rabbit_mgmt_url is not None
    reader = ManagementApi(
        settings.rabbit_mgmt_url.get_secret_value(), vhost=vhost_of(settings.amqp_url.get_secret_value())
    )
    yield reader
    await reader.aclose()


@pytest.fixture
async def probe(settings: Settings) -> AsyncIterator[AmqpProbe]:
    reader = AmqpProbe(settings.amqp_url.get_secret_value())
    yield reader
    await reader.aclose()


async def _until(read: Callable[[], Awaitable[QueueMetrics]], wanted: Callable[[QueueMetrics], bool]) -> QueueMetrics:
    """Poll until the statistics database has caught up (it samples every `collect_statistics_interval`)."""
    last: list[QueueMetrics] = []

    async def check() -> bool:
        last[:] = [await read()]
        return wanted(last[0])

    try:
        await eventually(check, within=40)
    except AssertionError:
        raise AssertionError(f"metrics never caught up; last reading {last}") from None
    return last[0]


@pytest.mark.parametrize("kind", ["classic", "quorum"])
async def test_messages_in_flight_are_counted_apart_from_ready_ones(
    api: ManagementApi,
    make_queue: QueueFactory,
    hold: Callable[[str], Awaitable[list[str]]],
    kind: QueueType,
) -> None:
    # given 30 messages and a consumer holding its prefetch of 5 without acknowledging
    queue = await make_queue(kind, messages=30)
    held = await hold(queue)
    await _holding(held)

    # when the statistics have caught up
    reading = await _until(lambda: api.read(queue), lambda m: m.consumers == 1 and m.unacked == PREFETCH)

    # then
    assert reading.source == "http"
    assert (reading.ready, reading.unacked, reading.backlog) == (30 - PREFETCH, PREFETCH, 30)
    assert len(held) == PREFETCH  # the consumer really holds no more than its prefetch


async def test_rates_are_averaged_over_the_window(
    api: ManagementApi, make_queue: QueueFactory, channel: AbstractChannel
) -> None:
    # given 20 messages published, delivered and acknowledged
    queue = await make_queue("classic", messages=20)
    q = await channel.get_queue(queue, ensure=False)
    for _ in range(20):
        message = await q.get(timeout=10)
        await message.ack()

    # when / then: every rate turns positive as the samples arrive; none is reported as a bare 0 while unknown
    reading = await _until(
        lambda: api.read(queue),
        lambda m: all(r is not None and r > 0 for r in (m.publish_rate, m.deliver_rate, m.ack_rate)),
    )
    assert (reading.ready, reading.unacked) == (0, 0)
    # averaged over the 60 s window (ManagementApi's default), not the burst's instant rate (20 in one 5 s step)
    assert reading.publish_rate == pytest.approx(20 / 60, rel=0.15)
    assert reading.ack_rate == pytest.approx(20 / 60, rel=0.15)


async def test_a_fresh_quorum_queue_is_unknown_not_empty(
    api: ManagementApi, probe: AmqpProbe, make_queue: QueueFactory
) -> None:
    # given a quorum queue that has not yet reported its first totals (they come on its periodic tick, about 5 s)
    queue = await make_queue("quorum", messages=5)

    # when read at once
    reading = await api.read(queue)

    # then its counts are unknown, not the 0 the broker's list totals show until that tick
    assert (reading.ready, reading.unacked, reading.backlog) == (None, None, None)
    assert (await probe.read(queue)).ready == 5  # the messages are there
    caught_up = await _until(lambda: api.read(queue), lambda m: m.ready is not None)
    assert (caught_up.ready, caught_up.unacked) == (5, 0)


@pytest.mark.parametrize("kind", ["classic", "quorum"])
async def test_statistics_older_than_allowed_read_as_unknown(
    api: ManagementApi, settings: Settings, make_queue: QueueFactory, kind: QueueType
) -> None:
    # given the two real answers of the management API for a queue whose statistics are complete
    queue = await make_queue(kind, messages=3)
    # until the statistics database has counted the queue (its rates): a classic queue's totals are live before it,
    # and on a busy broker the statistics come seconds later
    await _until(
        lambda: api.read(queue),
        lambda m: m.consumers is not None and m.ready is not None and m.publish_rate is not None,
    )
    assert settings.rabbit_mgmt_url is not None
    async with httpx.AsyncClient(base_url=api.url, auth=_auth(settings.rabbit_mgmt_url.get_secret_value())) as http:
        listed: dict[str, str | int] = {
            "disable_stats": "true",
            "enable_queue_totals": "true",
            "page": 1,
            "page_size": 100,
            "name": queue,
        }
        vhost = quote(api.vhost, safe="")
        rates = {"msg_rates_age": 60, "msg_rates_incr": 5}
        # an answer whose statistics are complete: on a busy broker one answer has the counts and the next may not
        for _ in range(120):
            page = (await http.get(f"/api/queues/{vhost}", params=listed)).json()
            single = (await http.get(f"/api/queues/{vhost}/{queue}", params=rates)).json()
            if single.get("messages_ready") is not None and single.get("message_stats", {}).get("publish_details"):
                break
            await asyncio.sleep(0.5)
    newest = max(s["timestamp"] for s in single["message_stats"]["publish_details"]["samples"]) / 1000

    # when the broker's clock is past the allowed age of the newest sample
    fresh = reading_from_payloads(queue, page, single, broker_now_s=newest + 1, at=0.0, max_stats_age_s=30)
    stale = reading_from_payloads(queue, page, single, broker_now_s=newest + 31, at=0.0, max_stats_age_s=30)

    # then consumers and rates are unknown; counts stay known only where they are live (a classic queue's totals)
    assert fresh.ready == 3
    assert fresh.consumers == 0
    assert fresh.publish_rate is not None
    # nothing was ever delivered or acknowledged: a live statistics database omits those fields, a counted zero
    assert (fresh.deliver_rate, fresh.ack_rate) == (0.0, 0.0)
    assert (stale.consumers, stale.publish_rate, stale.deliver_rate, stale.ack_rate) == (None, None, None, None)
    assert stale.ready == (3 if kind == "classic" else None)


async def test_the_amqp_probe_sees_ready_and_consumers_only(
    probe: AmqpProbe, make_queue: QueueFactory, hold: Callable[[str], Awaitable[list[str]]]
) -> None:
    queue = await make_queue("quorum", messages=12)
    held = await hold(queue)
    await _holding(held)

    reading = await probe.read(queue)

    # passive declare is live but blind to messages in flight: unknown, never 0
    assert (reading.source, reading.ready, reading.consumers) == ("amqp", 12 - PREFETCH, 1)
    assert (reading.unacked, reading.backlog, reading.publish_rate) == (None, None, None)


async def test_the_amqp_probe_outlives_a_missing_queue(probe: AmqpProbe, make_queue: QueueFactory) -> None:
    # the broker closes the channel of a passive declare on a missing queue; the next probe must not care
    queue = await make_queue("classic", messages=2)

    with pytest.raises(QueueMissing):
        await probe.read(f"{queue}.missing")

    assert (await probe.read(queue)).ready == 2


@pytest.mark.parametrize("reader", ["api", "probe"])
async def test_a_missing_queue_is_reported_as_missing(api: ManagementApi, probe: AmqpProbe, reader: str) -> None:
    source: MetricsReader = api if reader == "api" else probe
    queue = f"test.autoscaler.missing.{uuid.uuid4().hex}"

    with pytest.raises(QueueMissing) as caught:
        await source.read(queue)

    assert caught.value.queue == queue
    assert "not found" in caught.value.reason
    assert not caught.value.retryable


async def test_a_queue_whose_name_is_contained_in_others_is_read_exactly(
    api: ManagementApi, make_queue: QueueFactory, channel: AbstractChannel
) -> None:
    # the list endpoint filters by a case-insensitive regex: `q`, `q.dlq` and `Q` must not be mixed up
    queue = await make_queue("classic", messages=1)
    longer = await channel.declare_queue(f"{queue}.dlq", durable=True)
    await channel.default_exchange.publish(aio_pika.Message(b"{}"), routing_key=longer.name)

    reading = await api.read(queue)

    assert reading.ready == 1
    await longer.delete(if_unused=False, if_empty=False)


async def test_the_fallback_reads_over_amqp_when_the_management_api_is_down(
    settings: Settings, probe: AmqpProbe, make_queue: QueueFactory
) -> None:
    queue = await make_queue("quorum", messages=4)
    closed = ManagementApi(f"http://127.0.0.1:{_closed_port()}")
    reader = WithFallback([closed, probe])

    reading = await reader.read(queue)

    assert (reading.source, reading.ready, reading.unacked) == ("amqp", 4, None)
    await closed.aclose()


async def test_the_fallback_does_not_hide_a_missing_queue(settings: Settings, make_queue: QueueFactory) -> None:
    reader = reader_from_settings(settings)
    try:
        with pytest.raises(QueueMissing) as caught:
            await reader.read(f"test.autoscaler.missing.{uuid.uuid4().hex}")
        assert caught.value.source == "http"
        queue = await make_queue("classic", messages=1)
        assert (await reader.read(queue)).source == "http"
    finally:
        await reader.aclose()


async def test_failures_are_told_apart(settings: Settings) -> None:
    assert settings.rabbit_mgmt_url is not None
    mgmt = httpx.URL(settings.rabbit_mgmt_url.get_secret_value())
    amqp_url = httpx.URL(settings.amqp_url.get_secret_value())
    queue = "test.autoscaler.any"

    refused = ManagementApi(f"http://127.0.0.1:{_closed_port()}")
    wrong_password = ManagementApi(str(mgmt.copy_with(password="wrong")))
    # a web server that is not RabbitMQ's management plugin (a wrong URL, a proxy's own 404 page)
    elsewhere = ManagementApi(
        "http://mgmt.invalid", transport=httpx.MockTransport(lambda _: httpx.Response(404, text="Not Found"))
    )
    amqp_refused = AmqpProbe(str(amqp_url.copy_with(port=_closed_port())), timeout_s=5)
    amqp_wrong_password = AmqpProbe(str(amqp_url.copy_with(password="wrong")), timeout_s=5)
    cases: list[tuple[MetricsReader, type[MetricsError], bool]] = [
        (refused, BrokerUnreachable, True),
        (wrong_password, MetricsAccessDenied, False),
        (elsewhere, ManagementApiMissing, True),
        (amqp_refused, BrokerUnreachable, True),
        (amqp_wrong_password, MetricsAccessDenied, False),
    ]
    for reader, error, retryable in cases:
        with pytest.raises(error) as caught:
            await reader.read(queue)
        assert type(caught.value) is error, reader
        assert caught.value.retryable is retryable
        await reader.aclose()


@pytest.mark.parametrize(
    ("url", "vhost"),
    [("amqp://u:p@h:5672/", "/"), ("amqp://u:p@h:5672", "/"), ("amqp://h/%2F", "/"), ("amqp://h/kep", "kep")],
)
def test_the_vhost_comes_from_the_amqp_url(url: str, vhost: str) -> None:
    assert vhost_of(url) == vhost


async def _holding(held: list[str]) -> None:
    async def full() -> bool:
        return len(held) == PREFETCH

    await eventually(full)


def _auth(url: str) -> httpx.BasicAuth:
    parts = httpx.URL(url)
    return httpx.BasicAuth(parts.username, parts.password)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

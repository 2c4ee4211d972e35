"""The gov.gr mailbox adapter against its double: a posting is one posting however often it is retried, its status
runs to served on the Greek working-day calendar, a citizen without ΕΜΕπ is told apart, replies are read in order."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from actors.delivery.adapters import RemoteRefused
from actors.delivery.mailbox import GovGrMailbox, MailboxOptions, NotRegistered
from doubles import serving
from doubles.faults import Fault
from doubles.ked.server import Registry, valid_afm
from doubles.mailbox.server import TOKEN, MailboxApp, create_app
from messages.errors import InvalidInput

PDF = b"%PDF-1.7\n" + b"x" * 2048 + b"\n%%EOF\n"
REGISTRY = Registry.generate(seed=5, count=10)
REGISTERED = next(iter(REGISTRY.contacts))


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[MailboxApp, str]]:
    app = create_app(REGISTRY)
    with serving.serve_in_thread(app, "mailbox") as base:
        yield app, base


@pytest.fixture
def double(served: tuple[MailboxApp, str]) -> MailboxApp:
    served[0].faults.clear()
    served[0].state_.clock = None
    return served[0]


def mailbox(base: str, **over: Any) -> GovGrMailbox:
    options = {"url": base, "token": TOKEN, "sender_org": "ΚΕΠ Δοκιμής", "timeout_s": 1.0} | over
    return GovGrMailbox(MailboxOptions(**options))


async def post(box: GovGrMailbox, key: str, afm: str = REGISTERED) -> Any:
    return await box.post_document(afm=afm, pdf=PDF, title="Βεβαίωση", doc_type="certificate",
                                   reference="KEP-1/2027/000001", idempotency_key=key)  # fmt: skip


async def test_a_posting_retried_after_a_lost_answer_is_one_posting(
    double: MailboxApp, served: tuple[MailboxApp, str]
) -> None:
    box = mailbox(served[1])
    key = str(uuid.uuid4())
    # the first answer never arrives (the client gives up at 1 s); the retry with the same key finds the posting
    double.faults.arm(Fault("post", "delay", delay_s=3.0))
    first = await post(box, key)
    again = await post(box, key)  # a redelivery of the same step, later
    assert first == again
    assert len(double.faults.logged("post")) == 1
    assert double.faults.hits["post"] == 3
    await box.close()


async def test_the_status_runs_to_deemed_served_after_ten_working_days(
    double: MailboxApp, served: tuple[MailboxApp, str]
) -> None:
    box = mailbox(served[1])
    double.state_.clock = datetime(2027, 4, 29, 9, 0, tzinfo=UTC)  # Thursday before Orthodox Easter
    receipt = await post(box, str(uuid.uuid4()))
    assert (await box.status(receipt.posting_id)).status == "posted"
    double.state_.clock = datetime(2027, 4, 29, 9, 5, tzinfo=UTC)
    assert (await box.status(receipt.posting_id)).status == "notified"
    double.state_.clock = datetime(2027, 5, 17, 12, 0, tzinfo=UTC)  # nine working days on
    assert not (await box.status(receipt.posting_id)).served
    double.state_.clock = datetime(2027, 5, 19, 0, 0, tzinfo=UTC)
    served_status = await box.status(receipt.posting_id)
    assert served_status.status == "deemed_served"
    assert served_status.deemed_served_at is not None
    assert served_status.deemed_served_at.date() == date(2027, 5, 18)
    await box.close()


async def test_an_opened_posting_is_served_when_opened(double: MailboxApp, served: tuple[MailboxApp, str]) -> None:
    box = mailbox(served[1])
    receipt = await post(box, str(uuid.uuid4()))
    async with httpx.AsyncClient() as http:
        await http.post(f"{served[1]}/_admin/postings/{receipt.posting_id}/open")
    status = await box.status(receipt.posting_id)
    assert status.served
    assert status.status == "opened"
    await box.close()


async def test_what_the_mailbox_will_not_take_is_told_apart(double: MailboxApp, served: tuple[MailboxApp, str]) -> None:
    box = mailbox(served[1])
    with pytest.raises(NotRegistered):
        await post(box, str(uuid.uuid4()), afm=valid_afm(22_222_222))
    with pytest.raises(InvalidInput):
        await post(box, str(uuid.uuid4()), afm="123456789")
    small = mailbox(served[1], max_bytes=100)
    with pytest.raises(InvalidInput):
        await post(small, str(uuid.uuid4()))
    assert double.faults.logged("post") == []  # nothing was posted
    wrong = mailbox(served[1], token="not-it")
    with pytest.raises(RemoteRefused, match="token"):
        await post(wrong, str(uuid.uuid4()))
    assert not (await wrong.check_config()).ok
    assert (await box.check_config()).ok
    for b in (box, small, wrong):
        await b.close()


async def test_replies_are_read_in_order_from_where_the_last_read_stopped(
    double: MailboxApp, served: tuple[MailboxApp, str]
) -> None:
    box = mailbox(served[1])
    async with httpx.AsyncClient() as http:
        for text in ("Ευχαριστώ", "Έλαβα τη βεβαίωση"):
            await http.post(f"{served[1]}/_admin/replies",
                            json={"afm": REGISTERED, "reference": "KEP-1/2027/000001", "text": text})  # fmt: skip
    first = await box.replies()
    texts = [r.text for r in first]
    assert texts[-2:] == ["Ευχαριστώ", "Έλαβα τη βεβαίωση"]
    assert await box.replies(after=first[-1].id) == []
    await asyncio.sleep(0)
    await box.close()

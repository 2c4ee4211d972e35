"""ΚΣΗΔΕ against its double: a token per SectorCode reused until it expires and renewed once on a 401, the org chart,
a document with attachments pending until the last, the recipient's inbox and content, receipts once per version,
and refusals (an unknown recipient, wrong credentials) apart from outages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from actors.delivery.adapters import RemoteRefused
from actors.delivery.kshde import Kshde, KshdeOptions
from doubles import serving
from doubles.faults import Fault
from doubles.kshde.server import CLIENTS, KshdeApp, create_app
from messages.errors import InvalidInput

PDF = b"%PDF-1.7\n" + "Βεβαίωση".encode() + b"\n%%EOF\n"


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[KshdeApp, str]]:
    app = create_app()
    with serving.serve_in_thread(app, "kshde") as base:
        yield app, base + "/api/v1"


@pytest.fixture
def double(served: tuple[KshdeApp, str]) -> KshdeApp:
    served[0].faults.clear()
    return served[0]


def sector(base: str, code: str = "KEP-ATH", **over: Any) -> Kshde:
    client_id, secret = CLIENTS[code]
    options = {"url": base, "sector_code": code, "client_id": client_id, "client_secret": secret, "timeout_s": 2.0}
    return Kshde(KshdeOptions(**(options | over)))


async def test_a_document_with_attachments_reaches_its_recipient_once_final(
    double: KshdeApp, served: tuple[KshdeApp, str]
) -> None:
    kep, municipality = sector(served[1]), sector(served[1], "DHM-ATH")
    version, units = await kep.org_chart()
    assert {u.code for u in units if u.sddd} == {"MIN-INT", "DHM-ATH", "KEP-ATH"}
    assert next(u for u in units if u.code == "DHM-ATH").departments == (("DHM-ATH-LX", "Ληξιαρχείο"),)

    sent = await kep.send(subject="Αίτηση πιστοποιητικού", file_name="request.pdf", pdf=PDF, recipients=["DHM-ATH"],
                          local_protocol_no="KEP-1/2027/000001", org_chart_version=version,
                          attachments=[("id.pdf", PDF), ("form.pdf", PDF)])  # fmt: skip
    [incoming] = [d for d in await municipality.inbox() if d.protocol_no == sent.protocol_no]
    assert (incoming.sender, incoming.subject) == ("KEP-ATH", "Αίτηση πιστοποιητικού")
    assert await municipality.content(sent.protocol_no) == PDF
    assert len(double.state_.documents[sent.protocol_no].attachments) == 2

    # the receipt with the municipality's protocol number, once per version however often it is sent
    first = await municipality.acknowledge(sent.protocol_no, 1, "ΔΑ-777/2027")
    assert await municipality.acknowledge(sent.protocol_no, 1, "ΔΑ-777/2027") == first
    assert len(double.faults.logged("receipt")) == 1
    # one token per sector for all of it
    assert (kep.authentications, municipality.authentications) == (1, 1)
    await kep.close()
    await municipality.close()


async def test_a_token_the_service_dropped_is_renewed_once(double: KshdeApp, served: tuple[KshdeApp, str]) -> None:
    kep = sector(served[1])
    await kep.org_chart()
    double.faults.arm(Fault("orgchart", "auth"))  # the service no longer knows the token
    await kep.org_chart()
    assert kep.authentications == 2
    await kep.close()


async def test_refusals_are_told_apart_from_outages(double: KshdeApp, served: tuple[KshdeApp, str]) -> None:
    kep = sector(served[1])
    version, _ = await kep.org_chart()
    with pytest.raises(RemoteRefused, match="Unknown recipient"):
        await kep.send(subject="x", file_name="x.pdf", pdf=PDF, recipients=["NOWHERE"], local_protocol_no="1",
                       org_chart_version=version)  # fmt: skip
    with pytest.raises(InvalidInput):
        await kep.send(subject="x", file_name="x.pdf", pdf=PDF, recipients=[], local_protocol_no="1",
                       org_chart_version=version)  # fmt: skip
    double.faults.arm(Fault("orgchart", "status", status=503))
    await kep.org_chart()  # tried again, and served
    wrong = sector(served[1], client_secret="not-it")
    report = await wrong.check_config()
    assert report.checks["credentials"] is not None
    assert (await kep.check_config()).ok
    assert double.faults.logged("send") == []
    await kep.close()
    await wrong.close()

"""The ΚΕΔ contact lookup against its SOAP double: typed contacts, ΕΜΕπ registration, the audit record with a
transaction id from PostgreSQL, refusals and outages told apart, retries, the circuit breaker, check_config."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from actors.delivery.adapters import RemoteRefused, RemoteUnavailable
from actors.delivery.ked import KedNnc, KedOptions
from doubles import serving
from doubles.faults import Fault
from doubles.ked.server import PASSWORD, PATH, USERNAME, KedApp, Registry, create_app, valid_afm
from messages.errors import InvalidInput

UNREGISTERED = valid_afm(11_111_111)


@pytest.fixture(scope="module")
def ked() -> Iterator[tuple[KedApp, str]]:
    app = create_app(Registry.generate(seed=3, count=20))
    with serving.serve_in_thread(app, "ked") as base:
        yield app, base + PATH


@pytest.fixture
def double(ked: tuple[KedApp, str]) -> KedApp:
    ked[0].faults.clear()
    return ked[0]


def adapter(pool: asyncpg.Pool[asyncpg.Record], url: str, **over: Any) -> KedNnc:
    options = {"url": url, "username": USERNAME, "password": PASSWORD, "audit_unit": "KEP-TEST", "timeout_s": 2.0}
    return KedNnc(KedOptions(**(options | over)), pool.acquire)


async def test_a_registered_citizens_contacts_come_back_typed_and_the_call_is_audited(
    pool: asyncpg.Pool[asyncpg.Record], double: KedApp, ked: tuple[KedApp, str]
) -> None:
    afm, expected = next(iter(double.registry.contacts.items()))
    nnc = adapter(pool, ked[1])
    found = await nnc.lookup(afm, on_behalf_of="maria")
    assert found.registered
    assert (found.email, found.mobile, found.municipality) == (expected["email"], expected["mobile"],
                                                                 expected["municipality"])  # fmt: skip
    [call] = double.faults.logged("getNncIdentityExt")
    audit = await pool.fetchrow("SELECT * FROM ked_audit WHERE transaction_id = $1", int(str(call.key)))
    assert audit is not None
    assert (audit["on_behalf_of"], audit["outcome"], audit["call_sequence_id"]) == ("maria", "ok",
                                                                                    found.call_sequence_id)  # fmt: skip
    assert afm not in str(dict(audit))  # the audit proves the call; it keeps no copy of the ΑΦΜ
    await nnc.close()


async def test_a_citizen_not_in_emep_is_an_answer_and_a_bad_afm_never_leaves(
    pool: asyncpg.Pool[asyncpg.Record], double: KedApp, ked: tuple[KedApp, str]
) -> None:
    nnc = adapter(pool, ked[1])
    found = await nnc.lookup(UNREGISTERED, on_behalf_of="maria")
    assert not found.registered
    assert found.email is None
    with pytest.raises(InvalidInput):
        await nnc.lookup("123456789", on_behalf_of="maria")
    assert len(double.faults.logged("getNncIdentityExt")) == 1
    await nnc.close()


async def test_transaction_ids_only_increase_across_instances(
    pool: asyncpg.Pool[asyncpg.Record], double: KedApp, ked: tuple[KedApp, str]
) -> None:
    one, two = adapter(pool, ked[1]), adapter(pool, ked[1])  # two replicas
    for nnc in (one, two, one, two):
        await nnc.lookup(UNREGISTERED, on_behalf_of="maria")
    ids = [int(str(c.key)) for c in double.faults.logged("getNncIdentityExt")]
    assert ids == sorted(ids)
    assert len(set(ids)) == 4
    await one.close()
    await two.close()


async def test_an_id_used_before_is_tried_again_with_the_next_and_never_opens_the_circuit(
    pool: asyncpg.Pool[asyncpg.Record], double: KedApp, ked: tuple[KedApp, str]
) -> None:
    nnc = adapter(pool, ked[1], breaker_failures=1)  # one counted failure would open the circuit
    await nnc.lookup(UNREGISTERED, on_behalf_of="maria")
    [first] = [int(str(c.key)) for c in double.faults.logged("getNncIdentityExt")]
    # a database restored from before that call: its audit row is gone and the sequence hands the id out again
    await pool.execute("DELETE FROM ked_audit WHERE transaction_id = $1", first)
    await pool.execute("SELECT setval('ked_audit_transaction_seq', $1)", first - 1)
    assert not (await nnc.lookup(UNREGISTERED, on_behalf_of="maria")).registered
    ids = [int(str(c.key)) for c in double.faults.logged("getNncIdentityExt")]
    assert ids == [first, first, first + 1]  # refused as used, then the next id
    # lookups in flight at once take ids in any order: each is new, none is refused
    await asyncio.gather(*(nnc.lookup(UNREGISTERED, on_behalf_of="maria") for _ in range(8)))
    assert len(double.faults.logged("getNncIdentityExt")) == 3 + 8
    await nnc.close()


@pytest.mark.parametrize(
    "fault",
    [
        Fault("getNncIdentityExt", "status", status=503),
        Fault("getNncIdentityExt", "malformed"),
        Fault("getNncIdentityExt", "delay", delay_s=5.0),
    ],
    ids=["503", "malformed", "timeout"],
)
async def test_what_may_pass_is_tried_again(
    pool: asyncpg.Pool[asyncpg.Record], double: KedApp, ked: tuple[KedApp, str], fault: Fault
) -> None:
    double.faults.arm(fault)
    nnc = adapter(pool, ked[1], timeout_s=1.0)
    assert not (await nnc.lookup(UNREGISTERED, on_behalf_of="maria")).registered
    assert double.faults.hits["getNncIdentityExt"] == 2  # the failed try and the good one
    await nnc.close()


async def test_refused_credentials_are_not_retried_and_check_config_names_them(
    pool: asyncpg.Pool[asyncpg.Record], double: KedApp, ked: tuple[KedApp, str]
) -> None:
    wrong = adapter(pool, ked[1], password="not-it")
    with pytest.raises(RemoteRefused, match="credentials"):
        await wrong.lookup(UNREGISTERED, on_behalf_of="maria")
    assert double.faults.hits["getNncIdentityExt"] == 1
    report = await wrong.check_config()
    assert not report.ok
    assert report.checks["credentials"] is not None
    assert report.checks["connectivity"] is None
    assert (await adapter(pool, ked[1]).check_config()).ok
    away = await adapter(pool, "http://127.0.0.1:9/esb/nnc").check_config()
    assert away.checks["connectivity"] is not None


async def test_the_circuit_opens_after_repeated_outages_and_spares_the_remote_side(
    pool: asyncpg.Pool[asyncpg.Record], double: KedApp, ked: tuple[KedApp, str]
) -> None:
    double.faults.arm(Fault("getNncIdentityExt", "status", times=-1, status=503))
    nnc = adapter(pool, ked[1], attempts=1, breaker_failures=2, breaker_reset_s=60)
    for _ in range(2):
        with pytest.raises(RemoteUnavailable, match="HTTP 503"):
            await nnc.lookup(UNREGISTERED, on_behalf_of="maria")
    with pytest.raises(RemoteUnavailable, match="circuit is open"):
        await nnc.lookup(UNREGISTERED, on_behalf_of="maria")
    assert double.faults.hits["getNncIdentityExt"] == 2
    await nnc.close()

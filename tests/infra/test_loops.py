"""Long-lived loops: a failing pass is tried again by the one backoff, a stuck loop is restarted by its watchdog when
work waits, and left alone when none does."""

from __future__ import annotations

import asyncio

import pytest

from infra.loops import SupervisedLoop
from infra.retry import Backoff, forever, retrying
from tests.helpers import eventually

QUICK = Backoff(initial_s=0.01, max_s=0.02, jitter_s=0.01)


async def test_forever_tries_again_after_any_failure_and_ends_only_when_it_is_cancelled() -> None:
    passes: list[str] = []

    async def one_pass() -> None:
        passes.append("pass")
        if len(passes) == 1:
            raise ConnectionResetError("the broker went away")
        if len(passes) == 2:
            raise asyncio.CancelledError  # what aiormq raises in a call whose channel closed: not ours
        await asyncio.sleep(0.01)

    loop = asyncio.create_task(forever("test", one_pass, QUICK))

    async def went_on() -> bool:
        return len(passes) >= 5

    await eventually(went_on, within=10)
    loop.cancel()
    with pytest.raises(asyncio.CancelledError):
        await loop


async def test_a_call_is_tried_again_only_for_what_passes() -> None:
    calls: list[type[Exception]] = []

    async def call(error: type[Exception]) -> None:
        calls.append(error)
        raise error("no")

    async def tried(error: type[Exception]) -> None:
        async for attempt in retrying(QUICK):
            with attempt:
                await call(error)

    for error, tries in ((TimeoutError, 4), (ValueError, 1)):
        calls.clear()
        with pytest.raises(error):
            await tried(error)
        assert len(calls) == tries


def test_a_pause_grows_with_the_failures_and_stays_under_the_cap() -> None:
    backoff = Backoff(initial_s=0.25, max_s=30.0, jitter_s=0.25)
    assert 0.25 <= backoff.pause_s(1) <= 0.5
    assert 2.0 <= backoff.pause_s(4) <= 2.25
    assert backoff.pause_s(60) <= 30.25


async def test_a_loop_that_stopped_doing_its_work_is_restarted_while_work_waits() -> None:
    started: list[int] = []
    waits = True

    async def run() -> None:
        started.append(1)
        supervised.beat()
        await asyncio.Event().wait()  # stuck: alive, answering, doing nothing

    async def work_waits() -> bool:
        return waits

    supervised = SupervisedLoop("stuck", run, stale_after_s=0.2, work_waits=work_waits, check_every_s=0.05)
    supervised.start()
    try:

        async def restarted() -> bool:
            return supervised.restarts >= 2

        await eventually(restarted, within=10)
        assert len(started) >= 3
        assert supervised.status().running

        # with no work waiting, a quiet loop is left alone
        waits = False
        await asyncio.sleep(0.3)
        before = supervised.restarts
        await asyncio.sleep(0.5)
        assert supervised.restarts == before
        assert supervised.status().stale
    finally:
        await supervised.stop()


async def test_a_loop_that_ended_is_started_again() -> None:
    runs: list[int] = []

    async def run() -> None:
        runs.append(1)

    supervised = SupervisedLoop("ends", run, stale_after_s=10, check_every_s=0.05)
    supervised.start()
    try:

        async def again() -> bool:
            return len(runs) >= 3

        await eventually(again, within=10)
    finally:
        await supervised.stop()


async def test_a_loop_that_keeps_failing_is_left_to_its_backoff_and_reported_stale() -> None:
    tries: list[int] = []

    async def one_pass() -> None:
        tries.append(1)
        raise ConnectionRefusedError("the database is away")

    async def run() -> None:
        await forever("failing", one_pass, QUICK, on_failure=supervised.trying)

    async def work_waits() -> bool:
        return True

    supervised = SupervisedLoop("failing", run, stale_after_s=0.2, work_waits=work_waits, check_every_s=0.05)
    supervised.start()
    try:

        async def stale_and_trying() -> bool:  # it did no work for its period: readiness says so
            return supervised.status().stale and len(tries) > 5

        await eventually(stale_and_trying, within=10)
        assert supervised.restarts == 0  # yet it is not stuck: it tries, and its backoff decides when
    finally:
        await supervised.stop()

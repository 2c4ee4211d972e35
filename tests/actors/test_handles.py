"""Named actor handles: looked up once, in a thread (never blocking the event loop), again only after the actor
died for good."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
import ray

from actors.handles import ActorMissing, NamedActor


class Lookups:
    """A stand-in for `ray.get_actor`, which blocks its caller while it asks Ray's control store."""

    def __init__(self, handles: list[Any]) -> None:
        self.handles = handles
        self.calls: list[tuple[str, str | None]] = []
        self.threads: set[int] = set()

    def __call__(self, name: str, namespace: str | None = None) -> Any:
        self.calls.append((name, namespace))
        self.threads.add(threading.get_ident())
        time.sleep(0.2)
        return self.handles[len(self.calls) - 1]


async def test_the_handle_is_looked_up_once_and_off_the_event_loop() -> None:
    lookups = Lookups([object()])
    actor = NamedActor("kep-thing", "ns", lookups)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    beat = asyncio.create_task(ticker())
    handles = await asyncio.gather(*(actor.handle() for _ in range(20)))
    beat.cancel()
    assert lookups.calls == [("kep-thing", "ns")]
    assert all(h is handles[0] for h in handles)
    assert threading.get_ident() not in lookups.threads
    assert ticks > 0  # the loop went on while the lookup waited
    assert await actor.handle() is handles[0]
    assert len(lookups.calls) == 1


@ray.remote(num_cpus=0)
class Echo:
    def say(self, word: str) -> str:
        return word


async def test_a_call_to_an_actor_that_died_for_good_finds_its_successor(ray_app: dict[str, Any]) -> None:
    name = f"echo-{time.monotonic_ns()}"
    first = Echo.options(name=name).remote()  # type: ignore[attr-defined]
    actor = NamedActor(name, None)
    assert await actor.call("say", "γεια") == "γεια"
    ray.kill(first, no_restart=True)
    with pytest.raises(ActorMissing):  # nobody by that name yet
        await NamedActor(name, None).call("say", "x")
    successor = Echo.options(name=name).remote()  # type: ignore[attr-defined]
    assert await actor.call("say", "ξανά") == "ξανά"
    ray.kill(successor, no_restart=True)

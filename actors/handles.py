"""Named actors looked up once and kept: `ray.get_actor` is a blocking call to Ray's control store, so it never
runs on an event loop, and not once per request."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import ray

from actors.ray_options import ActorHandle, call_actor
from messages.errors import NotAvailable

Lookup = Callable[..., ActorHandle]


class ActorMissing(NotAvailable):
    """No actor runs under the name (not started, or stopped for good)."""


class NamedActor:
    """A handle to the actor called `name`, found on first use (in a thread) and again only after the actor is
    gone for good (killed without restart, then started anew under the same name)."""

    def __init__(self, name: str, namespace: str | None, lookup: Lookup | None = None) -> None:
        self.name = name
        self.namespace = namespace
        self._lookup = lookup or ray.get_actor
        self._handle: ActorHandle | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"NamedActor({self.name!r}, namespace={self.namespace!r})"

    async def handle(self) -> ActorHandle:
        if self._handle is None:
            async with self._lock:
                if self._handle is None:
                    try:
                        self._handle = await asyncio.to_thread(self._lookup, self.name, namespace=self.namespace)
                    except ValueError:  # Ray's answer for a name nobody holds
                        raise ActorMissing(f"{self.name} is not running") from None
        return self._handle

    async def call(self, method: str, *args: Any) -> Any:
        """Call a method; once more on a fresh handle if the actor it named has died for good. Callers pass
        commands that are idempotent (by command id), so the second try never doubles an effect."""
        handle = await self.handle()
        try:
            return await call_actor(getattr(handle, method).remote(*args))
        except ray.exceptions.ActorDiedError:
            self._handle = None
            return await call_actor(getattr(await self.handle(), method).remote(*args))

"""Turn a plain class into a Ray actor class with options chosen on purpose (Ray's stubs miss some of them)."""

from __future__ import annotations

from typing import Any

import ray

from messages.errors import KepError

# Handles are untyped at our boundaries: arguments and results are pydantic messages checked on arrival.
ActorHandle = ray.actor.ActorHandle[Any]


def actor_class(cls: type, **options: Any) -> Any:
    """I/O-bound actors ask for no CPU, so a 2-core machine is not starved by waiting actors."""
    options.setdefault("num_cpus", 0)
    return ray.remote(**options)(cls)


async def call_actor(ref: Any) -> Any:
    """Await an actor call, giving back our own error instead of Ray's wrapper."""
    try:
        return await ref
    except ray.exceptions.RayTaskError as exc:
        if isinstance(exc.cause, KepError):
            raise exc.cause from None
        raise

"""A pool of named Ray actors as a scale target: the embedded default on one machine.

Members are named `<pool>-<index>` in the application's Ray namespace, so the pool is whatever Ray holds now: an
autoscaler restarted, or two of them, see the same pool. Growing fills the lowest free indices; shrinking removes
the highest, each drained first (it stops taking messages and finishes those in hand) and only then killed.
"""

from __future__ import annotations

import asyncio
import importlib
import re
from collections.abc import Callable, Mapping
from typing import Any

import ray
import structlog

from actors.ray_options import ActorHandle
from autoscaler.model import ScaleConflict, ScalerError, ScaleState
from infra.settings import Settings

log = structlog.get_logger("autoscaler.ray_pool")
MemberFactory = Callable[..., ActorHandle]  # (name=, settings=, **options) -> a new named actor
READY_TIMEOUT_S = 2.0


def load_factory(path: str) -> MemberFactory:
    """`module:function` of a function that starts one pool member."""
    module, _, attr = path.partition(":")
    try:
        factory: MemberFactory = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"no pool member factory {path!r}: {exc}") from None
    return factory


class ActorPoolScaler:
    def __init__(
        self,
        target: str,
        factory: MemberFactory,
        settings: Settings,
        options: Mapping[str, Any] | None = None,
        *,
        drain_timeout_s: float = 60.0,
    ) -> None:
        self.target = target
        self._factory, self._settings, self._options = factory, settings, dict(options or {})
        self._drain_timeout_s = drain_timeout_s
        self._member = re.compile(rf"{re.escape(target)}-(\d+)")

    def __repr__(self) -> str:
        return f"ActorPoolScaler({self.target!r})"

    async def verify(self) -> None:
        """Nothing to ask: the member factory was found when the scaler was made, and Ray starts what it is given."""

    async def read(self) -> ScaleState:
        names = await self._members()
        ready = await asyncio.gather(*(self._ready(name) for name in names))
        return ScaleState(self.target, len(names), sum(ready), version=",".join(names))

    async def write(self, replicas: int, expected: ScaleState) -> ScaleState:
        if replicas < 0:
            raise ValueError(f"replicas must be >= 0, not {replicas}")
        names = await self._members()
        if ",".join(names) != expected.version:
            raise ScaleConflict(self.target, f"the pool changed since it was read: {len(names)} members now")
        if replicas > len(names):
            await self._grow(names, replicas - len(names))
        elif replicas < len(names):
            await self._shrink(names[replicas:])
        return await self.read()

    async def _grow(self, names: list[str], more: int) -> None:
        taken = set(names)
        new = [n for n in (f"{self.target}-{i}" for i in range(len(names) + more)) if n not in taken][:more]
        try:
            handles = [self._factory(name=n, settings=self._settings, **self._options) for n in new]
            await asyncio.gather(*(h.__ray_ready__.remote() for h in handles))
        except ray.exceptions.RayError as exc:
            raise ScalerError(self.target, f"a new member did not start: {exc}") from None
        log.info("pool_grown", pool=self.target, added=new)

    async def _shrink(self, leaving: list[str]) -> None:
        async def remove(name: str) -> None:
            try:
                handle = await asyncio.to_thread(ray.get_actor, name)  # a blocking call to Ray's control store
            except ValueError:
                return  # gone already
            left = 0
            try:
                left = await handle.drain.remote(self._drain_timeout_s)
            except ray.exceptions.RayError as exc:
                log.warning("pool_member_drain_failed", pool=self.target, member=name, error=str(exc))
            ray.kill(handle, no_restart=True)
            log.info("pool_member_removed", pool=self.target, member=name, unfinished=left)

        await asyncio.gather(*(remove(n) for n in leaving))
        # a killed actor keeps its name until Ray has seen it die
        for _ in range(100):
            if not set(leaving) & set(await self._members()):
                return
            await asyncio.sleep(0.1)
        raise ScalerError(self.target, f"members {leaving} did not stop")

    async def _members(self) -> list[str]:
        names: list[str] = await asyncio.to_thread(ray.util.list_named_actors)
        members = [(int(m[1]), n) for n in names if (m := self._member.fullmatch(n))]
        return [n for _, n in sorted(members)]

    async def _ready(self, name: str) -> bool:
        try:
            handle = await asyncio.to_thread(ray.get_actor, name)  # a blocking call to Ray's control store
            await asyncio.wait_for(handle.__ray_ready__.remote(), READY_TIMEOUT_S)
        except (ValueError, TimeoutError, ray.exceptions.RayError):
            return False
        return True

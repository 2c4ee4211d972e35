"""Every external-task topic the workers serve, in one place: its options (what the bridge fetches, how long it
locks, how failures are retried) and its handler, bound to what the handler needs. Topics come in groups, each
served by a pool of its own that the autoscaler sizes by its queues: the case steps (task workers), the delivery
steps (delivery workers, which hold the adapters to the systems outside), the renders (the renderer pool)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

import asyncpg

from actors.cases import topics as case_topics
from actors.cases.shards import CaseShards
from actors.delivery import steps as delivery_steps
from actors.delivery.configured import Live
from infra.settings import Settings
from infra.storage import create_store
from messages.documents import RENDER_TOPIC, RENDER_TOPIC_OPTIONS
from messages.tasks import Topic, TopicOptions

Group = Literal["cases", "delivery"]
GROUPS: dict[Group, dict[str, TopicOptions]] = {"cases": case_topics.OPTIONS, "delivery": delivery_steps.OPTIONS}
# document-render has no handler here: the renderer pool consumes its queue (actors/documents/renderer.py)
OPTIONS: dict[str, TopicOptions] = {**case_topics.OPTIONS, **delivery_steps.OPTIONS, RENDER_TOPIC: RENDER_TOPIC_OPTIONS}


@dataclass
class Bound:
    topics: dict[str, Topic]
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    delivery: delivery_steps.DeliveryDeps | None = None  # where a test arms a crash of a delivery step


def bind(pool: asyncpg.Pool[asyncpg.Record], settings: Settings, group: Group = "cases") -> Bound:
    """The group's topics with their handlers, and what to close when the worker goes."""
    cases = CaseShards(settings.case_shards, settings.ray_namespace)
    if group == "cases":
        return Bound(case_topics.topics(case_topics.CaseTaskDeps(pool=pool, cases=cases)))
    adapters = Live(settings, pool)
    deps = delivery_steps.DeliveryDeps(pool=pool, cases=cases, adapters=adapters, store=create_store(settings))
    return Bound(delivery_steps.topics(deps), [adapters.close], deps)

"""Every external-task topic the workers serve, in one place: its options (what the bridge fetches, how long it
locks, how failures are retried) and its handler, bound to what the handler needs."""

from __future__ import annotations

import asyncpg

from actors.cases import topics as case_topics
from actors.cases.shards import CaseShards
from infra.settings import Settings
from messages.tasks import Topic, TopicOptions

OPTIONS: dict[str, TopicOptions] = {**case_topics.OPTIONS}


def bind(pool: asyncpg.Pool[asyncpg.Record], settings: Settings) -> dict[str, Topic]:
    cases = CaseShards(settings.case_shards, settings.ray_namespace)
    return {**case_topics.topics(case_topics.CaseTaskDeps(pool=pool, cases=cases))}

"""Every external-task topic the workers serve, in one place: its options (what the bridge fetches, how long it
locks, how failures are retried) and its handler, bound to what the handler needs."""

from __future__ import annotations

import asyncpg

from actors.cases import topics as case_topics
from actors.cases.shards import CaseShards
from infra.settings import Settings
from messages.documents import RENDER_TOPIC, RENDER_TOPIC_OPTIONS
from messages.tasks import Topic, TopicOptions

# document-render has no handler here: the renderer pool consumes its queue (actors/documents/renderer.py)
OPTIONS: dict[str, TopicOptions] = {**case_topics.OPTIONS, RENDER_TOPIC: RENDER_TOPIC_OPTIONS}


def bind(pool: asyncpg.Pool[asyncpg.Record], settings: Settings) -> dict[str, Topic]:
    cases = CaseShards(settings.case_shards, settings.ray_namespace)
    return {**case_topics.topics(case_topics.CaseTaskDeps(pool=pool, cases=cases))}

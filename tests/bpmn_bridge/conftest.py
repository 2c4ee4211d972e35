"""Fixtures of the bridge tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bpmn_bridge.engine import EngineClient
from infra.settings import Settings


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[EngineClient]:
    """The engine, in this session's tenant."""
    async with EngineClient(settings.engine_url, tenant_id=settings.engine_tenant) as client:
        yield client

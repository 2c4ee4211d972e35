"""Fixtures of the bridge tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from bpmn_bridge.engine import EngineClient
from infra.settings import Settings
from kepctl.seed import REVIEW_FORM
from tests.helpers import bearer


@pytest.fixture
async def review_form(http: httpx.AsyncClient, token_for: Callable[..., str]) -> None:
    """The review task's form (formKey kep:review), as the demo seed saves it."""
    admin = bearer(token_for(uuid.uuid4(), roles=("administrator",)))
    saved = await http.post("/api/admin/forms", json={"key": "review", "title": "Έλεγχος", "definition": REVIEW_FORM},
                            headers=admin)  # fmt: skip
    assert saved.status_code == 201


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[EngineClient]:
    """The engine, in this session's tenant."""
    async with EngineClient(settings.engine_url, tenant_id=settings.engine_tenant) as client:
        yield client

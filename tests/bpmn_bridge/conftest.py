"""Fixtures of the bridge tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest

from tests.conftest import OfficeFactory
from tests.helpers import bearer


@pytest.fixture
async def office_with_staff(
    make_office: OfficeFactory, pool: asyncpg.Pool[asyncpg.Record], token_for: Callable[..., str]
) -> dict[str, Any]:
    office = await make_office()
    employee = f"emp-{uuid.uuid4().hex[:8]}"
    await pool.execute(
        "INSERT INTO users (id, subject, office_id, display_name, roles) VALUES ($1, $2, $3, $2, '{employee}')",
        uuid.uuid4(),
        employee,
        office,
    )
    return {"office": office, "employee": employee, "headers": bearer(token_for(office, subject=employee))}

"""A genuine token is not enough: its subject must be an active user of the office the token names (the `users`
row, which administrators keep), whatever the identity provider's attribute says."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import OfficeFactory
from tests.helpers import bearer


async def test_a_member_is_served(
    ray_app: dict[str, Any], http: httpx.AsyncClient, make_office: OfficeFactory, token_for: Callable[..., str]
) -> None:
    office = await make_office()
    resp = await http.get("/api/cases", headers=bearer(token_for(office)))
    assert resp.status_code == 200, resp.text


@pytest.fixture
async def member(make_office: OfficeFactory, token_for: Callable[..., str]) -> tuple[str, dict[str, str]]:
    """A user of a fresh office, as its token and the `users` row the token helper made: (subject, headers)."""
    subject = f"member-{uuid.uuid4().hex[:8]}"
    return subject, bearer(token_for(await make_office(), subject=subject))


async def test_a_subject_the_system_does_not_know_is_refused(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    member: tuple[str, dict[str, str]],
) -> None:
    subject, headers = member
    await pool.execute("DELETE FROM users WHERE subject = $1", subject)
    resp = await http.get("/api/cases", headers=headers)
    assert resp.status_code == 403, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    # nor may it send a body: the guard asks before reading
    resp = await http.post("/api/cases", json={}, headers=headers)
    assert resp.status_code == 403, resp.text


async def test_a_deactivated_account_is_refused(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    member: tuple[str, dict[str, str]],
) -> None:
    subject, headers = member
    await pool.execute("UPDATE users SET active = false WHERE subject = $1", subject)
    resp = await http.get("/api/cases", headers=headers)
    assert resp.status_code == 403, resp.text
    assert "deactivated" in resp.json()["detail"]


async def test_a_token_naming_another_office_than_the_users_is_refused(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    pool: asyncpg.Pool[asyncpg.Record],
    make_office: OfficeFactory,
    member: tuple[str, dict[str, str]],
) -> None:
    # the identity provider's attribute says one office (changed there, or set by a realm administrator), the
    # system's record another: the record decides
    subject, headers = member
    await pool.execute("UPDATE users SET office_id = $2 WHERE subject = $1", subject, await make_office())
    resp = await http.get("/api/cases", headers=headers)
    assert resp.status_code == 403, resp.text
    assert "another office" in resp.json()["detail"]

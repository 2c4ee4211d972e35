"""Administrators check the delivery adapters' configuration through the API: each external system's settings,
connection and credentials, against the local doubles `kep` runs."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx

from tests.helpers import bearer


async def test_each_adapters_configuration_is_checked_for_administrators_only(
    ray_app: dict[str, Any], http: httpx.AsyncClient, token_for: Callable[..., str]
) -> None:
    admin = bearer(token_for(uuid.uuid4(), roles=("administrator",)))
    resp = await http.get("/api/admin/adapters/check", headers=admin)
    assert resp.status_code == 200, resp.text
    reports = {r["adapter"]: r for r in resp.json()}
    assert set(reports) == {"ked-nnc", "govgr-mailbox", "kshde"}
    assert all(r["ok"] for r in reports.values()), reports
    employee = bearer(token_for(uuid.uuid4(), roles=("employee", "supervisor")))
    assert (await http.get("/api/admin/adapters/check", headers=employee)).status_code == 403

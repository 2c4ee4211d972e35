"""Administrators check the delivery adapters' configuration through the API: each external system's settings,
connection and credentials, against the local doubles `kep` runs."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx

from actors.delivery.configured import Live
from infra.settings import Settings
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


async def test_administrators_configure_an_adapter_tried_first_secrets_sealed_and_audited(
    ray_app: dict[str, Any],
    http: httpx.AsyncClient,
    token_for: Callable[..., str],
    pool: asyncpg.Pool[asyncpg.Record],
    settings: Settings,
) -> None:
    admin = bearer(token_for(uuid.uuid4(), roles=("administrator",)))
    listed = {c["adapter"]: c for c in (await http.get("/api/admin/adapters", headers=admin)).json()}
    assert listed["kshde"]["source"] == "settings"
    assert listed["kshde"]["secrets"] == {"client_secret": True}
    assert "client_secret" not in listed["kshde"]["values"]
    assert listed["kshde"]["values"]["sector_code"] == "KEP-ATH"
    url = "/api/admin/adapters/kshde"

    async def refused(change: dict[str, Any], *pointers: str) -> None:
        resp = await http.put(url, json=change, headers=admin)
        assert resp.status_code == 422, resp.text
        assert [e["path"] for e in resp.json()["errors"]] == list(pointers)

    # credentials ΚΣΗΔΕ refuses are found now, not at the first case; options the adapter does not have; a secret
    # sent in the open; a malformed endpoint: nothing is saved
    await refused({"secrets": {"client_secret": "wrong"}}, "/secrets")
    await refused({"values": {"colour": "blue"}}, "/values/colour")
    await refused({"values": {"client_secret": "x"}}, "/values/client_secret")
    await refused({"values": {"url": "ftp://elsewhere"}, "check": False}, "/values/url")
    assert (await http.put("/api/admin/adapters/nope", json={}, headers=admin)).status_code == 404
    assert not await pool.fetchval("SELECT count(*) FROM adapter_settings WHERE adapter = 'kshde'")

    try:
        saved = await http.put(url, json={"values": {"timeout_s": 7.5}, "secrets": {"client_secret": "kep-secret"},
                                          "reason": "νέα διαπιστευτήρια"}, headers=admin)  # fmt: skip
        assert saved.status_code == 200, saved.text
        assert (saved.json()["source"], saved.json()["values"]["timeout_s"]) == ("saved", 7.5)
        row = await pool.fetchrow("SELECT secrets FROM adapter_settings WHERE adapter = 'kshde'")
        assert row is not None
        assert b"kep-secret" not in bytes(row["secrets"])  # sealed with KEP_CONFIG_KEY
        audit = await pool.fetchval(
            "SELECT new::text FROM admin_audit WHERE entity = 'adapter' AND entity_id = 'kshde' ORDER BY id DESC"
        )
        assert "kep-secret" not in audit
        assert "client_secret" in audit  # which secret was set, not what it is
        # the delivery workers build their adapters anew with it
        live = Live(settings, pool)
        try:
            adapters = await live.get()
            assert adapters.kshde is not None
            assert adapters.kshde.options.timeout_s == 7.5
            assert (await adapters.kshde.check_config()).ok
        finally:
            await live.close()
        employee = bearer(token_for(uuid.uuid4(), roles=("employee", "supervisor")))
        assert (await http.put(url, json={"values": {"timeout_s": 1}}, headers=employee)).status_code == 403
        assert (await http.get("/api/admin/adapters", headers=employee)).status_code == 403
    finally:
        reset = await http.delete(url, headers=admin)
    assert reset.json()["source"] == "settings"
    assert reset.json()["values"]["timeout_s"] == 10.0  # the default again

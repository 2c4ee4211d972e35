"""The adapters as configured: the KEP_KED_*, KEP_MAILBOX_*, KEP_KSHDE_* settings, overlaid field by field by what
administrators saved for this environment (`adapter_settings`, secrets encrypted with KEP_CONFIG_KEY). An adapter
whose options do not validate (no endpoint, no credentials) is not configured. For the process's steps (which build
their adapters anew when the saved configuration changes: `Live`), the readers, and the administrators' check.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import asyncpg
from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr, ValidationError

from actors.delivery.adapters import REGISTRY, AdapterOptions, ConfigReport
from actors.delivery.ked import KedNnc, KedOptions
from actors.delivery.kshde import Kshde, KshdeOptions
from actors.delivery.mailbox import GovGrMailbox, MailboxOptions
from infra.db import Conn
from infra.settings import Settings
from messages.errors import ConfigurationError

ConnFactory = Callable[[], AbstractAsyncContextManager[Any]]
OPTIONS: dict[str, type[AdapterOptions]] = {
    KedNnc.name: KedOptions,
    GovGrMailbox.name: MailboxOptions,
    Kshde.name: KshdeOptions,
}
Raw = dict[str, Any]


@dataclass(frozen=True)
class Adapters:
    ked: KedNnc | None
    mailbox: GovGrMailbox | None
    kshde: Kshde | None

    async def close(self) -> None:
        for adapter in (self.ked, self.mailbox, self.kshde):
            if adapter is not None:
                await adapter.close()

    async def reports(self) -> list[ConfigReport]:
        """Every registered adapter: its check_config where it is configured, the missing settings where not."""
        found = {a.name: a for a in (self.ked, self.mailbox, self.kshde) if a is not None}
        out = []
        for name in sorted(REGISTRY):
            adapter = found.get(name)
            if adapter is None:
                out.append(ConfigReport(name, {"settings": f"not configured (KEP_{_prefix(name)}_* settings or "
                                                           f"PUT /api/admin/adapters/{name})"}))  # fmt: skip
            else:
                out.append(await adapter.check_config())
        return out


def _prefix(name: str) -> str:
    return {"ked-nnc": "KED", "govgr-mailbox": "MAILBOX", "kshde": "KSHDE"}.get(name, name.upper())


def secret_fields(name: str) -> frozenset[str]:
    """The options of an adapter that are secrets (SecretStr): stored encrypted, never shown."""
    model = OPTIONS[name]
    return frozenset(f for f, info in model.model_fields.items() if "SecretStr" in str(info.annotation))


def from_settings(settings: Settings) -> dict[str, Raw]:
    """Each adapter's options as the settings give them (unset ones left out)."""

    def plain(values: Raw) -> Raw:
        return {k: v.get_secret_value() if isinstance(v, SecretStr) else v for k, v in values.items() if v is not None}

    return {
        KedNnc.name: plain({"url": settings.ked_url, "username": settings.ked_username,
                            "password": settings.ked_password, "audit_unit": settings.ked_audit_unit}),
        GovGrMailbox.name: plain({"url": settings.mailbox_url, "token": settings.mailbox_token,
                                  "sender_org": settings.mailbox_sender_org}),
        Kshde.name: plain({"url": settings.kshde_url, "sector_code": settings.kshde_sector_code,
                           "client_id": settings.kshde_client_id, "client_secret": settings.kshde_client_secret}),
    }  # fmt: skip


def cipher(settings: Settings) -> Fernet | None:
    return Fernet(settings.config_key.get_secret_value().encode()) if settings.config_key else None


@dataclass(frozen=True)
class Stored:
    values: Raw
    secrets: Raw
    version: int
    updated_by: str


async def stored(conn: Conn, settings: Settings) -> dict[str, Stored]:
    """What administrators saved for this environment, secrets decrypted."""
    rows = await conn.fetch(
        'SELECT adapter, "values", secrets, version, updated_by FROM adapter_settings WHERE environment = $1',
        settings.env,
    )
    key = cipher(settings)
    out = {}
    for row in rows:
        secrets: Raw = {}
        if row["secrets"] is not None:
            if key is None:
                raise ConfigurationError("adapter secrets are stored encrypted: KEP_CONFIG_KEY is needed to read them")
            try:
                secrets = json.loads(key.decrypt(bytes(row["secrets"])))
            except InvalidToken:
                raise ConfigurationError("KEP_CONFIG_KEY does not decrypt the stored adapter secrets") from None
        out[row["adapter"]] = Stored(row["values"], secrets, row["version"], row["updated_by"])
    return out


def effective(settings: Settings, saved: dict[str, Stored]) -> dict[str, Raw]:
    """The settings, overlaid field by field by what was saved."""
    base = from_settings(settings)
    return {name: base.get(name, {}) | ((s.values | s.secrets) if (s := saved.get(name)) else {}) for name in OPTIONS}


def options(name: str, raw: Raw) -> AdapterOptions | None:
    """The adapter's typed options, None when it is not configured (its endpoint or credentials missing)."""
    try:
        return OPTIONS[name].model_validate(raw)
    except ValidationError:
        return None


def build(settings: Settings, raw: dict[str, Raw], connect: ConnFactory) -> Adapters:
    ked = mailbox = kshde = None
    if (o := options(KedNnc.name, raw[KedNnc.name])) is not None:
        ked = KedNnc(o, connect)  # type: ignore[arg-type]
    # the mailbox has no public specification yet: only where the setting lets it be used
    if settings.mailbox_enabled and (o := options(GovGrMailbox.name, raw[GovGrMailbox.name])) is not None:
        mailbox = GovGrMailbox(o)  # type: ignore[arg-type]
    if (o := options(Kshde.name, raw[Kshde.name])) is not None:
        kshde = Kshde(o)  # type: ignore[arg-type]
    return Adapters(ked, mailbox, kshde)


def configured(settings: Settings, connect: ConnFactory) -> Adapters:
    """The adapters of the settings alone (no saved configuration)."""
    return build(settings, effective(settings, {}), connect)


async def current(settings: Settings, connect: ConnFactory) -> Adapters:
    """The adapters as configured now: the settings and what administrators saved."""
    async with connect() as conn:
        saved = await stored(conn, settings)
    return build(settings, effective(settings, saved), connect)


async def config_version(conn: Conn) -> int:
    """Moves on with every save and every reset of a saved configuration."""
    row = await conn.fetchrow("SELECT last_value, is_called FROM adapter_settings_version_seq")
    return int(row["last_value"]) if row is not None and row["is_called"] else 0


class Live:
    """The adapters a long-lived worker uses: built anew (the old ones closed) when administrators saved a change."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool[asyncpg.Record]) -> None:
        self.settings = settings
        self.pool = pool
        self._adapters: Adapters | None = None
        self._version = -1
        self._closing: set[asyncio.Task[None]] = set()

    async def get(self) -> Adapters:
        async with self.pool.acquire() as conn:
            version = await config_version(conn)
        if self._adapters is None or version != self._version:
            fresh = await current(self.settings, self.pool.acquire)
            old, self._adapters, self._version = self._adapters, fresh, version
            if old is not None:  # steps still in a call on them finish first
                self._closing.add(asyncio.get_running_loop().create_task(_close_later(old)))
        return self._adapters

    async def close(self) -> None:
        if self._adapters is not None:
            await self._adapters.close()
        for task in self._closing:
            task.cancel()


async def _close_later(adapters: Adapters, after_s: float = 300.0) -> None:
    """Longer than a step's remote call with its retries (the lock of a delivery task)."""
    try:
        await asyncio.sleep(after_s)
    finally:
        await adapters.close()

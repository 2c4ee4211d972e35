"""The adapters the settings configure (an adapter without its endpoint and credentials is not configured), for the
process's steps and for the administrators' configuration check."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from actors.delivery.adapters import REGISTRY, ConfigReport
from actors.delivery.ked import KedNnc, KedOptions
from actors.delivery.kshde import Kshde, KshdeOptions
from actors.delivery.mailbox import GovGrMailbox, MailboxOptions
from infra.settings import Settings

ConnFactory = Callable[[], AbstractAsyncContextManager[Any]]


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
                out.append(ConfigReport(name, {"settings": f"not configured (KEP_{_prefix(name)}_* settings)"}))
            else:
                out.append(await adapter.check_config())
        return out


def _prefix(name: str) -> str:
    return {"ked-nnc": "KED", "govgr-mailbox": "MAILBOX", "kshde": "KSHDE"}.get(name, name.upper())


def configured(settings: Settings, connect: ConnFactory) -> Adapters:
    ked = mailbox = kshde = None
    if settings.ked_url and settings.ked_username and settings.ked_password:
        ked = KedNnc(KedOptions(url=settings.ked_url, username=settings.ked_username, password=settings.ked_password,
                                audit_unit=settings.ked_audit_unit), connect)  # fmt: skip
    if settings.mailbox_enabled and settings.mailbox_url and settings.mailbox_token:
        mailbox = GovGrMailbox(MailboxOptions(url=settings.mailbox_url, token=settings.mailbox_token,
                                              sender_org=settings.mailbox_sender_org))  # fmt: skip
    if settings.kshde_url and settings.kshde_sector_code and settings.kshde_client_id and settings.kshde_client_secret:
        kshde = Kshde(KshdeOptions(url=settings.kshde_url, sector_code=settings.kshde_sector_code,
                                   client_id=settings.kshde_client_id,
                                   client_secret=settings.kshde_client_secret))  # fmt: skip
    return Adapters(ked, mailbox, kshde)

"""Administrators configure the delivery adapters of their environment: endpoints and options in the open, secrets
encrypted (KEP_CONFIG_KEY) and never shown again; every change validated by the adapter's own options model, tried
with its `check_config` before it is saved (a refused credential is found here, not at the first case), and
audited without the secrets."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from actors.delivery import configured
from actors.delivery.configured import OPTIONS, ConnFactory, Raw
from infra.db import Conn
from infra.settings import Settings
from messages.errors import ConfigurationError, FieldError, InvalidInput, NotFound

SET = "set"  # what a secret shows as


@dataclass(frozen=True)
class AdapterConfig:
    adapter: str
    source: str  # settings: nothing saved; saved: administrators' values over the settings
    configured: bool
    enabled: bool  # the mailbox only where KEP_MAILBOX_ENABLED
    values: Raw  # what is not secret, as in effect
    secrets: dict[str, bool]  # each secret: whether one is set
    version: int | None
    updated_by: str | None


async def views(conn: Conn, settings: Settings) -> list[AdapterConfig]:
    saved = await configured.stored(conn, settings)
    raw = configured.effective(settings, saved)
    return [_view(settings, name, raw[name], saved.get(name)) for name in sorted(OPTIONS)]


def _view(settings: Settings, name: str, raw: Raw, saved: configured.Stored | None) -> AdapterConfig:
    hidden = configured.secret_fields(name)
    options = configured.options(name, raw)
    # in effect: every option with its default where it is configured, what is there where it is not
    values = options.model_dump(exclude=set(hidden)) if options else {k: v for k, v in raw.items() if k not in hidden}
    return AdapterConfig(
        adapter=name,
        source="saved" if saved else "settings",
        configured=options is not None,
        enabled=name != "govgr-mailbox" or settings.mailbox_enabled,
        values=values,
        secrets={k: bool(raw.get(k)) for k in sorted(hidden)},
        version=saved.version if saved else None,
        updated_by=saved.updated_by if saved else None,
    )


def _refusals(name: str, values: Raw, secrets: Raw) -> list[FieldError]:
    fields, hidden = set(OPTIONS[name].model_fields), configured.secret_fields(name)
    errors = [FieldError(f"/values/{k}", f"{name} has no option {k!r}", "unknown_option")
              for k in values if k not in fields]  # fmt: skip
    errors += [FieldError(f"/values/{k}", "a secret: send it under /secrets", "secret") for k in values if k in hidden]
    errors += [FieldError(f"/secrets/{k}", f"{k!r} is not a secret of {name}", "not_secret")
               for k in secrets if k not in hidden]  # fmt: skip
    return errors


def _pointer(name: str, loc: tuple[Any, ...]) -> str:
    field = str(loc[0]) if loc else ""
    return f"/{'secrets' if field in configured.secret_fields(name) else 'values'}/{field}"


async def save(
    conn: Conn,
    settings: Settings,
    connect: ConnFactory,
    *,
    name: str,
    values: Raw,
    secrets: Raw,
    actor: str,
    request_id: str | None,
    reason: str | None,
    check: bool = True,
) -> AdapterConfig:
    """Save a change to the adapter's configuration (a field left out stays as it is; null in `values` takes the
    setting's value again). Invalid options, or a `check_config` that fails with them, change nothing."""
    if name not in OPTIONS:
        raise NotFound(f"no adapter {name!r}")
    if errors := _refusals(name, values, secrets):
        raise InvalidInput(f"the configuration of {name} was not changed", errors)
    key = configured.cipher(settings)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"adapter-settings:{name}")
        saved = await configured.stored(conn, settings)
        before = saved.get(name)
        kept_values = {k: v for k, v in ((before.values if before else {}) | values).items() if v is not None}
        kept_secrets = (before.secrets if before else {}) | {k: v for k, v in secrets.items() if v is not None}
        raw = configured.from_settings(settings).get(name, {}) | kept_values | kept_secrets
        try:
            OPTIONS[name].model_validate(raw)
        except ValidationError as exc:
            raise InvalidInput(
                f"the configuration of {name} was not changed",
                [FieldError(_pointer(name, tuple(e["loc"])), e["msg"], e["type"]) for e in exc.errors()],
            ) from None
        if check:
            await _checked(settings, name, raw, connect)
        if kept_secrets and key is None:
            raise ConfigurationError("saving a secret needs KEP_CONFIG_KEY (a Fernet key) to encrypt it")
        sealed = key.encrypt(json.dumps(kept_secrets).encode()) if kept_secrets and key else None
        await conn.execute(
            """INSERT INTO adapter_settings (environment, adapter, "values", secrets, version, updated_by)
               VALUES ($1, $2, $3, $4, nextval('adapter_settings_version_seq'), $5)
               ON CONFLICT (environment, adapter) DO UPDATE
                 SET "values" = $3, secrets = $4, version = nextval('adapter_settings_version_seq'),
                     updated_by = $5, updated_at = now()""",
            settings.env,
            name,
            kept_values,
            sealed,
            actor,
        )
        await _audit(conn, name, "configure", actor, request_id, reason, before, kept_values, kept_secrets)
        return _view(settings, name, raw, (await configured.stored(conn, settings))[name])


async def reset(
    conn: Conn, settings: Settings, *, name: str, actor: str, request_id: str | None, reason: str | None
) -> AdapterConfig:
    """Forget what was saved: the settings alone again."""
    if name not in OPTIONS:
        raise NotFound(f"no adapter {name!r}")
    async with conn.transaction():
        saved = await configured.stored(conn, settings)
        before = saved.get(name)
        if before is not None:
            await conn.execute(
                "DELETE FROM adapter_settings WHERE environment = $1 AND adapter = $2", settings.env, name
            )
            await conn.execute("SELECT nextval('adapter_settings_version_seq')")  # the workers see the change
            await _audit(conn, name, "reset", actor, request_id, reason, before, {}, {})
        return _view(settings, name, configured.from_settings(settings).get(name, {}), None)


async def _checked(settings: Settings, name: str, raw: Raw, connect: ConnFactory) -> None:
    """The adapter built with the candidate options answers its check_config, or nothing is saved."""
    everything: dict[str, Raw] = {n: {} for n in OPTIONS} | {name: raw}
    trial = configured.build(settings.model_copy(update={"mailbox_enabled": True}), everything, connect)
    try:
        [report] = [r for r in await trial.reports() if r.adapter == name]
    finally:
        await trial.close()
    if not report.ok:
        problems = {check: problem for check, problem in report.checks.items() if problem}
        pointer = {"credentials": "/secrets", "connectivity": "/values/url"}
        errors = [FieldError(pointer.get(check, "/values"), problem, f"check_{check}")
                  for check, problem in problems.items()]  # fmt: skip
        raise InvalidInput(f"{name} refused the configuration: " + "; ".join(problems.values()), errors)


async def _audit(
    conn: Conn,
    name: str,
    action: str,
    actor: str,
    request_id: str | None,
    reason: str | None,
    before: configured.Stored | None,
    values: Raw,
    secrets: Raw,
) -> None:
    """Values as they were and are; of the secrets only which ones are set, and whether each changed."""
    old = {"values": before.values if before else {}, "secrets": sorted(before.secrets) if before else []}
    changed = sorted(k for k in secrets if not before or before.secrets.get(k) != secrets[k])
    new = {"values": values, "secrets": sorted(secrets), "secrets_changed": changed}
    await conn.execute(
        """INSERT INTO admin_audit (entity, entity_id, action, actor, request_id, reason, old, new)
           VALUES ('adapter', $1, $2, $3, $4, $5, $6, $7)""",
        name,
        action,
        actor,
        request_id,
        reason,
        old,
        new,
    )

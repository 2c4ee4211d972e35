"""Every read and write of `external_apps`, and their Keycloak clients kept in step.

A registration or change is one PostgreSQL transaction (the row and its `admin_audit` row) that commits only after
Keycloak accepted the client's change: Keycloak refusing it rolls the transaction back, so nothing is half-done; a
database failure after Keycloak created a client deletes the client again (after an update, puts the old one back).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable
from typing import Any

import asyncpg

from actors.external_apps.keycloak import KeycloakClients, representation
from infra.db import Conn
from messages.catalog import AuditEntry
from messages.errors import InvalidInput, NotFound
from messages.external_apps import AppChange, AppNew, AppPage, ExternalApp, MyApp

FIELDS = ("client_id", "name", "url", "description", "icon", "roles", "office_ids", "scopes", "active")


def _app(row: asyncpg.Record) -> ExternalApp:
    return ExternalApp.model_validate(dict(row))


def _values(app: ExternalApp | AppNew) -> dict[str, Any]:
    return app.model_dump(mode="json", include=set(FIELDS))


def _rep(values: dict[str, Any]) -> dict[str, Any]:
    return representation(
        client_id=values["client_id"],
        name=values["name"],
        url=values["url"],
        description=values["description"],
        active=values["active"],
    )


async def _audit(
    conn: Conn, app_id: uuid.UUID, action: str, actor: str, request_id: str | None, old: Any, new: Any
) -> None:
    await conn.execute(
        """INSERT INTO admin_audit (entity, entity_id, action, actor, request_id, reason, old, new)
           VALUES ('external_app', $1, $2, $3, $4, NULL, $5, $6)""",
        str(app_id),
        action,
        actor,
        request_id,
        old,
        new,
    )


def _offices_known(office_ids: Iterable[uuid.UUID], known: Iterable[uuid.UUID]) -> None:
    there = set(known)
    missing = [str(o) for o in office_ids if o not in there]
    if missing:
        raise InvalidInput.at("/office_ids", f"no such offices: {', '.join(missing)}", "unknown")


async def _check_offices(conn: Conn, office_ids: list[uuid.UUID]) -> None:
    if office_ids:
        rows = await conn.fetch("SELECT id FROM offices WHERE id = ANY($1::uuid[])", office_ids)
        _offices_known(office_ids, (r["id"] for r in rows))


async def create(
    *, conn: Conn, keycloak: KeycloakClients, new: AppNew, actor: str, request_id: str | None
) -> ExternalApp:
    """A new application, its client in Keycloak and its audit row (`create`, old `{}`)."""
    await _check_offices(conn, new.office_ids)
    values = _values(new)
    app_id = uuid.uuid4()
    kc_id: str | None = None
    try:
        async with conn.transaction():
            if await conn.fetchval("SELECT 1 FROM external_apps WHERE client_id = $1", new.client_id):
                raise InvalidInput.at("/client_id", f"an application has the client id {new.client_id}", "duplicate")
            kc_id = await keycloak.create(_rep(values), list(new.scopes))
            try:
                row = await conn.fetchrow(
                    """INSERT INTO external_apps
                          (id, client_id, keycloak_id, name, url, description, icon, roles, office_ids, scopes, active)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *""",
                    app_id,
                    new.client_id,
                    kc_id,
                    new.name,
                    new.url,
                    new.description,
                    new.icon,
                    list(new.roles),
                    new.office_ids,
                    list(new.scopes),
                    new.active,
                )
            except asyncpg.UniqueViolationError:
                raise InvalidInput.at(
                    "/client_id", f"an application has the client id {new.client_id}", "duplicate"
                ) from None
            assert row is not None
            await _audit(conn, app_id, "create", actor, request_id, {}, values)
    except BaseException:
        if kc_id is not None:
            await keycloak.delete(kc_id)
        raise
    return _app(row)


async def change(
    *,
    conn: Conn,
    keycloak: KeycloakClients,
    app_id: uuid.UUID,
    change: AppChange,
    actor: str,
    request_id: str | None,
) -> ExternalApp:
    """The fields sent, its client updated to match (deactivation disables it), audited (`update`, or
    `deactivate`/`activate` when that is all that changed)."""
    sent = change.model_dump(mode="json", exclude_unset=True)
    for required in ("name", "url", "roles", "office_ids", "scopes", "active"):
        if required in sent and sent[required] is None:
            raise InvalidInput.at(f"/{required}", f"{required} cannot be null", "required")
    if change.office_ids:
        await _check_offices(conn, change.office_ids)
    kc_changed: tuple[str, dict[str, Any]] | None = None
    try:
        async with conn.transaction():
            row = await conn.fetchrow(
                "SELECT * FROM external_apps WHERE id = $1 FOR UPDATE",
                app_id,
            )
            if row is None:
                raise NotFound(f"no application {app_id}")
            before = _app(row)
            old = _values(before)
            new = old | sent
            changed = {k for k in new if new[k] != old[k]}
            if not changed:
                return before
            updated = await conn.fetchrow(
                """UPDATE external_apps SET name = $2, url = $3, description = $4, icon = $5, roles = $6,
                       office_ids = $7::uuid[], scopes = $8, active = $9, updated_at = now()
                    WHERE id = $1 RETURNING *""",
                app_id,
                new["name"],
                new["url"],
                new["description"],
                new["icon"],
                new["roles"],
                [uuid.UUID(o) for o in new["office_ids"]],
                new["scopes"],
                new["active"],
            )
            assert updated is not None
            action = ("activate" if new["active"] else "deactivate") if changed == {"active"} else "update"
            await _audit(
                conn, app_id, action, actor, request_id, {k: old[k] for k in changed}, {k: new[k] for k in changed}
            )
            # last, so that Keycloak refusing it rolls the row and the audit back
            await keycloak.update(row["keycloak_id"], _rep(new), new["scopes"])
            kc_changed = (row["keycloak_id"], old)
    except BaseException:
        if kc_changed is not None:  # Keycloak changed but the transaction did not commit: put the old client back
            kc_id, was = kc_changed
            with contextlib.suppress(Exception):
                await keycloak.update(kc_id, _rep(was), was["scopes"])
        raise
    return _app(updated)


async def get_app(*, conn: Conn, app_id: uuid.UUID) -> ExternalApp:
    row = await conn.fetchrow(
        "SELECT * FROM external_apps WHERE id = $1",
        app_id,
    )
    if row is None:
        raise NotFound(f"no application {app_id}")
    return _app(row)


async def list_apps(*, conn: Conn, office_id: uuid.UUID | None, active: bool | None, page: int, size: int) -> AppPage:
    """By name, a page at a time; `office_id`: only those that office's staff may open (none listed: all)."""
    rows = await conn.fetch(
        """SELECT *, count(*) OVER () AS total FROM external_apps
            WHERE ($1::uuid IS NULL OR office_ids = '{}' OR $1 = ANY(office_ids))
              AND ($2::boolean IS NULL OR active = $2)
            ORDER BY name, id LIMIT $3 OFFSET $4""",
        office_id,
        active,
        size,
        (page - 1) * size,
    )
    total = rows[0]["total"] if rows else 0
    if not rows and page > 1:
        total = await conn.fetchval(
            """SELECT count(*) FROM external_apps
               WHERE ($1::uuid IS NULL OR office_ids = '{}' OR $1 = ANY(office_ids))
                 AND ($2::boolean IS NULL OR active = $2)""",
            office_id,
            active,
        )
    items = [_app(r) for r in rows]
    return AppPage(items=items, total=total, page=page, size=size)


async def my_apps(*, conn: Conn, roles: Iterable[str], office_id: uuid.UUID | None) -> list[MyApp]:
    """The active applications the caller may open: one of their roles listed (or none listed), and their office
    listed (or none listed)."""
    rows = await conn.fetch(
        """SELECT id, name, url, description, icon FROM external_apps
           WHERE active AND (roles = '{}' OR roles && $1::text[])
             AND (office_ids = '{}' OR $2::uuid = ANY(office_ids))
           ORDER BY name, id""",
        sorted(roles),
        office_id,
    )
    return [MyApp.model_validate(dict(r)) for r in rows]


async def audit(*, conn: Conn, app_id: uuid.UUID) -> list[AuditEntry]:
    rows = await conn.fetch(
        """SELECT action, actor, request_id, reason, old, new, at FROM admin_audit
           WHERE entity = 'external_app' AND entity_id = $1 ORDER BY id""",
        str(app_id),
    )
    return [AuditEntry.model_validate(dict(r)) for r in rows]

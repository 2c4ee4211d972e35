"""Every read and write of `users` (but the per-request membership check, members.py), each account kept in step
with its Keycloak user (keycloak.py).

A change is one PostgreSQL transaction (the row and its `admin_audit` row, entity `user`) that commits only after
Keycloak accepted it, as for the external applications: a creation asks Keycloak first (its id is the row's) and
deletes the Keycloak user again when the row is not written; a change writes the row, then Keycloak, and puts the
old account back in Keycloak when the transaction does not commit. So a change that Keycloak refuses leaves nothing
behind in either place; one that Keycloak never heard of (unreachable: 503) wrote nothing here.

What a caller sees is a `Sight`: administrators every account; staff their own office's (another office's is
NotFound, as one that does not exist). Who may write is the router's rule."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from actors import audit
from actors.users.keycloak import Account, KeycloakAccounts
from infra.db import Conn, like_escape
from messages.catalog import AuditEntry
from messages.errors import InvalidInput, NotFound
from messages.users import Move, User, UserChange, UserFilter, UserNew, UserPage

MAX_WORDS = 8  # words of `q` that count
# what an audit row shows of an account (old and new JSON)
FIELDS = ("username", "given_name", "family_name", "email", "office_id", "roles", "active")
_COLUMNS = (
    "id, subject, username, display_name, given_name, family_name, email, office_id, roles, active, created_at, "
    "updated_at, deactivated_at"
)


@dataclass(frozen=True)
class Sight:
    """The accounts a caller may see: every one, or those of `own` office (`active_only`: not the deactivated)."""

    everything: bool
    own: uuid.UUID | None = None
    active_only: bool = False

    def sees(self, office_id: uuid.UUID | None, active: bool) -> bool:
        if self.active_only and not active:
            return False
        return self.everything or (office_id is not None and office_id == self.own)


EVERYTHING = Sight(everything=True)


def _user(row: asyncpg.Record) -> User:
    return User.model_validate(dict(row))


def _values(row: asyncpg.Record) -> dict[str, Any]:
    """The audited fields of a row, as JSON would have them."""
    out = {k: row[k] for k in FIELDS}
    out["office_id"] = str(row["office_id"]) if row["office_id"] else None
    out["roles"] = sorted(row["roles"])
    return out


def _account(values: dict[str, Any]) -> Account:
    office = values["office_id"]
    return Account(
        username=values["username"],
        given_name=values["given_name"],
        family_name=values["family_name"],
        email=values["email"],
        office_id=uuid.UUID(office) if office else None,
        roles=frozenset(values["roles"]),
        enabled=values["active"],
    )


def _display_name(values: dict[str, Any], was: str) -> str:
    names = [n for n in (values["given_name"], values["family_name"]) if n]
    return " ".join(names) or was


def _fold(sql: str) -> str:
    """Case, accents and final sigma aside, as the generated `search_text` is folded."""
    return f"translate(kep_fold({sql}), 'ς', 'σ')"


async def list_users(*, conn: Conn, f: UserFilter, sight: Sight) -> UserPage:
    """By name, a page at a time."""
    args: list[Any] = []
    clauses: list[str] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if not sight.everything:
        clauses.append(f"office_id = {arg(sight.own)}")
    if sight.active_only:
        clauses.append("active")
    if f.office_id is not None:
        clauses.append(f"office_id = {arg(f.office_id)}")
    if f.role is not None:
        clauses.append(f"roles @> ARRAY[{arg(f.role)}]::text[]")
    if f.active is not None:
        clauses.append(f"active = {arg(f.active)}")
    for word in (f.q or "").split()[:MAX_WORDS]:
        # LIKE '%…%' on the folded column is served by its trigram index
        clauses.append(f"search_text LIKE '%' || {_fold(arg(like_escape(word)))} || '%'")
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    total = await conn.fetchval(f"SELECT count(*) FROM users {where}", *args)  # noqa: S608 (fixed parts)
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM users {where} ORDER BY display_name, id "  # noqa: S608 (fixed parts)
        f"LIMIT {f.size} OFFSET {(f.page - 1) * f.size}",
        *args,
    )
    return UserPage(items=[_user(r) for r in rows], total=total, page=f.page, size=f.size)


async def get_user(*, conn: Conn, user_id: uuid.UUID, sight: Sight = EVERYTHING) -> User:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE id = $1", user_id)  # noqa: S608 (constants)
    if row is None or not sight.sees(row["office_id"], row["active"]):
        raise NotFound(f"user {user_id} not found")
    return _user(row)


async def history(*, conn: Conn, user_id: uuid.UUID) -> list[AuditEntry]:
    """Every audited change of the account, oldest first."""
    rows = await conn.fetch(
        """SELECT action, actor, request_id, reason, old, new, at FROM admin_audit
           WHERE entity = 'user' AND entity_id = $1 ORDER BY id""",
        str(user_id),
    )
    return [AuditEntry.model_validate(dict(r)) for r in rows]


async def _check_office(conn: Conn, office_id: uuid.UUID) -> None:
    active = await conn.fetchval("SELECT active FROM offices WHERE id = $1", office_id)
    if active is None:
        raise InvalidInput.at("/office_id", f"no office {office_id}", "unknown_office")
    if not active:
        raise InvalidInput.at("/office_id", f"office {office_id} is inactive", "inactive_office")


async def _check_email(conn: Conn, email: str | None, user_id: uuid.UUID | None) -> None:
    if email is not None and await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM users WHERE lower(email) = $1 AND id IS DISTINCT FROM $2)", email, user_id
    ):
        raise InvalidInput.at("/email", "another user has this e-mail address", "duplicate")


async def create(*, conn: Conn, keycloak: KeycloakAccounts, new: UserNew, actor: str, request_id: str | None) -> User:
    """A new account, its Keycloak user (whose id is the row's id and subject) and its audit row (`create`). An
    unknown or inactive office, a username or e-mail address taken (here or in Keycloak): 422 with its pointer,
    nothing written anywhere."""
    values = new.model_dump(mode="json", include=set(FIELDS)) | {"active": True}
    values["roles"] = sorted(set(values["roles"]))
    kc_id: str | None = None
    try:
        async with conn.transaction():
            await _check_office(conn, new.office_id)
            if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM users WHERE username = $1)", new.username):
                raise InvalidInput.at("/username", f"another user has the username {new.username}", "duplicate")
            await _check_email(conn, new.email, None)
            kc_id = await keycloak.create(_account(values))
            try:
                await conn.execute(
                    """INSERT INTO users (id, subject, username, display_name, given_name, family_name, email,
                                          office_id, roles)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
                    uuid.UUID(kc_id),
                    kc_id,
                    new.username,
                    _display_name(values, new.username),
                    new.given_name,
                    new.family_name,
                    new.email,
                    new.office_id,
                    values["roles"],
                )
            except asyncpg.UniqueViolationError:  # made meanwhile by another request
                raise InvalidInput.at(
                    "/username", f"another user has the username {new.username}", "duplicate"
                ) from None
            await audit.record(conn, entity="user", entity_id=kc_id, action="create", actor=actor,
                               request_id=request_id, reason=new.reason, old={}, new=values)  # fmt: skip
    except BaseException:
        if kc_id is not None:
            await keycloak.delete(kc_id)
        raise
    return await get_user(conn=conn, user_id=uuid.UUID(kc_id))


async def _update(
    *,
    conn: Conn,
    keycloak: KeycloakAccounts,
    user_id: uuid.UUID,
    sent: dict[str, Any],
    action: str,
    actor: str,
    request_id: str | None,
    reason: str | None,
    logout: bool = False,
) -> User:
    """The fields of `sent` that differ, in the row (with its audit row) and in Keycloak; the same values again
    write nothing. `logout`: the user's Keycloak sessions end too."""
    restore: tuple[str, Account] | None = None
    try:
        async with conn.transaction():
            row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE id = $1 FOR UPDATE", user_id)  # noqa: S608
            if row is None:
                raise NotFound(f"user {user_id} not found")
            old = _values(row)
            changed = {k: v for k, v in sent.items() if old[k] != v}
            if not changed:
                return _user(row)
            _keeps_own_access(row["subject"], actor, changed)
            if "office_id" in changed:
                await _check_office(conn, uuid.UUID(changed["office_id"]))
            if "email" in changed:
                await _check_email(conn, changed["email"], user_id)
            new = old | changed
            await conn.execute(
                """UPDATE users SET display_name = $2, given_name = $3, family_name = $4, email = $5, office_id = $6,
                       roles = $7, active = $8, updated_at = now(),
                       deactivated_at = CASE WHEN $8 THEN NULL ELSE coalesce(deactivated_at, now()) END
                   WHERE id = $1""",
                user_id,
                _display_name(new, row["display_name"]),
                new["given_name"],
                new["family_name"],
                new["email"],
                uuid.UUID(new["office_id"]) if new["office_id"] else None,
                new["roles"],
                new["active"],
            )
            await audit.record(conn, entity="user", entity_id=str(user_id), action=action, actor=actor,
                               request_id=request_id, reason=reason, old={k: old[k] for k in changed},
                               new=changed)  # fmt: skip
            # last, so that Keycloak refusing it rolls the row and the audit back; set before the call, since a
            # refusal half-way (the profile changed, the roles not) is put back as well
            restore = (row["subject"], _account(old))
            await keycloak.update(row["subject"], _account(new))
            if logout:
                await keycloak.logout(row["subject"])
    except BaseException:
        if restore is not None:  # the transaction did not commit: Keycloak gets the old account back
            with contextlib.suppress(Exception):
                await keycloak.update(*restore)
        raise
    return await get_user(conn=conn, user_id=user_id)


def _keeps_own_access(subject: str, actor: str, changed: dict[str, Any]) -> None:
    """An administrator neither deactivates themselves nor drops their own administrator role: the last one
    would lock everybody out of user administration."""
    if subject != actor:
        return
    if changed.get("active") is False:
        raise InvalidInput.at("", "an administrator does not deactivate their own account", "own_account")
    if "roles" in changed and "administrator" not in changed["roles"]:
        raise InvalidInput.at("/roles", "an administrator does not drop their own administrator role", "own_account")


async def change(
    *,
    conn: Conn,
    keycloak: KeycloakAccounts,
    user_id: uuid.UUID,
    change: UserChange,
    actor: str,
    request_id: str | None,
) -> User:
    """Names, e-mail address, roles: the fields sent. Audited (`change`)."""
    sent = change.model_dump(mode="json", exclude_unset=True, exclude={"reason"})
    if "roles" in sent:
        sent["roles"] = sorted(set(sent["roles"]))
    return await _update(conn=conn, keycloak=keycloak, user_id=user_id, sent=sent, action="change", actor=actor,
                         request_id=request_id, reason=change.reason)  # fmt: skip


async def move(
    *, conn: Conn, keycloak: KeycloakAccounts, user_id: uuid.UUID, move: Move, actor: str, request_id: str | None
) -> User:
    """To another office (an unknown or inactive one: 422 at /office_id): the row and the Keycloak attribute; the
    person leaves their positions in the old office (the table's trigger). Audited (`move`, both offices)."""
    sent = {"office_id": str(move.office_id)}
    return await _update(conn=conn, keycloak=keycloak, user_id=user_id, sent=sent, action="move", actor=actor,
                         request_id=request_id, reason=move.reason)  # fmt: skip


async def set_active(
    *,
    conn: Conn,
    keycloak: KeycloakAccounts,
    user_id: uuid.UUID,
    active: bool,
    reason: str | None,
    actor: str,
    request_id: str | None,
) -> User:
    """Deactivation disables the Keycloak user and ends their sessions (`deactivate`); reactivation enables it
    (`reactivate`). Already so: nothing written."""
    return await _update(conn=conn, keycloak=keycloak, user_id=user_id, sent={"active": active},
                         action="reactivate" if active else "deactivate", actor=actor, request_id=request_id,
                         reason=reason, logout=not active)  # fmt: skip

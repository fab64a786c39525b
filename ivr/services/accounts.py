"""Service, accounts: officials' accounts changed from the browser or the `rabta` command.

Beside the road. The accounts page (ivr/web/accounts.py) and `rabta users` both come here, so
a scope is checked the same way at both doors: against the districts, services and offices
the data knows (a typo is refused with "did you mean", never stored to show its official
nothing), and every change is written to the audit log in words an admin can read (who, what
changed from what to what; never a password or a token). Password rules, hashing and the
reset token's life are the pure ones of ivr.accounts.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ivr.accounts import (
    RESET_TTL,
    Role,
    User,
    check_password,
    check_scope_known,
    check_username,
    hash_password,
    new_token,
    parse_role,
    scope_kind,
    token_hash,
    verify_password,
)
from ivr.errors import InputError
from ivr.store import SQLiteStore

__all__ = [
    "Change",
    "NotFound",
    "add_account",
    "change_account",
    "change_own_password",
    "issue_reset",
    "known_scope",
    "reset_password",
    "reset_target",
]


class NotFound(InputError):
    """No account with that id (the web answers 404)."""


@dataclass(frozen=True, slots=True)
class Change:
    """What an admin asks to change of an account; None leaves that part as it is."""

    role: str | None = None
    scope: tuple[str, ...] | None = None
    disabled: bool | None = None
    allow_new: bool = False  # accept a scope name the data does not know yet, on purpose


async def known_scope(store: SQLiteStore, role: Role) -> list[str]:
    """Return the names a role's scope may take from the data (empty for a role with none)."""
    kind = scope_kind(role)
    return await store.known_scope(kind) if kind is not None else []


async def _checked_scope(store: SQLiteStore, role: Role, scope: tuple[str, ...],
                         allow_new: bool) -> tuple[str, ...]:
    return check_scope_known(role, scope, await known_scope(store, role), allow_new=allow_new)


async def add_account(store: SQLiteStore, actor: str, username: str, role: str,
                      scope: tuple[str, ...], password: str, now: datetime, *,
                      allow_new: bool = False) -> User:
    """Create an account with a checked role, scope and password; audited."""
    name = check_username(username)
    the_role = parse_role(role)
    known = await known_scope(store, the_role)
    checked = check_scope_known(the_role, scope, known, allow_new=allow_new)
    check_password(password)
    password_hash = await asyncio.to_thread(hash_password, password)
    user_id = await store.add_user(name, password_hash, the_role, checked, now)
    if user_id is None:
        raise InputError(f"user {name!r} already exists")
    detail: dict[str, Any] = {"username": name, "role": the_role.value, "scope": list(checked)}
    if unknown := [v for v in checked if v not in known]:
        detail["not_yet_in_data"] = unknown  # accepted on purpose (allow_new)
    await store.audit(actor, "user_add", detail, now)
    user = await store.user_by_id(user_id)
    assert user is not None
    return user


async def _account(store: SQLiteStore, user_id: int) -> User:
    user = await store.user_by_id(user_id)
    if user is None:
        raise NotFound(f"no account with id {user_id}")
    return user


async def change_account(store: SQLiteStore, actor: User, user_id: int, change: Change,
                         now: datetime) -> User:
    """Change an account's role and scope, or disable or enable it; audited with what changed.

    Disabling ends the account's sessions and reset links at once. An admin may not disable
    their own account or take away their own role: someone must be left who can undo it.
    """
    user = await _account(store, user_id)
    role = parse_role(change.role) if change.role is not None else user.role
    scope = change.scope if change.scope is not None else user.scope
    if change.role is not None and role is not user.role and change.scope is None:
        scope = ()  # a new role brings its own kind of scope
    if user.id == actor.id and (role is not user.role or change.disabled):
        raise InputError("you may not disable your own account or change your own role: "
                         "ask another oversight admin")
    changes: dict[str, Any] = {}
    if role is not user.role or tuple(scope) != user.scope:
        checked = await _checked_scope(store, role, tuple(scope), change.allow_new)
        if role is not user.role:
            changes["role"] = [user.role.value, role.value]
        if checked != user.scope:
            changes["scope"] = [list(user.scope), list(checked)]
        if changes:
            await store.set_role_scope(user.id, role, checked)
    if change.disabled is not None and change.disabled != user.disabled:
        await store.set_user_disabled(user.id, change.disabled)
        changes["disabled"] = [user.disabled, change.disabled]
    if changes:
        await store.audit(f"user:{actor.username}", "user_change",
                          {"username": user.username, **changes}, now)
    return await _account(store, user.id)


async def change_own_password(store: SQLiteStore, user: User, current: str, new: str,
                              keep_session: str | None, now: datetime) -> None:
    """Change one's own password: the current one must match and the new one pass the rule.

    The account's other sessions end; the one that asked (`keep_session`) stays.
    """
    fresh = await _account(store, user.id)
    if not await asyncio.to_thread(verify_password, fresh.password_hash, current):
        await store.audit(f"user:{user.username}", "password_change_refused",
                          {"username": user.username, "reason": "wrong_current_password"}, now)
        raise InputError("the current password is wrong")
    check_password(new)
    if new == current:
        raise InputError("the new password is the same as the current one")
    await store.change_password(user.id, await asyncio.to_thread(hash_password, new),
                                keep_session)
    await store.audit(f"user:{user.username}", "password_change", {"username": user.username},
                      now)


async def issue_reset(store: SQLiteStore, actor: User | str, user_id: int, now: datetime
                      ) -> tuple[User, str]:
    """Make a one-time reset token for an account (RESET_TTL, single use, stored hashed);
    return the account and the token, which is shown once. Audited without the token.

    `actor` is the admin's account (web), or a name such as `cli:root` for the command line.
    """
    user = await _account(store, user_id)
    if isinstance(actor, User) and user.id == actor.id:
        raise InputError("change your own password on your account page, not by a reset link")
    if user.disabled:
        raise InputError(f"{user.username} is disabled: enable the account first")
    who = f"user:{actor.username}" if isinstance(actor, User) else actor
    token = new_token()
    expires = now + RESET_TTL
    await store.create_reset(token_hash(token), user.id, who, now, expires)
    await store.audit(who, "password_reset_issued",
                      {"username": user.username, "expires_at": expires.isoformat()}, now)
    return user, token


async def reset_target(store: SQLiteStore, token: str, now: datetime) -> User | None:
    """Return the account a reset token may still reset, or None."""
    if not token or len(token) > 200:
        return None
    return await store.reset_account(token_hash(token), now)


async def reset_password(store: SQLiteStore, token: str, new: str, now: datetime) -> User:
    """Set a new password with a reset token; every session of the account ends; audited."""
    check_password(new)
    user = await store.use_reset(token_hash(token), await asyncio.to_thread(hash_password, new),
                                 now) if token and len(token) <= 200 else None
    if user is None:
        raise InputError("this reset link is not valid: it was used, has expired, or was "
                         "replaced by a newer one. Ask an oversight admin for a new link")
    await store.audit(f"user:{user.username}", "password_reset", {"username": user.username}, now)
    return user

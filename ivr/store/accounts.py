"""Store, accounts: users, sessions, API keys and the audit log (migrations 0004, 0050).

A mixin of SQLiteStore: writes go through its `_write()` (one IMMEDIATE transaction under the
write lock), reads through its connection. Only hashes of secrets come in here.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import aiosqlite

from ivr.accounts import ApiKey, Role, Session, User, after_failure, is_locked
from ivr.errors import StoreError

_TS = "%Y-%m-%dT%H:%M:%S.%fZ"  # the same sortable UTC text as ivr.store.sqlite.ts


def _ts(dt: datetime) -> str:
    if dt.tzinfo is None:
        raise StoreError("naive datetime given to the store")
    return dt.astimezone(UTC).strftime(_TS)


def _parse(text: str | None) -> datetime | None:
    return None if text is None else datetime.strptime(text, _TS).replace(tzinfo=UTC)


def _user(row: Any) -> User:
    return User(id=row["id"], username=row["username"], role=Role(row["role"]),
                scope=tuple(json.loads(row["scope"])), password_hash=row["password_hash"],
                disabled=bool(row["disabled"]), failed_logins=row["failed_logins"],
                locked_until=_parse(row["locked_until"]), created_at=_parse(row["created_at"]))


def _key(row: Any) -> ApiKey:
    created = _parse(row["created_at"])
    assert created is not None
    return ApiKey(id=row["id"], office=row["office"], label=row["label"], created_at=created,
                  revoked_at=_parse(row["revoked_at"]))


_USER_COLUMNS = ("id, username, password_hash, role, scope, disabled, failed_logins, "
                 "locked_until, created_at")


class AccountsMixin:
    """Accounts, sessions, API keys and the audit log, for SQLiteStore."""

    if TYPE_CHECKING:
        _db: aiosqlite.Connection

        def _write(self) -> contextlib.AbstractAsyncContextManager[aiosqlite.Connection]: ...

    # ------------------------------------------------------------------ users

    async def add_user(self, username: str, password_hash: str, role: Role,
                       scope: tuple[str, ...], now: datetime) -> int | None:
        """Create an account; return its id, or None if the username is taken (any case)."""
        async with self._write() as db:
            cur = await db.execute(
                "INSERT INTO users (username, password_hash, role, scope, created_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (username) DO NOTHING",
                (username, password_hash, role.value, json.dumps(list(scope)), _ts(now)))
            return cur.lastrowid if cur.rowcount == 1 else None

    async def user_by_name(self, username: str) -> User | None:
        """Return one account by username (case-insensitive), hash included."""
        async with self._db.execute(
                f"SELECT {_USER_COLUMNS} FROM users WHERE username = ?", (username,)) as cur:
            row = await cur.fetchone()
        return _user(row) if row else None

    async def users(self) -> list[User]:
        """Return every account, by username."""
        async with self._db.execute(
                f"SELECT {_USER_COLUMNS} FROM users ORDER BY username") as cur:
            return [_user(r) for r in await cur.fetchall()]

    async def set_user_disabled(self, username: str, disabled: bool) -> bool:
        """Disable (ending its sessions) or enable (clearing any lockout) an account."""
        async with self._write() as db:
            cur = await db.execute(
                "UPDATE users SET disabled = ?, failed_logins = 0, locked_until = NULL "
                "WHERE username = ? RETURNING id", (int(disabled), username))
            row = await cur.fetchone()
            if row is not None and disabled:
                await db.execute("DELETE FROM sessions WHERE user_id = ?", (row[0],))
            return row is not None

    async def login_failed(self, user_id: int, now: datetime) -> datetime | None:
        """Count one failed login (policy: accounts.after_failure); return the lock's end if locked.

        Read and update happen in one write transaction, so concurrent guesses all count.
        """
        async with self._write() as db:
            async with db.execute("SELECT failed_logins, locked_until FROM users WHERE id = ?",
                                  (user_id,)) as cur:
                row = await cur.fetchone()
            if row is None:
                return None
            locked = _parse(row[1])
            if is_locked(locked, now):
                return locked  # tries during a lock are refused unchecked and do not extend it
            failed, locked = after_failure(row[0], now)
            await db.execute("UPDATE users SET failed_logins = ?, locked_until = ? WHERE id = ?",
                             (failed, _ts(locked) if locked else None, user_id))
            return locked

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        """Replace an account's password hash (a re-hash with today's argon2 parameters)."""
        async with self._write() as db:
            await db.execute("UPDATE users SET password_hash = ? WHERE id = ?",
                             (password_hash, user_id))

    async def login_succeeded(self, user_id: int) -> None:
        """Reset the failed-login count after a good password."""
        async with self._write() as db:
            await db.execute(
                "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = ?", (user_id,))

    # ------------------------------------------------------------------ sessions

    async def create_session(self, token_hash: str, user_id: int, csrf_token: str,
                             now: datetime, expires_at: datetime) -> None:
        """Store a new session (and drop expired ones while at it)."""
        async with self._write() as db:
            await db.execute("DELETE FROM sessions WHERE expires_at <= ?", (_ts(now),))
            await db.execute(
                "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at, "
                "last_seen_at) VALUES (?, ?, ?, ?, ?, ?)",
                (token_hash, user_id, csrf_token, _ts(now), _ts(expires_at), _ts(now)))

    async def session(self, token_hash: str, now: datetime,
                      idle: timedelta | None = None) -> Session | None:
        """Return the live session behind a token hash: not expired, not idle longer than
        `idle` (if given), account not disabled."""
        cols = ", ".join(f"u.{c.strip()}" for c in _USER_COLUMNS.split(","))
        used_since = _ts(now - idle) if idle is not None else ""
        async with self._db.execute(
                f"SELECT {cols}, s.csrf_token, s.expires_at, "
                f"COALESCE(s.last_seen_at, s.created_at) AS last_seen FROM sessions s "
                f"JOIN users u ON u.id = s.user_id "
                f"WHERE s.token_hash = ? AND s.expires_at > ? AND u.disabled = 0 "
                f"AND COALESCE(s.last_seen_at, s.created_at) >= ?",
                (token_hash, _ts(now), used_since)) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        expires = _parse(row["expires_at"])
        assert expires is not None
        return Session(token_hash=token_hash, user=_user(row), csrf_token=row["csrf_token"],
                       expires_at=expires, last_seen_at=_parse(row["last_seen"]))

    async def touch_session(self, token_hash: str, now: datetime) -> None:
        """Note that a session was used now (the idle timeout counts from here)."""
        async with self._write() as db:
            await db.execute("UPDATE sessions SET last_seen_at = ? WHERE token_hash = ?",
                             (_ts(now), token_hash))

    async def delete_session(self, token_hash: str) -> bool:
        """End a session (logout, or an expired one seen)."""
        async with self._write() as db:
            cur = await db.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))
            return cur.rowcount == 1

    # ------------------------------------------------------------------ API keys

    async def add_api_key(self, key_hash: str, office: str, label: str, now: datetime) -> int:
        """Store a new office key by its hash; return its id."""
        async with self._write() as db:
            cur = await db.execute(
                "INSERT INTO api_keys (key_hash, office, label, created_at) VALUES (?, ?, ?, ?)",
                (key_hash, office, label, _ts(now)))
            assert cur.lastrowid is not None
            return cur.lastrowid

    async def api_key(self, key_hash: str) -> ApiKey | None:
        """Return the unrevoked key with this hash."""
        async with self._db.execute(
                "SELECT * FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
                (key_hash,)) as cur:
            row = await cur.fetchone()
        return _key(row) if row else None

    async def api_keys(self) -> list[ApiKey]:
        """Return every key, revoked ones included, oldest first."""
        async with self._db.execute("SELECT * FROM api_keys ORDER BY id") as cur:
            return [_key(r) for r in await cur.fetchall()]

    async def revoke_api_key(self, key_id: int, now: datetime) -> bool:
        """Revoke a key at once; False if unknown or already revoked."""
        async with self._write() as db:
            cur = await db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (_ts(now), key_id))
            return cur.rowcount == 1

    # ------------------------------------------------------------------ audit

    async def audit(self, actor: str, action: str, detail: dict[str, Any],
                    now: datetime) -> None:
        """Append one entry to the audit log."""
        async with self._write() as db:
            await db.execute(
                "INSERT INTO audit_log (at, actor, action, detail) VALUES (?, ?, ?, ?)",
                (_ts(now), actor, action, json.dumps(detail, ensure_ascii=False, sort_keys=True)))

    async def audit_entries(self, limit: int = 100) -> list[dict[str, Any]]:
        """Return the newest audit entries first."""
        async with self._db.execute(
                "SELECT id, at, actor, action, detail FROM audit_log ORDER BY id DESC LIMIT ?",
                (limit,)) as cur:
            rows = await cur.fetchall()
        return [{**dict(r), "detail": json.loads(r["detail"])} for r in rows]

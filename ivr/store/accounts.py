"""Store, accounts: users, sessions, API keys, password resets and the audit log (migrations
0004, 0050, 0075).

A repository over a Database (either engine): writes in its write transaction, reads outside
one. Only hashes of secrets come in here.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from ivr.accounts import ApiKey, Role, Session, User, after_failure, is_locked, reset_usable
from ivr.store.database import Repository
from ivr.store.database import parse_ts as _parse
from ivr.store.database import ts as _ts


def _user(row: Any) -> User:
    return User(id=row["id"], username=row["username"], role=Role(row["role"]),
                scope=tuple(json.loads(row["scope"])), password_hash=row["password_hash"],
                disabled=bool(row["disabled"]), failed_logins=row["failed_logins"],
                locked_until=_parse(row["locked_until"]), created_at=_parse(row["created_at"]),
                last_login_at=_parse(row["last_login_at"]))


def _key(row: Any) -> ApiKey:
    created = _parse(row["created_at"])
    assert created is not None
    return ApiKey(id=row["id"], office=row["office"], label=row["label"], created_at=created,
                  revoked_at=_parse(row["revoked_at"]))


_USER_COLUMNS = ("id, username, password_hash, role, scope, disabled, failed_logins, "
                 "locked_until, created_at, last_login_at")
# What an account's scope may name, and the indexed column of transactions that knows them.
_SCOPE_COLUMNS = {"district": "district", "service": "service", "office": "office"}
MAX_KNOWN = 5000  # names of one kind read for checking a scope (36 districts, ~25 services)


class AccountsRepository(Repository):
    """Accounts, sessions, API keys and the audit log."""

    # ------------------------------------------------------------------ users

    async def add_user(self, username: str, password_hash: str, role: Role,
                       scope: tuple[str, ...], now: datetime) -> int | None:
        """Create an account; return its id, or None if the username is taken (any case)."""
        async with self.db.write() as tx:
            row = await tx.fetchone(
                "INSERT INTO users (username, password_hash, role, scope, created_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (username) DO NOTHING RETURNING id",
                (username, password_hash, role.value, json.dumps(list(scope)), _ts(now)))
            return None if row is None else int(row[0])

    async def user_by_name(self, username: str) -> User | None:
        """Return one account by username (case-insensitive), hash included."""
        row = await self.db.fetchone(
            f"SELECT {_USER_COLUMNS} FROM users WHERE username = ?", (username,))
        return _user(row) if row else None

    async def users(self) -> list[User]:
        """Return every account, by username."""
        return [_user(r) for r in await self.db.fetch(
            f"SELECT {_USER_COLUMNS} FROM users ORDER BY username")]

    async def set_user_disabled(self, username: str | int, disabled: bool) -> bool:
        """Disable (ending its sessions and reset links) or enable (clearing any lockout) an
        account, by username or id."""
        column = "id" if isinstance(username, int) else "username"
        async with self.db.write() as tx:
            row = await tx.fetchone(
                f"UPDATE users SET disabled = ?, failed_logins = 0, locked_until = NULL "
                f"WHERE {column} = ? RETURNING id", (int(disabled), username))
            if row is not None and disabled:
                await tx.execute("DELETE FROM sessions WHERE user_id = ?", (row[0],))
                await tx.execute("DELETE FROM password_resets WHERE user_id = ?", (row[0],))
            return row is not None

    async def user_by_id(self, user_id: int) -> User | None:
        """Return one account by id, hash included."""
        row = await self.db.fetchone(f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?",
                                     (user_id,))
        return _user(row) if row else None

    async def set_role_scope(self, user_id: int, role: Role, scope: tuple[str, ...]) -> bool:
        """Change an account's role and scope (its sessions see the change at their next
        request); False if there is no such account."""
        async with self.db.write() as tx:
            return await tx.execute("UPDATE users SET role = ?, scope = ? WHERE id = ?",
                                    (role.value, json.dumps(list(scope)), user_id)) == 1

    async def known_scope(self, kind: str) -> list[str]:
        """Return the districts, services or offices the transactions name, sorted.

        A loose index scan (each next name is one index seek past the last), the same SQL on
        both engines, so a table of millions of visits costs one seek per name.
        """
        column = _SCOPE_COLUMNS[kind]
        rows = await self.db.fetch(
            f"WITH RECURSIVE names(v, n) AS ("
            f" SELECT (SELECT MIN({column}) FROM transactions), 1"
            f" UNION ALL SELECT (SELECT MIN({column}) FROM transactions WHERE {column} > names.v),"
            f" n + 1 FROM names WHERE names.v IS NOT NULL AND n < CAST(? AS INTEGER))"
            f" SELECT v FROM names WHERE v IS NOT NULL", (MAX_KNOWN,))
        return sorted({str(r[0]) for r in rows}, key=str.casefold)

    async def change_password(self, user_id: int, password_hash: str,
                              keep_session: str | None = None) -> None:
        """Set a new password hash and end the account's other sessions (all but
        `keep_session`, the token hash of the session that asked)."""
        async with self.db.write() as tx:
            await tx.execute("UPDATE users SET password_hash = ? WHERE id = ?",
                             (password_hash, user_id))
            await tx.execute("DELETE FROM sessions WHERE user_id = ? AND token_hash != ?",
                             (user_id, keep_session or ""))

    # ------------------------------------------------------------------ password resets

    async def create_reset(self, token_hash: str, user_id: int, created_by: str,
                           now: datetime, expires_at: datetime) -> None:
        """Store a reset token by its hash; any earlier unused token of the account stops
        working (only the newest link resets)."""
        async with self.db.write() as tx:
            await tx.execute("DELETE FROM password_resets WHERE user_id = ? OR expires_at <= ?",
                             (user_id, _ts(now)))
            await tx.execute(
                "INSERT INTO password_resets (token_hash, user_id, created_by, created_at, "
                "expires_at) VALUES (?, ?, ?, ?, ?)",
                (token_hash, user_id, created_by, _ts(now), _ts(expires_at)))

    async def reset_account(self, token_hash: str, now: datetime) -> User | None:
        """Return the enabled account a usable (unused, unexpired) reset token is for."""
        row = await self.db.fetchone(
            "SELECT user_id, expires_at, used_at FROM password_resets WHERE token_hash = ?",
            (token_hash,))
        if row is None:
            return None
        expires = _parse(row["expires_at"])
        assert expires is not None
        if not reset_usable(expires, _parse(row["used_at"]), now):
            return None
        user = await self.user_by_id(row["user_id"])
        return user if user is not None and not user.disabled else None

    async def use_reset(self, token_hash: str, password_hash: str, now: datetime) -> User | None:
        """Spend a reset token: set the new password, end every session of the account, clear
        any lockout. Return the account, or None if the token is unknown, used, expired, or
        its account disabled. Check and spend are one write transaction, so a token works once
        even when two requests race."""
        async with self.db.write() as tx:
            row = await tx.fetchone(
                "SELECT r.user_id, r.expires_at, r.used_at, u.disabled FROM password_resets r "
                "JOIN users u ON u.id = r.user_id WHERE r.token_hash = ?"
                + (" FOR UPDATE OF r" if self.db.dialect == "postgresql" else ""),
                (token_hash,))
            if row is None or row["disabled"]:
                return None
            expires = _parse(row["expires_at"])
            assert expires is not None
            if not reset_usable(expires, _parse(row["used_at"]), now):
                return None
            user_id = row["user_id"]
            await tx.execute("UPDATE password_resets SET used_at = ? WHERE token_hash = ?",
                             (_ts(now), token_hash))
            await tx.execute("UPDATE users SET password_hash = ?, failed_logins = 0, "
                             "locked_until = NULL WHERE id = ?", (password_hash, user_id))
            await tx.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))
        return await self.user_by_id(user_id)

    async def login_failed(self, user_id: int, now: datetime) -> datetime | None:
        """Count one failed login (policy: accounts.after_failure); return the lock's end if locked.

        Read and update happen in one write transaction, so concurrent guesses all count.
        """
        async with self.db.write() as tx:
            row = await tx.fetchone(
                "SELECT failed_logins, locked_until FROM users WHERE id = ?"
                + (" FOR UPDATE" if self.db.dialect == "postgresql" else ""), (user_id,))
            if row is None:
                return None
            locked = _parse(row[1])
            if is_locked(locked, now):
                return locked  # tries during a lock are refused unchecked and do not extend it
            failed, locked = after_failure(row[0], now)
            await tx.execute("UPDATE users SET failed_logins = ?, locked_until = ? WHERE id = ?",
                             (failed, _ts(locked) if locked else None, user_id))
            return locked

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        """Replace an account's password hash (a re-hash with today's argon2 parameters)."""
        async with self.db.write() as tx:
            await tx.execute("UPDATE users SET password_hash = ? WHERE id = ?",
                             (password_hash, user_id))

    async def login_succeeded(self, user_id: int, now: datetime | None = None) -> None:
        """Reset the failed-login count after a good password; note when (if given)."""
        async with self.db.write() as tx:
            if now is None:
                await tx.execute("UPDATE users SET failed_logins = 0, locked_until = NULL "
                                 "WHERE id = ?", (user_id,))
            else:
                await tx.execute("UPDATE users SET failed_logins = 0, locked_until = NULL, "
                                 "last_login_at = ? WHERE id = ?", (_ts(now), user_id))

    # ------------------------------------------------------------------ sessions

    async def create_session(self, token_hash: str, user_id: int, csrf_token: str,
                             now: datetime, expires_at: datetime) -> None:
        """Store a new session (and drop expired ones while at it)."""
        async with self.db.write() as tx:
            await tx.execute("DELETE FROM sessions WHERE expires_at <= ?", (_ts(now),))
            await tx.execute(
                "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at, "
                "last_seen_at) VALUES (?, ?, ?, ?, ?, ?)",
                (token_hash, user_id, csrf_token, _ts(now), _ts(expires_at), _ts(now)))

    async def session(self, token_hash: str, now: datetime,
                      idle: timedelta | None = None) -> Session | None:
        """Return the live session behind a token hash: not expired, not idle longer than
        `idle` (if given), account not disabled."""
        cols = ", ".join(f"u.{c.strip()}" for c in _USER_COLUMNS.split(","))
        used_since = _ts(now - idle) if idle is not None else ""
        row = await self.db.fetchone(
            f"SELECT {cols}, s.csrf_token, s.expires_at, "
            f"COALESCE(s.last_seen_at, s.created_at) AS last_seen FROM sessions s "
            f"JOIN users u ON u.id = s.user_id "
            f"WHERE s.token_hash = ? AND s.expires_at > ? AND u.disabled = 0 "
            f"AND COALESCE(s.last_seen_at, s.created_at) >= ?",
            (token_hash, _ts(now), used_since))
        if row is None:
            return None
        expires = _parse(row["expires_at"])
        assert expires is not None
        return Session(token_hash=token_hash, user=_user(row), csrf_token=row["csrf_token"],
                       expires_at=expires, last_seen_at=_parse(row["last_seen"]))

    async def touch_session(self, token_hash: str, now: datetime) -> None:
        """Note that a session was used now (the idle timeout counts from here)."""
        async with self.db.write() as tx:
            await tx.execute("UPDATE sessions SET last_seen_at = ? WHERE token_hash = ?",
                             (_ts(now), token_hash))

    async def delete_session(self, token_hash: str) -> bool:
        """End a session (logout, or an expired one seen)."""
        async with self.db.write() as tx:
            return await tx.execute(
                "DELETE FROM sessions WHERE token_hash = ?", (token_hash,)) == 1

    # ------------------------------------------------------------------ API keys

    async def add_api_key(self, key_hash: str, office: str, label: str, now: datetime) -> int:
        """Store a new office key by its hash; return its id."""
        async with self.db.write() as tx:
            row = await tx.fetchone(
                "INSERT INTO api_keys (key_hash, office, label, created_at) VALUES (?, ?, ?, ?) "
                "RETURNING id", (key_hash, office, label, _ts(now)))
            assert row is not None
            return int(row[0])

    async def api_key(self, key_hash: str) -> ApiKey | None:
        """Return the unrevoked key with this hash."""
        row = await self.db.fetchone(
            "SELECT * FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL", (key_hash,))
        return _key(row) if row else None

    async def api_keys(self) -> list[ApiKey]:
        """Return every key, revoked ones included, oldest first."""
        return [_key(r) for r in await self.db.fetch("SELECT * FROM api_keys ORDER BY id")]

    async def revoke_api_key(self, key_id: int, now: datetime) -> bool:
        """Revoke a key at once; False if unknown or already revoked."""
        async with self.db.write() as tx:
            return await tx.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (_ts(now), key_id)) == 1

    # ------------------------------------------------------------------ audit

    async def audit(self, actor: str, action: str, detail: dict[str, Any],
                    now: datetime) -> None:
        """Append one entry to the audit log."""
        async with self.db.write() as tx:
            await tx.execute(
                "INSERT INTO audit_log (at, actor, action, detail) VALUES (?, ?, ?, ?)",
                (_ts(now), actor, action, json.dumps(detail, ensure_ascii=False, sort_keys=True)))

    async def account_history(self, username: str, limit: int = 30) -> list[dict[str, Any]]:
        """Return the newest audit entries by an account or about it (its detail names it)."""
        named = json.dumps({"username": username}, ensure_ascii=False)[1:-1]
        pattern = "%" + named.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = await self.db.fetch(
            "SELECT id, at, actor, action, detail FROM audit_log "
            "WHERE actor = ? OR detail LIKE ? ESCAPE '\\' ORDER BY id DESC LIMIT ?",
            (f"user:{username}", pattern, limit))
        return [{**dict(r), "detail": json.loads(r["detail"])} for r in rows]

    async def audit_entries(self, limit: int = 100) -> list[dict[str, Any]]:
        """Return the newest audit entries first."""
        rows = await self.db.fetch(
            "SELECT id, at, actor, action, detail FROM audit_log ORDER BY id DESC LIMIT ?",
            (limit,))
        return [{**dict(r), "detail": json.loads(r["detail"])} for r in rows]

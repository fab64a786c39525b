"""Store, prompt studio: recorded prompt versions and supervisors' studio PINs (migration 0011).

A mixin of SQLiteStore: writes go through its `_write()` (one IMMEDIATE transaction under the
write lock), reads through its connection. The road a version takes is ivr.studio.transition;
every change is written to the audit log in the same transaction as the change itself.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import aiosqlite

from ivr.errors import InputError, StoreError
from ivr.studio import Source, VersionStatus, transition

_TS = "%Y-%m-%dT%H:%M:%S.%fZ"  # the same sortable UTC text as ivr.store.sqlite.ts


def _ts(dt: datetime) -> str:
    if dt.tzinfo is None:
        raise StoreError("naive datetime given to the store")
    return dt.astimezone(UTC).strftime(_TS)


@dataclass(frozen=True, slots=True)
class PromptVersion:
    """One recorded version of one prompt in one language."""

    id: int
    prompt: str
    language: str
    file: str
    source: Source
    created_by: str
    created_at: datetime
    status: VersionStatus
    updated_at: datetime

    def public(self) -> dict[str, Any]:
        """Return the version as the API shows it (no file path)."""
        return {"id": self.id, "prompt": self.prompt, "language": self.language,
                "source": self.source.value, "created_by": self.created_by,
                "created_at": self.created_at.isoformat(), "status": self.status.value,
                "updated_at": self.updated_at.isoformat()}


def _version(row: Any) -> PromptVersion:
    return PromptVersion(
        id=row["id"], prompt=row["prompt"], language=row["language"], file=row["file"],
        source=Source(row["source"]), created_by=row["created_by"],
        created_at=datetime.strptime(row["created_at"], _TS).replace(tzinfo=UTC),
        status=VersionStatus(row["status"]),
        updated_at=datetime.strptime(row["updated_at"], _TS).replace(tzinfo=UTC))


async def _audit(db: aiosqlite.Connection, actor: str, action: str, detail: dict[str, Any],
                 now: datetime) -> None:
    await db.execute("INSERT INTO audit_log (at, actor, action, detail) VALUES (?, ?, ?, ?)",
                     (_ts(now), actor, action, json.dumps(detail, sort_keys=True)))


class PromptsMixin:
    """Recorded prompt versions and studio PINs, for SQLiteStore."""

    if TYPE_CHECKING:
        _db: aiosqlite.Connection

        def _write(self) -> contextlib.AbstractAsyncContextManager[aiosqlite.Connection]: ...

    async def add_prompt_version(self, prompt: str, language: str, file: str, source: Source,
                                 username: str, actor: str, now: datetime) -> int:
        """Store a new draft version (audited as prompt_version_add); return its id."""
        async with self._write() as db:
            cur = await db.execute(
                "INSERT INTO prompt_versions (prompt, language, file, source, created_by, "
                "created_at, status, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'draft', ?)",
                (prompt, language, file, source.value, username, _ts(now), _ts(now)))
            assert cur.lastrowid is not None
            await _audit(db, actor, "prompt_version_add",
                         {"version": cur.lastrowid, "prompt": prompt, "language": language,
                          "source": source.value}, now)
            return cur.lastrowid

    async def prompt_version(self, version_id: int) -> PromptVersion | None:
        """Return one version by id."""
        async with self._db.execute("SELECT * FROM prompt_versions WHERE id = ?",
                                    (version_id,)) as cur:
            row = await cur.fetchone()
        return _version(row) if row else None

    async def prompt_versions(self, prompt: str | None = None, language: str | None = None
                              ) -> list[PromptVersion]:
        """Return versions (of one prompt and language if given), newest first."""
        async with self._db.execute(
                "SELECT * FROM prompt_versions WHERE (?1 IS NULL OR prompt = ?1) "
                "AND (?2 IS NULL OR language = ?2) ORDER BY id DESC", (prompt, language)) as cur:
            return [_version(r) for r in await cur.fetchall()]

    async def live_prompt_versions(self) -> list[PromptVersion]:
        """Return every live version (at most one per prompt and language)."""
        async with self._db.execute(
                "SELECT * FROM prompt_versions WHERE status = 'live' ORDER BY prompt, language"
        ) as cur:
            return [_version(r) for r in await cur.fetchall()]

    async def set_prompt_version_status(self, version_id: int, to: VersionStatus, actor: str,
                                        now: datetime) -> tuple[PromptVersion, int | None]:
        """Move a version on (rules: ivr.studio.transition), audited; return it and the id of
        the live version it retired, if any. Raise InputError if unknown or refused."""
        async with self._write() as db:
            async with db.execute("SELECT * FROM prompt_versions WHERE id = ?",
                                  (version_id,)) as cur:
                row = await cur.fetchone()
            if row is None:
                raise InputError(f"no prompt version {version_id}")
            old = _version(row)
            new = transition(old.status, to)
            retired = None
            if new is VersionStatus.LIVE:
                cur = await db.execute(
                    "UPDATE prompt_versions SET status = 'retired', updated_at = ? "
                    "WHERE prompt = ? AND language = ? AND status = 'live' RETURNING id",
                    (_ts(now), old.prompt, old.language))
                found = await cur.fetchone()
                retired = found[0] if found else None
            await db.execute("UPDATE prompt_versions SET status = ?, updated_at = ? WHERE id = ?",
                             (new.value, _ts(now), version_id))
            detail: dict[str, Any] = {"version": version_id, "prompt": old.prompt,
                                      "language": old.language, "from": old.status.value,
                                      "to": new.value}
            if retired is not None:
                detail["retired"] = retired
            await _audit(db, actor, "prompt_version_status", detail, now)
        version = await self.prompt_version(version_id)
        assert version is not None
        return version, retired

    # ------------------------------------------------------------------ studio PINs

    async def set_user_pin(self, username: str, pin_hash: str | None) -> bool:
        """Set (or clear, with None) an account's studio PIN hash; False if no such account."""
        async with self._write() as db:
            cur = await db.execute("UPDATE users SET pin_hash = ? WHERE username = ?",
                                   (pin_hash, username))
            return cur.rowcount == 1

    async def studio_pins(self) -> list[tuple[str, str]]:
        """Return (username, PIN hash) of every enabled supervisor with a studio PIN."""
        async with self._db.execute(
                "SELECT username, pin_hash FROM users WHERE pin_hash IS NOT NULL "
                "AND disabled = 0 AND role = 'supervisor' ORDER BY id") as cur:
            return [(r[0], r[1]) for r in await cur.fetchall()]

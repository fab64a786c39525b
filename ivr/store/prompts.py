"""Store, prompt studio: recorded prompt versions and supervisors' studio PINs (migration 0011).

A repository over a Database (either engine): writes in its write transaction, reads outside
one. The road a version takes is ivr.studio.transition;
every change is written to the audit log in the same transaction as the change itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ivr.errors import InputError
from ivr.store.database import Repository, Tx
from ivr.store.database import ts as _ts
from ivr.studio import Source, VersionStatus, transition

_TS = "%Y-%m-%dT%H:%M:%S.%fZ"  # ivr.store.database's timestamp text


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


async def _audit(tx: Tx, actor: str, action: str, detail: dict[str, Any],
                 now: datetime) -> None:
    await tx.execute("INSERT INTO audit_log (at, actor, action, detail) VALUES (?, ?, ?, ?)",
                     (_ts(now), actor, action, json.dumps(detail, sort_keys=True)))


class PromptsRepository(Repository):
    """Recorded prompt versions and studio PINs."""

    async def add_prompt_version(self, prompt: str, language: str, file: str, source: Source,
                                 username: str, actor: str, now: datetime) -> int:
        """Store a new draft version (audited as prompt_version_add); return its id."""
        async with self.db.write() as tx:
            row = await tx.fetchone(
                "INSERT INTO prompt_versions (prompt, language, file, source, created_by, "
                "created_at, status, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'draft', ?) "
                "RETURNING id",
                (prompt, language, file, source.value, username, _ts(now), _ts(now)))
            assert row is not None
            version_id = int(row[0])
            await _audit(tx, actor, "prompt_version_add",
                         {"version": version_id, "prompt": prompt, "language": language,
                          "source": source.value}, now)
            return version_id

    async def prompt_version(self, version_id: int) -> PromptVersion | None:
        """Return one version by id."""
        row = await self.db.fetchone("SELECT * FROM prompt_versions WHERE id = ?", (version_id,))
        return _version(row) if row else None

    async def prompt_versions(self, prompt: str | None = None, language: str | None = None
                              ) -> list[PromptVersion]:
        """Return versions (of one prompt and language if given), newest first."""
        where, args = ["1 = 1"], list[Any]()
        if prompt is not None:
            where.append("prompt = ?")
            args.append(prompt)
        if language is not None:
            where.append("language = ?")
            args.append(language)
        return [_version(r) for r in await self.db.fetch(
            f"SELECT * FROM prompt_versions WHERE {' AND '.join(where)} ORDER BY id DESC", args)]

    async def live_prompt_versions(self) -> list[PromptVersion]:
        """Return every live version (at most one per prompt and language)."""
        return [_version(r) for r in await self.db.fetch(
            "SELECT * FROM prompt_versions WHERE status = 'live' ORDER BY prompt, language")]

    async def set_prompt_version_status(self, version_id: int, to: VersionStatus, actor: str,
                                        now: datetime) -> tuple[PromptVersion, int | None]:
        """Move a version on (rules: ivr.studio.transition), audited; return it and the id of
        the live version it retired, if any. Raise InputError if unknown or refused."""
        async with self.db.write() as tx:
            row = await tx.fetchone("SELECT * FROM prompt_versions WHERE id = ?", (version_id,))
            if row is None:
                raise InputError(f"no prompt version {version_id}")
            old = _version(row)
            new = transition(old.status, to)
            retired = None
            if new is VersionStatus.LIVE:
                found = await tx.fetchone(
                    "UPDATE prompt_versions SET status = 'retired', updated_at = ? "
                    "WHERE prompt = ? AND language = ? AND status = 'live' RETURNING id",
                    (_ts(now), old.prompt, old.language))
                retired = found[0] if found else None
            await tx.execute("UPDATE prompt_versions SET status = ?, updated_at = ? WHERE id = ?",
                             (new.value, _ts(now), version_id))
            detail: dict[str, Any] = {"version": version_id, "prompt": old.prompt,
                                      "language": old.language, "from": old.status.value,
                                      "to": new.value}
            if retired is not None:
                detail["retired"] = retired
            await _audit(tx, actor, "prompt_version_status", detail, now)
        version = await self.prompt_version(version_id)
        assert version is not None
        return version, retired

    # ------------------------------------------------------------------ studio PINs

    async def set_user_pin(self, username: str, pin_hash: str | None) -> bool:
        """Set (or clear, with None) an account's studio PIN hash; False if no such account."""
        async with self.db.write() as tx:
            return await tx.execute("UPDATE users SET pin_hash = ? WHERE username = ?",
                                    (pin_hash, username)) == 1

    async def studio_pins(self) -> list[tuple[str, str]]:
        """Return (username, PIN hash) of every enabled supervisor with a studio PIN."""
        return [(r[0], r[1]) for r in await self.db.fetch(
            "SELECT username, pin_hash FROM users WHERE pin_hash IS NOT NULL "
            "AND disabled = 0 AND role = 'supervisor' ORDER BY id")]

"""Service, daily digests: build every official's digest of a day and deliver it as files.

Delivery is to files, one directory per official under `<RABTA_HOME>/digests/`, holding
`<day>.txt` (the plain text, ivr.accountability.digest.to_text) and `<day>.json` (the same,
for the dashboard, which shows each official their latest on the live overview). Not by SMS:
the engine's SMS queue is for citizens and hangs every message off a transaction
(ivr/store/sms.py), an official's phone is optional (it is for click-to-call), and a digest
does not fit one text message. A file is written whole or not at all (a temporary file, then
an atomic rename), so a second run of the same day replaces it and a reader never sees half.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

from ivr.accountability import digest, reading
from ivr.config import Settings
from ivr.store import SQLiteStore

__all__ = ["DIRECTORY", "build", "deliver", "folder", "latest"]

DIRECTORY = "digests"
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}\.json")


def folder(home: Path, username: str) -> Path:
    """Return an official's digest directory: the username if it is a safe file name, else a
    cleaned name with a hash of the username (no path tricks, no two officials sharing one)."""
    if _SAFE.fullmatch(username) and ".." not in username:
        return home / DIRECTORY / username
    clean = re.sub(r"[^A-Za-z0-9_.@-]", "_", username)[:40].lstrip(".") or "user"
    return home / DIRECTORY / f"{clean}-{hashlib.sha256(username.encode()).hexdigest()[:12]}"


async def build(store: SQLiteStore, settings: Settings, day: date, now: datetime
                ) -> list[digest.Digest]:
    """Return every official's digest of `day`, built at `now`."""
    return await reading.digests(store, settings, day, now)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def deliver(digests: list[digest.Digest], home: Path) -> list[Path]:
    """Write each digest as <day>.txt and <day>.json in its official's folder; return the
    .txt paths."""
    out = []
    for d in digests:
        where = folder(home, d.username)
        where.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write(where / f"{d.day.isoformat()}.json", json.dumps(d.as_dict(), indent=1))
        text = where / f"{d.day.isoformat()}.txt"
        _write(text, digest.to_text(d))
        out.append(text)
    return out


def latest(home: Path, username: str) -> dict[str, Any] | None:
    """Return an official's latest delivered digest (its JSON), or None if there is none."""
    where = folder(home, username)
    try:
        days = sorted(p.name for p in where.iterdir() if _DAY.fullmatch(p.name))
    except OSError:  # no folder yet: nothing delivered
        return None
    if not days:
        return None
    try:
        data: dict[str, Any] = json.loads((where / days[-1]).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if data.get("username") == username else None

"""Store, backups: a consistent copy of the SQLite database while the engine writes to it.

SQLite's online backup API copies the database page by page from its own connection; done in
one step it reads one snapshot (WAL lets the engine go on writing meanwhile), so a backup holds
every answer committed before it began and none half-written. A restore first keeps the
current database beside it, so nothing is ever lost by restoring the wrong file.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from ivr.errors import InputError, StoreError

REQUIRED_TABLES = ("transactions", "attempts", "answers")


@dataclass(frozen=True)
class BackupInfo:
    """What a backup file holds."""

    path: Path
    transactions: int
    answers: int
    bytes: int


def _copy(src: sqlite3.Connection, dest: Path) -> None:
    tmp = dest.with_name(dest.name + ".part")
    tmp.unlink(missing_ok=True)
    os.close(os.open(tmp, os.O_CREAT | os.O_WRONLY, 0o600))
    out = sqlite3.connect(tmp)
    try:
        src.backup(out)  # pages=-1: one step, one snapshot
        out.execute("PRAGMA journal_mode = DELETE")  # a single self-contained file
    finally:
        out.close()
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, dest)


def inspect(path: Path) -> BackupInfo:
    """Check a database file is whole and Rabta's; return what it holds (InputError if not)."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            ok = con.execute("PRAGMA integrity_check").fetchone()[0]
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            missing = [t for t in REQUIRED_TABLES if t not in tables]
            if ok != "ok" or missing:
                raise InputError(f"{path}: not a whole Rabta database "
                                 f"({'integrity: ' + ok if ok != 'ok' else 'missing ' + ', '.join(missing)})")
            txs = con.execute("SELECT count(*) FROM transactions").fetchone()[0]
            answers = con.execute("SELECT count(*) FROM answers").fetchone()[0]
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise InputError(f"{path}: not a SQLite database ({exc})") from None
    return BackupInfo(path, txs, answers, path.stat().st_size)


def backup(db: Path, dest: Path) -> BackupInfo:
    """Copy the live database at db into dest (owner-only), consistently, while it is in use."""
    if not db.is_file():
        raise StoreError(f"{db}: no database to back up")
    dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    src = sqlite3.connect(db, timeout=30)
    try:
        _copy(src, dest)
    except sqlite3.Error as exc:
        raise StoreError(f"backup of {db} failed: {exc}") from None
    finally:
        src.close()
    return inspect(dest)


def restore(backup_file: Path, db: Path, keep_as: Path) -> BackupInfo:
    """Replace the database at db with a backup; the current one is first kept at keep_as."""
    info = inspect(backup_file)
    db.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if db.is_file():
        backup(db, keep_as)
    src = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
    try:
        target = sqlite3.connect(db, timeout=30)
        try:
            src.backup(target)  # page-level, under the target's own locks: never half a file
        finally:
            target.close()
    except sqlite3.Error as exc:
        raise StoreError(f"restore into {db} failed: {exc}") from None
    finally:
        src.close()
    os.chmod(db, 0o600)
    return info

"""CLI, backups: `rabta backup` (while the engine runs) and `rabta restore FILE`.

Wiring only: the copy is ivr.store.backup (SQLite's online backup API). Backups go to
<home>/backups/rabta-<UTC time>.db, owner-only; `--keep N` prunes older ones. `rabta doctor`
reports the newest one's age.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from ivr.config import Settings
from ivr.errors import InputError
from ivr.store import backup as B


def _handler(do: Callable[[Settings, argparse.Namespace], int]
             ) -> Callable[[argparse.Namespace, Settings], int]:
    """Adapt a `do_*(settings, args)` to the CLI's handler signature `(args, settings)`."""
    return lambda args, settings: do(settings, args)


def register(subparsers: Any) -> None:
    """Add `rabta backup` and `rabta restore` to the `rabta` parser's subcommands."""
    b = subparsers.add_parser(
        "backup", help="copy the database consistently, even while the engine runs",
        description="Copy the SQLite database with SQLite's online backup API (one consistent "
                    "snapshot; the engine goes on writing) into <home>/backups, owner-only.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  rabta backup\n  rabta backup --out /mnt/offsite/rabta.db\n"
               "  rabta backup --keep 14     # nightly from cron, two weeks kept")
    b.add_argument("--out", type=Path, default=None, help="backup file (default: <home>/backups/)")
    b.add_argument("--keep", type=int, default=0,
                   help="keep only the newest N backups in <home>/backups (0: keep all)")
    b.set_defaults(func=_handler(do_backup))
    r = subparsers.add_parser(
        "restore", help="replace the database with a backup (the current one is kept)",
        description="Check the backup is a whole Rabta database, keep the current database as "
                    "<home>/backups/rabta-pre-restore-<time>.db, then copy the backup in. Stop "
                    "the engine first (`rabta serve`): its calls in flight belong to the old one.",
        epilog="examples:\n  rabta restore ~/.local/share/rabta/backups/rabta-20261202T190000Z.db")
    r.add_argument("file", type=Path)
    r.set_defaults(func=_handler(do_restore))


def _stamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def do_backup(settings: Settings, args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Write a backup and say what it holds."""
    out = out or sys.stdout
    if args.keep < 0:
        raise InputError("--keep must be 0 (keep all) or more")
    folder = settings.home / "backups"
    dest = args.out or folder / f"rabta-{_stamp(datetime.now(UTC))}.db"
    info = B.backup(settings.db_path, dest)
    print(f"backup {info.path}: {info.transactions} transactions, {info.answers} answers, "
          f"{info.bytes / 1e6:.1f} MB", file=out)
    if args.keep:
        old = sorted(folder.glob("rabta-2*.db"))[:-args.keep]
        for path in old:
            path.unlink()
        if old:
            print(f"pruned {len(old)} older backup(s)", file=out)
    return 0


def do_restore(settings: Settings, args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Restore a backup over the database, keeping the current one."""
    out = out or sys.stdout
    keep = settings.home / "backups" / f"rabta-pre-restore-{_stamp(datetime.now(UTC))}.db"
    info = B.restore(args.file, settings.db_path, keep)
    print(f"restored {settings.db_path} from {args.file}: {info.transactions} transactions, "
          f"{info.answers} answers", file=out)
    if keep.exists():
        print(f"the database before the restore is kept at {keep}", file=out)
    return 0

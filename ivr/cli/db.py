"""CLI, `rabta db`: migrate a database, show its migrations, copy a store to another database.

A database is named by its URL (sqlite:///path/to/rabta.db or postgresql://user@host/db);
without one, the configured database (`database_url`, else SQLite at `database`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from typing import Any, TextIO

from ivr.config import Settings
from ivr.store.copy import copy_store
from ivr.store.database import Database, parse_url
from ivr.store.engines import open_database


def _handler(do: Callable[[Settings, argparse.Namespace], int]
             ) -> Callable[[argparse.Namespace, Settings], int]:
    """Adapt a `_do(settings, args)` to the CLI's handler signature `(args, settings)`."""
    return lambda args, settings: do(settings, args)


def register(subparsers: Any) -> None:
    """Add `rabta db migrate|status|copy` to the `rabta` parser's subcommands."""
    db = subparsers.add_parser(
        "db", help="the database: migrate, status, copy (SQLite to PostgreSQL)",
        description="Manage the database Rabta keeps everything in: apply migrations, show "
                    "them, or copy a whole store into another database (docs/OPERATIONS.md).",
        epilog="examples:\n  rabta db status\n  rabta db migrate postgresql://rabta@db1/rabta\n"
               "  rabta db copy sqlite:///var/lib/rabta/rabta.db postgresql://rabta@db1/rabta",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    raw = argparse.RawDescriptionHelpFormatter
    m = sub.add_parser(
        "migrate", help="apply every migration not yet applied",
        description="Apply the numbered migrations a database has not had yet (each in its "
                    "own transaction). Safe to run again, and from several workers at once.",
        epilog="examples:\n  rabta db migrate postgresql://rabta@db1:5432/rabta", formatter_class=raw)
    m.add_argument("url", nargs="?", help="database URL (default: the configured database)")
    m.set_defaults(func=_handler(_migrate))
    s = sub.add_parser(
        "status", help="list the migrations, applied and pending",
        description="Show which numbered migrations a database has had, and which not yet.",
        epilog="examples:\n  rabta db status sqlite:///var/lib/rabta/rabta.db", formatter_class=raw)
    s.add_argument("url", nargs="?", help="database URL (default: the configured database)")
    s.set_defaults(func=_handler(_status))
    c = sub.add_parser(
        "copy", help="copy every table to another database, checked row by row",
        description="Copy a whole store (e.g. a single server's SQLite file) into another "
                    "database (e.g. PostgreSQL). Both are migrated first; every table's row "
                    "count and checksum are compared afterwards. A target that already holds "
                    "data is refused unless --force (which replaces it).",
        epilog="examples:\n  rabta db copy sqlite:///var/lib/rabta/rabta.db "
               "postgresql://rabta@db1:5432/rabta", formatter_class=raw)
    c.add_argument("source", help="database URL to copy from")
    c.add_argument("target", help="database URL to copy into")
    c.add_argument("--force", action="store_true", help="replace whatever the target holds")
    c.add_argument("--no-progress", action="store_true", help="no progress bar")
    c.set_defaults(func=_handler(_copy))


def _url(settings: Settings, given: str | None) -> str:
    url = given or settings.db_url
    parse_url(url)  # a clear ConfigError for a malformed one, before anything is opened
    return url


def _migrate(settings: Settings, args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout

    async def run() -> int:
        db = await open_database(_url(settings, args.url), migrate=False)
        try:
            applied = await db.migrate()
        finally:
            await db.close()
        print(f"{db.url}: applied {', '.join(f'{v:04d}' for v in applied)}" if applied
              else f"{db.url}: up to date", file=out)
        return 0
    return asyncio.run(run())


async def _pending(db: Database) -> tuple[dict[int, str], list[str]]:
    done = await db.applied_migrations()
    pending = [f.name for f in db.migration_files() if int(f.name[:4]) not in done]
    return done, pending


def _status(settings: Settings, args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout

    async def run() -> int:
        db = await open_database(_url(settings, args.url), migrate=False)
        try:
            done, pending = await _pending(db)
        finally:
            await db.close()
        print(f"{db.url} ({db.dialect})", file=out)
        for f in db.migration_files():
            v = int(f.name[:4])
            print(f"  {f.name:<32} {'applied ' + done[v] if v in done else 'PENDING'}", file=out)
        print(f"{len(pending)} pending" if pending else "up to date", file=out)
        return 1 if pending else 0
    return asyncio.run(run())


def _copy(settings: Settings, args: argparse.Namespace, out: TextIO | None = None) -> int:
    from ivr.cli.progress import Progress  # the CLI's bar

    out = out or sys.stdout

    async def run() -> int:
        source_url, target_url = _url(settings, args.source), _url(settings, args.target)
        source = await open_database(source_url)
        try:
            target = await open_database(target_url)
            try:
                bar: Progress | None = None

                def progress(table: str, done: int, total: int) -> None:
                    nonlocal bar
                    if args.no_progress:
                        return
                    bar = bar or Progress(total, "copy")
                    bar.update(done, table, force=done == total)
                checks = await copy_store(source, target, force=args.force, progress=progress)
                if bar is not None:
                    bar.close()
            finally:
                await target.close()
        finally:
            await source.close()
        for c in checks:
            print(f"  {c.table:<18} {c.target_rows:>10} rows  checksum {c.target_sum[:16]}  ok",
                  file=out)
        print(f"copied {sum(c.target_rows for c in checks)} rows in {len(checks)} tables from "
              f"{source.url} to {target.url}; every table matches", file=out)
        return 0
    return asyncio.run(run())

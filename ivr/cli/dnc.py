"""CLI, do-not-call: `rabta dnc add|remove|list|import`, the list checked at dial time."""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import sys
from pathlib import Path
from typing import Any

from ivr import phone
from ivr.cli.common import EXIT_OK, EXIT_USAGE, add_command, now
from ivr.config import Settings
from ivr.errors import InputError
from ivr.store import open_store


def register(sub: Any) -> None:
    """Add `dnc` to the `rabta` parser's subcommands."""
    d = add_command(
        sub, "dnc", help="the do-not-call list (checked at dial time)",
        description="add/remove: numbers never (again) to be called; list: the list, numbers "
                    "masked; import: a register file (a CSV with a `number` column, or one "
                    "number per line). Bad numbers are named with their line; import exits 2 "
                    "if any was rejected.",
        examples=["rabta dnc add 03001234567 --note 'asked by phone, 2 Dec'",
                  "rabta dnc import pta-register.csv", "rabta dnc list"],
        func=_run)
    d.add_argument("action", choices=["add", "remove", "list", "import"])
    d.add_argument("numbers", nargs="*", help="numbers (add/remove) or one CSV file (import)")
    d.add_argument("--note", default="", help="why (kept with the entry)")


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.action in ("add", "remove", "import") and not args.numbers:
        raise InputError(f"dnc {args.action}: give at least one number (or a file)")
    return asyncio.run(do_dnc(settings, args.action, args.numbers, args.note))


async def do_dnc(settings: Settings, action: str, numbers: list[str], note: str,
                 out: Any = None) -> int:
    """Manage the do-not-call list: add, remove, list, import a CSV register."""
    out = out or sys.stdout
    async with await open_store(settings.db_url) as store:
        if action == "list":
            for row in await store.dnc_list():
                print(f"{phone.mask(row['number'])}\t{row['source']}\t{row['added_at']}\t"
                      f"{row['note']}", file=out)
            return EXIT_OK
        if action == "import":
            good, bad = read_numbers(Path(numbers[0]))
            for line, raw, why in bad:
                print(f"{numbers[0]}:{line}: number: {why} ({phone.mask(raw)!r})",
                      file=sys.stderr)
            added = await store.dnc_add(good, "import", now(), note)
            print(f"{numbers[0]}: {added} added, {len(good) - added} already listed, "
                  f"{len(bad)} rejected", file=out)
            return EXIT_USAGE if bad else EXIT_OK
        valid = []
        for raw in numbers:
            try:
                valid.append(phone.normalize(raw))
            except InputError as exc:
                raise InputError(f"{phone.mask(raw)}: {exc}") from None
        if action == "add":
            added = await store.dnc_add(valid, "admin", now(), note)
            print(f"{added} added, {len(valid) - added} already listed", file=out)
        else:
            removed = [n for n in valid if await store.dnc_remove(n)]
            print(f"{len(removed)} removed", file=out)
        return EXIT_OK


def read_numbers(path: Path) -> tuple[list[str], list[tuple[int, str, str]]]:
    """Read a DNC register: a CSV with a `number` column, or one number per line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: cannot read: not UTF-8 text ({exc.reason})") from None
    rows = list(csv.reader(io.StringIO(text)))
    col, start = 0, 0
    if rows and "number" in [c.strip().lower() for c in rows[0]]:
        col, start = [c.strip().lower() for c in rows[0]].index("number"), 1
    good, bad = [], []
    for i, row in enumerate(rows[start:], start + 1):
        if not row or not "".join(row).strip():
            continue
        raw = row[col] if col < len(row) else ""
        try:
            good.append(phone.normalize(raw))
        except InputError as exc:
            bad.append((i, raw, str(exc)))
    return good, bad

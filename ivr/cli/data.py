"""CLI, data: `rabta import`, `rabta report` and `rabta export`.

Wiring only: parsing rows is `ivr.intake`, figures are `ivr.reports`, SQL is `ivr.store`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

from ivr import intake, reports
from ivr.cli.common import EXIT_OK, EXIT_USAGE, add_command, now
from ivr.config import Settings
from ivr.errors import InputError
from ivr.services import intake as intake_service
from ivr.services import results as results_service
from ivr.store import open_store


def register(sub: Any) -> None:
    """Add `import`, `report` and `export` to the `rabta` parser's subcommands."""
    i = add_command(
        sub, "import", help="import a transactions CSV (bad rows reported, good rows kept)",
        description="Read a CSV of service visits (columns: office, ref, name, mobile, service, "
                    "district, official, visited_at, language) into the call queue. Good rows "
                    "are kept; each bad row is named with its line and reason on standard "
                    "error. A row already imported (same office and ref) is skipped. Exits 2 "
                    "if any row was rejected.",
        examples=["rabta import visits-2026-12-02.csv",
                  "rabta --database /srv/rabta/rabta.db import visits.csv"],
        func=lambda args, settings: asyncio.run(do_import(settings, args.file)))
    i.add_argument("file", type=Path)

    rep = add_command(
        sub, "report", help="results per district, service, office or official",
        description="Print the survey results grouped one way: calls, answered, completed, "
                    "satisfaction and bribe reports per group, as a table, CSV or JSON.",
        examples=["rabta report --by district", "rabta report --by official --format csv > officials.csv"],
        func=lambda args, settings: asyncio.run(do_report(settings, args.by, args.format)))
    rep.add_argument("--by", choices=reports.GROUP_BY, default="district")
    rep.add_argument("--format", choices=["table", "csv", "json"], default="table")

    e = add_command(
        sub, "export", help="one row per transaction with its answers",
        description="Write every transaction with its status, attempts and answers, as CSV or "
                    "JSON lines, to standard output or (whole or not at all) to a file.",
        examples=["rabta export --format csv -o results.csv", "rabta export --format jsonl | head"],
        func=_export)
    e.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    e.add_argument("--output", "-o", type=Path, help="file to write (default: stdout)")


async def do_import(settings: Settings, path: Path, out: Any = None) -> int:
    """Import a transactions CSV: keep good rows, report bad ones with line and reason."""
    out = out or sys.stdout
    try:
        with path.open("rb") as f:  # bytes: exact line numbers even for undecodable lines
            txs, errors = intake.parse_transactions_csv(f, source=str(path),
                                                         default_tz=settings.timezone)
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror}") from None
    async with await open_store(settings.db_url) as store:
        done = await intake_service.accept(store, settings, txs, now())
    inserted, known = done.created, done.already_present
    if errors:
        print(intake.format_errors(errors, str(path)), file=sys.stderr)
    rejected = len(errors)
    print(f"{path}: {inserted} imported, {known} already known, {rejected} rejected",
          file=out)
    return EXIT_OK if not rejected else EXIT_USAGE


async def results(settings: Settings) -> list[dict[str, Any]]:
    """Return every transaction with its answers, from the store."""
    async with await open_store(settings.db_url) as store:
        return await store.results()


async def do_report(settings: Settings, by: str, fmt: str, out: Any = None) -> int:
    """Print per group how far its transactions got and the dashboard's figures for it."""
    out = out or sys.stdout
    async with await open_store(settings.db_url) as store:
        rows = await results_service.report(store, by, settings.min_responses)
    text = reports.render(rows, fmt, by=by, min_responses=settings.min_responses)
    out.write(text if text.endswith("\n") else text + "\n")
    return EXIT_OK


EXPORT_FIELDS = ("office", "ref", "status", "attempts", "last_outcome", "answers", "district",
                 "service", "official", "visited_at", "language", "closed_reason",
                 "selection_probability")


async def do_export(settings: Settings, fmt: str, out: Any = None) -> int:
    """Write one row per transaction (CSV or JSON lines) to out."""
    out = out or sys.stdout
    rows = await results(settings)
    if fmt == "jsonl":
        for r in rows:
            out.write(json.dumps({k: r.get(k) for k in EXPORT_FIELDS}, ensure_ascii=False) + "\n")
    else:
        w = csv.writer(out, lineterminator="\n")
        w.writerow(EXPORT_FIELDS)
        for r in rows:
            w.writerow([json.dumps(r[k], ensure_ascii=False, sort_keys=True) if k == "answers"
                        else ("" if r.get(k) is None else reports.safe_cell(r[k]))
                        for k in EXPORT_FIELDS])
    return EXIT_OK


def _export(args: argparse.Namespace, settings: Settings) -> int:
    if not args.output:
        return asyncio.run(do_export(settings, args.format))
    target: Path = args.output
    if not target.parent.is_dir():
        raise InputError(f"--output {target}: no directory {target.parent}")
    buf = io.StringIO()
    asyncio.run(do_export(settings, args.format, buf))
    tmp = target.with_name(target.name + ".part")
    try:
        tmp.write_text(buf.getvalue(), encoding="utf-8")
        os.replace(tmp, target)  # never a half-written export
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise InputError(f"--output {target}: cannot write: {exc.strerror or exc}") from None
    print(f"wrote {target}", file=sys.stderr)
    return EXIT_OK

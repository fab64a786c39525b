"""CLI, SMS: `rabta sms check [FILE]` (the templates' gate) and `rabta sms status`.

`register(subparsers)`; each handler is bound by `set_defaults(func=...)` and called as
`func(args, settings)`, the convention of the `ivr/cli/` package.

Wiring only: checks are ivr.sms.text, figures ivr.store.sms. `check` prints ``OK ...`` or one
``file:line: problem`` per problem and exits 1 if there is any, like `rabta survey check`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from ivr.config import Settings
from ivr.sms import text as smstext
from ivr.store import open_store
from ivr.store.sms import SmsStore


def register(subparsers: Any) -> None:
    """Add `rabta sms check|status` to the `rabta` parser's subcommands."""
    p = subparsers.add_parser("sms", help="SMS through Kannel: check templates, show figures",
                              description="SMS beside the calls (docs/SMS.md).")
    sub = p.add_subparsers(dest="sms_action", required=True, metavar="ACTION")
    c = sub.add_parser("check", help="validate the SMS templates (file:line: problem)",
                       description="Check every template: known placeholders only, each "
                                   "message within max_parts SMS parts at its longest.",
                       epilog="example: rabta sms check sms/messages.toml",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("file", nargs="?", type=Path,
                   help="templates file (default: sms_templates, else sms/messages.toml)")
    c.set_defaults(func=run_check)
    s = sub.add_parser("status", help="messages by kind and state, failures by operator, replies",
                       description="Figures from the store: what was sent, delivered, failed.",
                       epilog="example: rabta sms status --json",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--json", action="store_true", help="machine-readable")
    s.set_defaults(func=run_status)


def check(path: Path, out: TextIO | None = None) -> int:
    """Check one templates file; print OK or every problem; return the exit status."""
    out = out or sys.stdout
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"{path}: cannot read: {exc}", file=out)
        return 1
    templates, problems = smstext.check_text(source, str(path))
    for problem in problems:
        print(problem, file=out)
    if templates is None:
        print(f"{len(problems)} problem(s)", file=out)
        return 1
    print(f"OK {path}: {len(templates.messages)} kinds, languages "
          f"{', '.join(smstext.LANGUAGES)}, at most {templates.max_parts} parts", file=out)
    return 0


def run_check(args: argparse.Namespace, settings: Settings) -> int:
    return check(args.file or settings.sms_templates or smstext.TEMPLATES_FILE)


async def _status(settings: Settings, as_json: bool) -> int:
    store = await open_store(settings.db_path)
    try:
        figures = await SmsStore(store).figures()
    finally:
        await store.close()
    if as_json:
        print(json.dumps(figures, ensure_ascii=False))
        return 0
    for kind, state, n in figures["messages"]:
        print(f"{kind:8} {state:10} {n}")
    print(f"failed by operator: {figures['failed_by_operator'] or 'none'}")
    print(f"replies: {figures['inbound'] or 'none'}; uncategorised: {figures['queue']}")
    return 0


def run_status(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_status(settings, args.json))

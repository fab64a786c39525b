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

from ivr.cli.common import add_command
from ivr.config import Settings
from ivr.sms import text as smstext
from ivr.store import open_store
from ivr.store.sms import SmsStore


def register(sub: Any) -> None:
    """Add `rabta sms check|status` to the `rabta` parser's subcommands."""
    p = add_command(
        sub, "sms", help="SMS through Kannel: check templates, show figures",
        description="check: validate the SMS templates (known placeholders only, each message "
                    "within max_parts SMS parts at its longest), printing OK or "
                    "`file:line: problem`; exits 1 if a problem was found. status: messages by "
                    "kind and state, failures by mobile operator, replies (docs/SMS.md).",
        examples=["rabta sms check", "rabta sms check sms/messages.toml",
                  "rabta sms status --json"],
        func=_run)
    p.add_argument("action", choices=["check", "status"])
    p.add_argument("file", nargs="?", type=Path,
                   help="check: templates file (default: sms_templates, else sms/messages.toml)")
    p.add_argument("--json", action="store_true", help="status: machine-readable")


def _run(args: argparse.Namespace, settings: Settings) -> int:
    return run_check(args, settings) if args.action == "check" else run_status(args, settings)


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
    async with await open_store(settings.db_url) as store:
        figures = await SmsStore(store).figures()
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

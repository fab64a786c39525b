"""CLI, entry: the `rabta` parser, settings, logging and dispatch to a command's handler.

Each command group is a module of this package with `register(subparsers)`; it adds its
subcommands with `ivr.cli.common.add_command`, which binds the handler by
`set_defaults(func=...)`. A new group is one more module in COMMANDS below.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import ivr.cli.accountability as accountability
import ivr.cli.asterisk as asterisk
import ivr.cli.backup as backup
import ivr.cli.completion as completion
import ivr.cli.data as data
import ivr.cli.db as db
import ivr.cli.demo as demo
import ivr.cli.dialplan as dialplan
import ivr.cli.dnc as dnc
import ivr.cli.doctor as doctor
import ivr.cli.prompts as prompts
import ivr.cli.serve as serve
import ivr.cli.sms as sms
import ivr.cli.status as status
import ivr.cli.survey as survey
import ivr.cli.users as users
from ivr import __version__
from ivr.cli.common import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from ivr.cli.logs import setup_logging
from ivr.config import LOG_LEVELS, load_settings
from ivr.errors import RabtaError
from scheduler.rules import Rules

# The command groups, in the order `rabta --help` lists them.
# accountability adds `report monthly` under data's `report`, so it comes after data.
COMMANDS: tuple[ModuleType, ...] = (asterisk, dialplan, doctor, backup, db, data, accountability,
                                    serve, status, dnc, users, survey, prompts, sms, demo,
                                    completion)


def build_parser() -> argparse.ArgumentParser:
    """Return the `rabta` parser with every command group's subcommands."""
    p = argparse.ArgumentParser(
        prog="rabta",
        description="Rabta calls citizens after a government service, asks how it went and "
                    "whether anyone asked for a bribe, and stores their key presses.",
        epilog="Every setting can also be given as RABTA_<KEY> or in rabta.toml "
               "(see rabta.toml.example). `rabta COMMAND --help` describes a command with "
               "examples. Exit codes: 0 done, 1 a check found problems, 2 bad usage or input "
               "(the message says what), 130 interrupted. Docs: docs/OPERATIONS.md.")
    p.add_argument("--version", action="version", version=f"rabta {__version__}")
    p.add_argument("--config", type=Path, help="TOML config file (default: ./rabta.toml if present)")
    p.add_argument("--home", help="data dir: the database, the AMI secret, recorded prompts "
                                  "(default ~/.local/share/rabta); logs go to standard error")
    p.add_argument("--database", help="SQLite file (default <home>/rabta.db)")
    p.add_argument("--log-level", help=f"{', '.join(LOG_LEVELS)} (default INFO)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    return p


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM stops as Ctrl-C does: finally blocks run, PBX stopped


def main(argv: Sequence[str] | None = None) -> int:
    """Run `rabta` with argv (default: the command line); return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "needs_settings", True) is False:  # `completion`: no config read, and
        code: int = args.func(args, parser)             # the handler gets the parser instead
        return code
    signal.signal(signal.SIGTERM, _terminate)
    overrides: dict[str, Any] = {"home": args.home, "database": args.database,
                                 "log_level": args.log_level,
                                 "web_port": getattr(args, "web_port", None)}
    if getattr(args, "phonebook", None):
        overrides["phonebook"] = str(args.phonebook)
    try:
        settings = load_settings(args.config, overrides=overrides)
        Rules.from_settings(settings)  # a bad rule string stops every command, as before
        setup_logging(settings.log_level, settings.log_format)
        code = args.func(args, settings)
        return code
    except RabtaError as exc:
        print(f"rabta: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("rabta: interrupted; answers already given are stored", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `rabta export | head`
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

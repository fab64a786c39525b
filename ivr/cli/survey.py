"""CLI, survey: `rabta survey check [FILES...]`, the gate before a definition goes live.

Wiring only: the checks themselves are `ivr.flows.definitions`. Prints one line per file
(``OK surveys/police.toml: police v1, 5 questions``) or one line per problem
(``surveys/police.toml:12: unknown prompt 'ratng' ...``), and exits 1 if there is any.
A survey whose greeting is a randomised experiment's is also checked against the arms of
that experiment, if it was started in the SQLite database (ivr.flows.definitions.arm_problems).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from ivr.cli.common import add_command
from ivr.config import Settings
from ivr.errors import StoreError
from ivr.flows import definitions


def register(sub: Any) -> None:
    """Add the `survey` command to the `rabta` parser's subcommands."""
    p = add_command(
        sub, "survey", help="survey definitions (surveys/*.toml): check them",
        description="check: load each definition, check its questions, branches and prompts "
                    "against prompts/manifest.toml; print OK per file or one line per problem "
                    "(file:line), and exit 1 if there is any. The gate before a definition goes "
                    "live.",
        examples=["rabta survey check", "rabta survey check surveys/police.toml"],
        func=run)
    p.add_argument("action", choices=["check"])
    p.add_argument("files", nargs="*", type=Path,
                   help="definition files (default: every file in surveys/)")


def check(files: list[Path], out: TextIO | None = None,
          experiments: Mapping[str, Sequence[str]] | None = None) -> int:
    """Check definition files (and greeting arms against the experiments started, if given);
    print OK lines or every problem; return the exit status."""
    out = out or sys.stdout
    whole_dir = not files
    paths = definitions.survey_files() if whole_dir else files
    if not paths:
        print(f"{definitions.display(definitions.SURVEYS_DIR)}: no survey definitions (*.toml)",
              file=out)
        return 1
    surveys, problems = definitions.check_files(paths, definitions.known_prompts(),
                                                require_default=whole_dir)
    for s in surveys if experiments is not None else ():
        problems += definitions.arm_problems(s, experiments or {})
    for problem in sorted(problems):
        print(problem, file=out)
    if problems:
        files_bad = len({p.file for p in problems})
        print(f"{len(problems)} problem(s) in {files_bad} file(s)", file=out)
        return 1
    for s in surveys:
        print(f"OK {s.source}: {s.id} v{s.version}, {len(s.questions)} questions, services: "
              f"{', '.join(s.services) or '(every other)'}", file=out)
    return 0


async def _experiments(settings: Settings) -> dict[str, list[str]] | None:
    """The experiments started, name -> arms, from an existing SQLite database (else None:
    the check does not create a database, and the PostgreSQL store has no experiments yet)."""
    if settings.database_url or not settings.db_path.exists():
        return None
    from ivr.store import open_store  # only here: checking files needs no store
    store = await open_store(settings.db_path)
    try:
        return {e["name"]: list(e["arms"]) for e in await store.experiments()}
    except StoreError:
        return None
    finally:
        await store.close()


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run `rabta survey ACTION`."""
    if args.action == "check":
        return check(list(args.files), experiments=asyncio.run(_experiments(settings)))
    raise AssertionError(args.action)  # pragma: no cover

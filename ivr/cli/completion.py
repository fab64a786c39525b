"""CLI, completion: `rabta completion bash|zsh|tcsh` prints a shell completion script (shtab)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ivr.cli.common import EXIT_OK, add_command

SHELLS = ("bash", "zsh", "tcsh")


def register(sub: Any) -> None:
    """Add `completion` to the `rabta` parser's subcommands."""
    c = add_command(
        sub, "completion", help="print a shell completion script (bash, zsh, tcsh)",
        description="Print a script that completes rabta's commands, actions and options in "
                    "your shell. Load it from your shell's start-up file.",
        examples=['eval "$(rabta completion bash)"   # in ~/.bashrc',
                  "rabta completion bash > /etc/bash_completion.d/rabta",
                  "rabta completion zsh > ~/.zfunc/_rabta"],
        func=_run)
    c.add_argument("shell", choices=SHELLS)
    c.set_defaults(needs_settings=False)


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Print the script; a command that reads no settings is handed the whole parser."""
    import shtab

    sys.stdout.write(shtab.complete(parser, shell=args.shell))
    return EXIT_OK

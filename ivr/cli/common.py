"""CLI, shared edge: exit codes, the clock, how a subcommand is added, serving the web.

Every command module (`ivr/cli/<group>.py`) adds its subcommands with `add_command`, which
gives each a description, examples in its help and its handler (`set_defaults(func=...)`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from ivr.config import Settings
from ivr.errors import ConfigError

log = logging.getLogger(__name__)
T = TypeVar("T")

# Exit codes, the same for every command.
EXIT_OK = 0  # done as asked
EXIT_PROBLEMS = 1  # a check ran and found problems (status, asterisk status, survey/prompts check)
EXIT_USAGE = 2  # bad usage or input, or an error the message names (a setting, a busy port)
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM

# A command's handler gets its arguments and the settings; one that reads no settings (marked
# by set_defaults(needs_settings=False)) gets the whole parser instead.
Handler = Callable[[argparse.Namespace, Settings], int]
ParserHandler = Callable[[argparse.Namespace, argparse.ArgumentParser], int]


def run_loop(settings: Settings, main: Coroutine[Any, Any, T]) -> T:
    """Run main on the event loop the settings choose (event_loop: uvloop, else asyncio's)."""
    if settings.event_loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            log.warning("event_loop is uvloop but uvloop is not installed (pip install uvloop); "
                        "running on asyncio's own loop")
        else:
            return uvloop.run(main)
    return asyncio.run(main)


def now() -> datetime:
    """Return the current time (UTC)."""
    return datetime.now(UTC)


def add_command(sub: Any, name: str, *, help: str, description: str, examples: Sequence[str],
                func: Handler | ParserHandler) -> argparse.ArgumentParser:
    """Add subcommand `name` with its one-line help, a description, examples and its handler."""
    epilog = "examples:\n" + "\n".join(f"  {line}" for line in examples)
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help, description=description, epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(func=func)
    return parser


def port_number(text: str) -> int:
    """argparse type: a TCP port, 1-65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (1-65535)")
    return port


@contextlib.asynccontextmanager
async def web_site(app: Any, settings: Settings, host: str, port: int) -> AsyncIterator[None]:
    """Serve an aiohttp app on host:port for the block; a busy port is a one-line error.

    The runner is the web edge's own (`make_runner`): request head and body read timeouts.
    """
    from aiohttp import web

    from ivr.web.app import make_runner

    runner = make_runner(app, settings)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            why = os.strerror(exc.errno) if exc.errno else str(exc)
            raise ConfigError(
                f"the web cannot listen on {host}:{port}: {why} (another rabta "
                f"web or serve running? choose another with --port or RABTA_WEB_PORT)") from None
        yield
    finally:
        await runner.cleanup()

"""Entry point: the classic AGI script, `AGI(rabta-agi,<attempt>)`; one survey call per process.

Selected by ``agi_transport = "classic"``. Asterisk runs it inside its rootfs through the
wrapper that `rabta asterisk up` installs (see ivr/lab/rootfs.py and docs/OPERATIONS.md):
it reads the settings the wrapper points it at, opens the same SQLite database as the engine,
runs one survey session (ivr/flows/session.py) on the call, and exits. The engine's dialer
learns that the call ended from the AMI hangup event, as for any call.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from ivr.asterisk.agi.script import ClassicChannel, open_channel, run_blocking, serve_one
from ivr.calls import CallRegistry
from ivr.config import Settings, load_settings
from ivr.errors import RabtaError
from ivr.flows.session import SurveySessions
from ivr.log import getLogger, set_level, to_stderr
from ivr.store.session import SessionStore
from scheduler import policy
from scheduler.policy import RetryRules
from scheduler.rules import retry_rules

log = getLogger(__name__)


async def run_call(channel: ClassicChannel, settings: Settings,
                   retry: RetryRules | None = None, *, blocking: bool = False) -> str:
    """Run one survey session on channel against the database; return how it ended.

    blocking: the database in this thread and nothing that waits on an event loop, so the
    coroutine can be run with run_blocking (SQLite only).
    """
    retry = retry or retry_rules(settings)
    store = await SessionStore.open(settings.db_url, blocking=blocking)
    try:
        sessions = SurveySessions(
            store, settings, CallRegistry(), shield=not blocking,
            next_step=lambda result, attempts, callbacks, now: policy.after_survey(
                result, attempts, callbacks, now, retry))
        return await serve_one(channel, sessions)
    finally:
        await store.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the one call Asterisk started this process for; exit 0 unless it failed."""
    # Each record one line on stderr, which Asterisk logs; `logging` is never imported.
    to_stderr("WARNING", "rabta-agi")
    channel = open_channel()
    try:
        settings = load_settings()
        retry = retry_rules(settings)
    except RabtaError as exc:
        log.error("cannot run the survey: %s", exc)
        return 2
    set_level(settings.log_level)
    if settings.db_url.startswith("sqlite:"):
        # No event loop: importing asyncio (and aiosqlite) cost more CPU than the survey.
        ended = run_blocking(run_call(channel, settings, retry, blocking=True))
    else:
        import asyncio

        ended = asyncio.run(run_call(channel, settings, retry))
    return 1 if ended == "error" else 0


def run() -> NoReturn:
    """Serve the call and end the process at once (how the rootfs wrapper starts it).

    A process per call: once the answers are stored and the output flushed, nothing is left
    to tidy, so the interpreter's own teardown (every module and object freed one by one) is
    skipped. Errors are flushed to stderr first, which Asterisk logs.
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())

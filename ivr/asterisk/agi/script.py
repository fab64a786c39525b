"""Protocol layer: the classic AGI transport, one process per call (``AGI(rabta-agi,<attempt>)``).

Asterisk starts the script for each answered call, writes the header block and the answers
to its stdin, reads commands from its stdout, and waits for it to exit. pyst2 does the wire:
it reads the header block, writes each command and turns Asterisk's SIGHUP into its hangup
flag. ``ClassicChannel`` is an ``AGIChannel`` whose byte source and sink are those pipes; the
answers go through the same incremental reader (``agi/protocol.py``), so the flows see the
same ``Channel`` methods, values and exceptions. ``serve_one`` runs one handler on it with
the same ``run_handler`` as the FastAGI server. The wiring (store, survey session)
is done by the entry point, ``ivr/classic_agi.py``.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import IO, Any, TypeVar, cast

from asterisk.agi import AGI, AGISIGHUPHangup  # pyst2

from ivr.asterisk.agi.channel import AGIChannel, Ending, run_handler
from ivr.asterisk.agi.protocol import MAX_LINE_BYTES
from ivr.errors import CallerHungUp
from ivr.log import getLogger

log = getLogger(__name__)
T = TypeVar("T")


class _Pipes:
    """pyst2's stdin and stdout as the channel's byte source and sink.

    A SIGHUP from Asterisk (pyst2's hangup flag) or a closed pipe is the citizen gone.
    """

    def __init__(self, agi: Any) -> None:
        self._agi = agi

    async def read(self, n: int) -> bytes:
        """Return one line from Asterisk (at most one too many bytes to see it is too long)."""
        try:
            raw = self._agi.stdin.readline(MAX_LINE_BYTES + 1)
        except OSError as exc:
            raise CallerHungUp(f"reading from Asterisk: {exc}") from exc
        return raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)

    def write(self, data: bytes) -> None:
        """Send one command line through pyst2."""
        try:
            self._agi.test_hangup()  # Asterisk sent SIGHUP: the citizen is gone
            self._agi.send_command(data.decode("utf-8").rstrip("\n"))
        except AGISIGHUPHangup as exc:
            raise CallerHungUp(str(exc)) from exc
        except OSError as exc:  # EPIPE: Asterisk closed our stdout
            why = "broken pipe" if exc.errno == errno.EPIPE else str(exc)
            raise CallerHungUp(why) from exc

    async def drain(self) -> None:
        """Nothing to wait for: pyst2 flushes each command."""


class ClassicChannel(AGIChannel):
    """A Channel over the classic AGI pipes of this process, through pyst2.

    One call per process and nothing else to do meanwhile: each command blocks until its
    answer comes, which is what a process-per-call script does anyway.
    """

    def __init__(self, agi: Any) -> None:
        pipes = _Pipes(agi)
        # Asterisk's own AGI timeouts apply to pipes: no command timeout of ours.
        super().__init__(pipes, pipes, {str(k): str(v) for k, v in agi.env.items()},
                         command_timeout=None, exclusive=False)
        self._agi = agi

    @property
    def script(self) -> str:
        """Return the script name Asterisk ran (``rabta-agi``), without its directory."""
        return os.path.basename(self._headers.get("agi_request", ""))


def open_channel(stdin: IO[str] = sys.stdin, stdout: IO[str] = sys.stdout,
                 stderr: IO[str] | None = None) -> ClassicChannel:
    """Read the header block from Asterisk (pyst2) and return the call's channel."""
    # pyst2 writes a trace of every line to stderr, which Asterisk copies to its console.
    quiet = stderr if stderr is not None else open(os.devnull, "w")
    return ClassicChannel(AGI(stdin=stdin, stdout=stdout, stderr=quiet))


def run_blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends to its end, without an event loop; return its value.

    The classic script's session awaits only pipes and a blocking SQLite connection, whose
    awaitables all finish at once, so it needs no asyncio (which costs the process more CPU to
    import than the survey does). RuntimeError if something would really have waited.
    """
    try:
        coro.send(None)
    except StopIteration as done:
        return cast(T, done.value)
    coro.close()
    raise RuntimeError("the coroutine waited for something: it needs an event loop")


async def serve_one(channel: AGIChannel,
                    handler: Callable[[AGIChannel], Awaitable[None]]) -> Ending:
    """Run handler on one call; return how it ended: completed, hung_up or error."""
    return await run_handler(channel, handler, transport="classic AGI", log=log)


__all__ = ["ClassicChannel", "open_channel", "run_blocking", "serve_one"]

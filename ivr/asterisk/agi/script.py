"""Protocol layer: the classic AGI transport, one process per call (``AGI(rabta-agi,<attempt>)``).

Asterisk starts the script for each answered call, writes the header block and the answers
to its stdin, reads commands from its stdout, and waits for it to exit. pyst2 does the wire:
it reads the header block, writes each command and turns Asterisk's SIGHUP into its hangup
flag. Answers are read with the same parser as the FastAGI server (``agi/protocol.py``), so
``ClassicChannel`` is an ``AGIChannel`` in every respect the flows can see: the same
``Channel`` methods, the same values, the same exceptions. ``serve_one`` runs one handler on
it and counts the ending the way the FastAGI server does. The wiring (store, survey session)
is done by the entry point, ``ivr/classic_agi.py``.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from types import MappingProxyType
from typing import IO, Any

from asterisk.agi import AGI, AGISIGHUPHangup  # pyst2

from ivr.asterisk.agi.channel import AGIChannel
from ivr.asterisk.agi.protocol import (
    MAX_LINE_BYTES,
    AGIResponse,
    build_command,
    is_multiline_end,
    is_multiline_start,
    parse_response,
)
from ivr.errors import AGICommandError, AGIError, AGIProtocolError, CallerHungUp

log = logging.getLogger(__name__)

_MAX_USAGE_LINES = 200


class ClassicChannel(AGIChannel):
    """A Channel over the classic AGI pipes of this process, through pyst2.

    One call per process and nothing else to do meanwhile: each command blocks until its
    answer comes, which is what a process-per-call script does anyway.
    """

    def __init__(self, agi: Any) -> None:
        # AGIChannel's stream state is replaced by pyst2's pipes; its commands are reused.
        self._agi = agi
        self._headers = MappingProxyType({str(k): str(v) for k, v in agi.env.items()})
        self._command_timeout = 0.0  # Asterisk's own AGI timeouts apply to pipes
        self._lock = asyncio.Lock()
        self._hung_up = False
        self._broken: str | None = None

    @property
    def script(self) -> str:
        """Return the script name Asterisk ran (``rabta-agi``), without its directory."""
        return os.path.basename(self._headers.get("agi_request", ""))

    async def _send(self, name: str, *args: str | int) -> AGIResponse:
        """Send one command through pyst2 and return its parsed answer."""
        if self._hung_up:
            raise CallerHungUp(f"{name}: the call is already over")
        if self._broken is not None:
            raise AGIProtocolError(f"{name}: connection unusable ({self._broken})")
        try:
            self._agi.test_hangup()  # Asterisk sent SIGHUP: the citizen is gone
            self._agi.send_command(build_command(name, *args).rstrip("\n"))
            return self._read_answer()
        except (CallerHungUp, AGISIGHUPHangup) as exc:
            self._hung_up = True
            if isinstance(exc, CallerHungUp):
                raise
            raise CallerHungUp(f"{name}: {exc}") from exc
        except OSError as exc:
            self._hung_up = True  # EPIPE: Asterisk closed our stdout
            why = "broken pipe" if exc.errno == errno.EPIPE else str(exc)
            raise CallerHungUp(f"{name}: {why}") from exc
        except AGICommandError:
            raise
        except AGIProtocolError as exc:
            self._broken = str(exc)
            raise

    def _read_answer(self) -> AGIResponse:
        line = self._read_line()
        if not is_multiline_start(line):
            return parse_response(line)
        usage = [line[4:]]
        while not is_multiline_end(line := self._read_line()):
            usage.append(line)
            if len(usage) > _MAX_USAGE_LINES:
                raise AGIProtocolError("520 usage block does not end")
        raise AGICommandError(520, "\n".join(usage))

    def _read_line(self) -> str:
        raw = self._agi.stdin.readline(MAX_LINE_BYTES + 1)
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", "replace")
        if not raw:
            raise CallerHungUp("Asterisk closed the AGI pipe")
        if len(raw) > MAX_LINE_BYTES:
            raise AGIProtocolError(f"AGI line longer than {MAX_LINE_BYTES} bytes")
        return str(raw).rstrip("\r\n")


def open_channel(stdin: IO[str] = sys.stdin, stdout: IO[str] = sys.stdout,
                 stderr: IO[str] | None = None) -> ClassicChannel:
    """Read the header block from Asterisk (pyst2) and return the call's channel."""
    # pyst2 writes a trace of every line to stderr, which Asterisk copies to its console.
    quiet = stderr if stderr is not None else open(os.devnull, "w")
    return ClassicChannel(AGI(stdin=stdin, stdout=stdout, stderr=quiet))


async def serve_one(channel: AGIChannel, handler: Callable[[AGIChannel], Awaitable[None]]) -> str:
    """Run handler on one call; return how it ended: completed, hung_up or error."""
    args = channel.args
    attempt = args[0] if args else "-"
    try:
        await handler(channel)
    except CallerHungUp as exc:
        log.info("classic AGI: attempt %s: caller hung up (%s)", attempt, exc)
        return "hung_up"
    except AGIError as exc:
        log.warning("classic AGI: attempt %s: AGI failed: %s", attempt, exc)
        return "error"
    except Exception:
        log.exception("classic AGI: attempt %s: flow crashed", attempt)
        return "error"
    log.info("classic AGI: attempt %s: finished", attempt)
    return "completed"


__all__ = ["ClassicChannel", "open_channel", "serve_one"]

"""Protocol layer: one answered call, as typed commands over an AGI byte stream.

Flows see only the ``Channel`` protocol: prompts, digits, recordings and variables, never
an AGI string. ``AGIChannel`` implements it over a byte source and sink: the asyncio streams
the FastAGI server hands over, or the classic script's pipes (``agi/script.py``); the two
differ only in how they move bytes. It sends one command at a time and turns every answer
(read by ``protocol.ResponseReader``) into a value or an exception from ``ivr.errors``. Once
the call is gone (``HANGUP``, 511, EOF) every further command raises CallerHungUp without
touching the stream. ``run_handler`` runs one call's handler and says how the call ended,
for both transports.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Literal, NoReturn, Protocol

from ivr.asterisk.agi.protocol import (
    DTMF_DIGITS,
    AGIResponse,
    ResponseReader,
    build_command,
    digit_from_result,
    int_result,
)
from ivr.asterisk.agi.roundtrip import QUICK_COMMANDS
from ivr.asterisk.variables import BACKGROUND_STATUS
from ivr.errors import AGICommandError, AGIError, AGIProtocolError, CallerHungUp, StoreError
from ivr.log import Logger

_READ_CHUNK = 65536
_SOUND_NAME = re.compile(r"[\w./-]+")  # what may go in Background's "&" list

#: How a call's handler ended: it returned, the caller hung up, or it failed.
Ending = Literal["completed", "hung_up", "error"]


class ByteSource(Protocol):
    """Where Asterisk's answers come from (``asyncio.StreamReader`` is one)."""

    async def read(self, n: int) -> bytes: ...  # b"" once the peer has closed


class ByteSink(Protocol):
    """Where our commands go (``asyncio.StreamWriter`` is one)."""

    def write(self, data: bytes) -> None: ...
    async def drain(self) -> None: ...


class Channel(Protocol):
    """What a flow may do with an answered call."""

    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def script(self) -> str: ...
    @property
    def args(self) -> list[str]: ...

    async def answer(self) -> None: ...
    async def stream_file(self, name: str, escape_digits: str = "") -> str | None: ...
    async def stream_files(self, names: Sequence[str]) -> str | None: ...
    async def get_digits(self, prompt: str, max_digits: int, timeout_s: float) -> str: ...
    async def wait_for_digit(self, timeout_s: float) -> str | None: ...
    async def record(
        self,
        path: str,
        fmt: str = "wav",
        escape_digits: str = "#",
        max_s: float = 60,
        beep: bool = True,
        silence_s: float | None = 3,
    ) -> str | None: ...
    async def set_variable(self, name: str, value: str) -> None: ...
    async def get_variable(self, name: str) -> str | None: ...
    async def verbose(self, message: str, level: int = 1) -> None: ...
    async def hangup(self) -> None: ...


def _ms(seconds: float) -> int:
    """Convert seconds to the whole milliseconds AGI timeouts take; negative means forever."""
    return -1 if seconds < 0 else round(seconds * 1000)


class AGIChannel:
    """A Channel over one AGI connection: its header block, a byte source and a byte sink."""

    def __init__(
        self,
        reader: ByteSource,
        writer: ByteSink,
        headers: Mapping[str, str],
        *,
        command_timeout: float | None = 3600.0,
        round_trip: Callable[[float], None] | None = None,
        exclusive: bool = True,
    ) -> None:
        self._reader = reader
        # Told the round trip (seconds) of each quick command (roundtrip.QUICK_COMMANDS).
        self._round_trip = round_trip
        self._writer = writer
        self._responses = ResponseReader()
        self._headers: Mapping[str, str] = MappingProxyType(dict(headers))
        self._command_timeout = command_timeout  # None: the transport's own limits apply
        # One command at a time: a FastAGI session's coroutines share the connection. A
        # classic script's channel (one call per process, no timeout of ours) needs no lock,
        # and so no asyncio at all (its process runs the session without an event loop).
        self._lock: contextlib.AbstractAsyncContextManager[Any]
        if command_timeout is None and not exclusive:
            self._lock = contextlib.nullcontext()
        else:
            import asyncio

            self._lock = asyncio.Lock()
        self._hung_up = False
        # After a timeout or garbage the next line may answer an older command: stop.
        self._broken: str | None = None

    # -- what Asterisk told us at connect time --------------------------------------

    @property
    def headers(self) -> Mapping[str, str]:
        """Return the header block, read-only (``agi_channel``, ``agi_arg_1`` ...)."""
        return self._headers

    @property
    def script(self) -> str:
        """Return the script name: ``survey`` for ``agi://127.0.0.1:4573/survey``."""
        script = self._headers.get("agi_network_script")
        if script is None:
            request = self._headers.get("agi_request", "")
            # the URL's path (urlsplit's, without importing urllib: the classic script's start)
            path = request.partition("://")[2].partition("/")[2] if "://" in request else ""
            script = path.partition("#")[0]
        # Asterisk passes everything after the first "/", query string included.
        return script.partition("?")[0].strip("/")

    @property
    def args(self) -> list[str]:
        """Return the AGI() arguments ``agi_arg_1`` .. ``agi_arg_N``, in order."""
        out: list[str] = []
        while (value := self._headers.get(f"agi_arg_{len(out) + 1}")) is not None:
            out.append(value)
        return out

    @property
    def channel_name(self) -> str:
        """Return the Asterisk channel name (``PJSIP/carrier-00000001``)."""
        return self._headers.get("agi_channel", "")

    @property
    def uniqueid(self) -> str:
        """Return the Asterisk unique id of the channel (``1732838400.1``)."""
        return self._headers.get("agi_uniqueid", "")

    @property
    def hung_up(self) -> bool:
        """Tell whether the call is known to be over."""
        return self._hung_up

    # -- commands ------------------------------------------------------------------

    async def answer(self) -> None:
        """Answer the channel (a no-op on an answered one)."""
        if int_result(await self._send("ANSWER")) < 0:
            self._hung_up = True
            raise CallerHungUp("ANSWER failed")

    async def stream_file(self, name: str, escape_digits: str = "") -> str | None:
        """Play a sound file; return the escape digit that cut it short, or None."""
        resp = await self._send("STREAM FILE", name, escape_digits)
        if resp.result == "-1":
            await self._hangup_or_missing("STREAM FILE", name)
        return self._digit(resp)

    async def stream_files(self, names: Sequence[str]) -> str | None:
        """Play sound files back to back in one command; return the key that cut them short.

        Any key stops them (Asterisk's ``Background``, which AGI's ``EXEC`` lets return the
        key). A file that cannot be played stops the list there: AGICommandError, naming
        them all (Asterisk does not say which one), after a ``GET VARIABLE`` that only a
        list played to its end costs.
        """
        if not names or not all(_SOUND_NAME.fullmatch(n) for n in names):
            # "," or "&" in a name would split Background's arguments: refuse before sending.
            raise AGICommandError(0, f"cannot play {list(names)!r} in one command")
        resp = await self._send("EXEC", "Background", "&".join(names))
        if resp.result == "-2":
            raise AGICommandError(200, "EXEC Background: no such application on this PBX")
        key = self._digit(resp)
        if key is None and await self.get_variable(BACKGROUND_STATUS) != "SUCCESS":
            raise AGICommandError(200, f"EXEC Background {' '.join(names)}: a sound file is "
                                  "missing or unplayable")
        return key

    async def get_digits(self, prompt: str, max_digits: int, timeout_s: float) -> str:
        """Play a prompt and collect up to max_digits keys; return "" if none came.

        ``200 result=12 (timeout)`` means the citizen typed "12" and then stopped: the
        partial input is returned.
        """
        if max_digits < 1 or timeout_s <= 0:
            raise ValueError("max_digits must be >= 1 and timeout_s > 0")
        resp = await self._send("GET DATA", prompt, _ms(timeout_s), max_digits)
        if resp.result == "-1":
            await self._hangup_or_missing("GET DATA", prompt)
        if not set(resp.result) <= DTMF_DIGITS:
            raise AGIProtocolError(f"GET DATA returned non-DTMF {resp.result[:80]!r}")
        return resp.result

    async def wait_for_digit(self, timeout_s: float) -> str | None:
        """Wait for one key; return it, or None on timeout (negative waits forever)."""
        return self._digit(await self._send("WAIT FOR DIGIT", _ms(timeout_s)))

    async def record(
        self,
        path: str,
        fmt: str = "wav",
        escape_digits: str = "#",
        max_s: float = 60,
        beep: bool = True,
        silence_s: float | None = 3,
    ) -> str | None:
        """Record to path.fmt; return the escape digit that ended it, or None.

        Ends on an escape digit, after max_s, or after silence_s seconds of silence
        (whole seconds: Asterisk reads ``s=3`` with atoi). A hangup raises CallerHungUp,
        but Asterisk keeps what was recorded up to then.
        """
        args: list[str | int] = [path, fmt, escape_digits, _ms(max_s), 0]
        if beep:
            args.append("BEEP")
        if silence_s is not None:
            if round(silence_s) < 1:
                raise ValueError("silence_s must be at least 1 second, or None")
            args.append(f"s={round(silence_s)}")
        resp = await self._send("RECORD FILE", *args)
        if resp.data == "writefile":  # 200 result=-1 (writefile): cannot create the file
            raise AGICommandError(200, f"RECORD FILE cannot write {path}.{fmt}")
        if resp.data in ("dtmf", "randomerror") or resp.result == "-1":
            # 200 result=35 (dtmf) endpos=8000; (randomerror) is a key during the beep;
            # 200 result=-1 (hangup) endpos=8000 raises CallerHungUp.
            return self._digit(resp)
        return None  # 200 result=0 (timeout) endpos=480000: max_s or silence

    async def set_variable(self, name: str, value: str) -> None:
        """Set a channel variable."""
        await self._send("SET VARIABLE", name, value)

    async def get_variable(self, name: str) -> str | None:
        """Return a channel variable, or None if it is not set."""
        resp = await self._send("GET VARIABLE", name)
        if resp.result == "1":
            return resp.data if resp.data is not None else ""
        return None

    async def verbose(self, message: str, level: int = 1) -> None:
        """Write a message to the Asterisk console/log at the given verbosity."""
        await self._send("VERBOSE", message, level)

    async def hangup(self) -> None:
        """Hang up the call; do nothing if it is already over."""
        if self._hung_up:
            return
        try:
            await self._send("HANGUP")
        except CallerHungUp:
            pass
        self._hung_up = True

    # -- wire ----------------------------------------------------------------------

    def _digit(self, resp: AGIResponse) -> str | None:
        """Return the key in a result; ``result=-1`` marks the call over."""
        try:
            return digit_from_result(resp)
        except CallerHungUp:
            self._hung_up = True
            raise

    async def _hangup_or_missing(self, command: str, name: str) -> NoReturn:
        """Tell a hangup from a missing sound file after ``200 result=-1``.

        Both give the same line. On a hangup Asterisk sends ``HANGUP`` before it reads
        our next command, and CHANNEL STATUS is refused on a dead channel (511); on a
        live channel it answers, so the file must be missing or unplayable.
        """
        await self._send("CHANNEL STATUS")
        raise AGICommandError(200, f"{command} {name}: sound file missing or unplayable")

    async def _send(self, name: str, *args: str | int) -> AGIResponse:
        """Send one command and return its parsed answer."""
        if self._hung_up:
            raise CallerHungUp(f"{name}: the call is already over")
        if self._broken is not None:
            raise AGIProtocolError(f"{name}: connection unusable ({self._broken})")
        line = build_command(name, *args).encode("utf-8")
        async with self._lock:
            in_step = False  # True once the answer was read whole, error or not
            try:
                async with self._deadline():
                    started = time.perf_counter()
                    self._writer.write(line)
                    await self._writer.drain()
                    try:
                        resp = await self._read_response()
                    except AGICommandError:
                        in_step = True
                        raise
                in_step = True
                if self._round_trip is not None and name in QUICK_COMMANDS:
                    self._round_trip(time.perf_counter() - started)
                return resp
            except CallerHungUp:
                self._hung_up = True
                raise
            except ConnectionError as exc:
                self._hung_up = True
                raise CallerHungUp(f"{name}: connection lost ({exc})") from exc
            except TimeoutError as exc:
                self._broken = f"no answer to {name} in {self._command_timeout or 0:g} s"
                raise AGIProtocolError(self._broken) from exc
            except AGIProtocolError as exc:
                self._broken = str(exc)
                raise
            finally:
                # Cancelled mid-command: its answer may still come and would be taken as
                # the answer to the next one.
                if not in_step and not self._hung_up and self._broken is None:
                    self._broken = f"{name} was interrupted before its answer came"

    def _deadline(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """The command timeout (none at all when it is None: asyncio is not even imported)."""
        if self._command_timeout is None:
            return contextlib.nullcontext()
        import asyncio

        return asyncio.timeout(self._command_timeout)

    async def _read_response(self) -> AGIResponse:
        """Read one answer (a whole 520 usage block included), as many reads as it takes."""
        while (resp := self._responses.next_response()) is None:
            self._responses.feed(await self._reader.read(_READ_CHUNK))
        return resp


async def run_handler(channel: AGIChannel, handler: Callable[[AGIChannel], Awaitable[None]],
                      *, transport: str, log: Logger) -> Ending:
    """Run one call's handler; log (to the transport's logger) and return how it ended:
    completed, hung_up (a normal outcome, info) or error (warning; error without a traceback
    when the store failed; a traceback for a bug)."""
    args = channel.args
    attempt = args[0] if args else "-"
    try:
        await handler(channel)
    except CallerHungUp as exc:
        log.info("%s: attempt %s: caller hung up (%s)", transport, attempt, exc)
        return "hung_up"
    except AGIError as exc:
        log.warning("%s: attempt %s: AGI failed: %s", transport, attempt, exc)
        return "error"
    except StoreError as exc:  # the database down past its wait: a dependency, not our bug
        log.error("%s: attempt %s: %s stopped, the store failed: %s", transport, attempt,
                  channel.script, exc)
        return "error"
    except Exception:
        log.exception("%s: attempt %s: flow %r crashed", transport, attempt, channel.script)
        return "error"
    log.info("%s: attempt %s: %s finished", transport, attempt, channel.script)
    return "completed"


__all__ = ["AGIChannel", "ByteSink", "ByteSource", "Channel", "Ending", "run_handler"]

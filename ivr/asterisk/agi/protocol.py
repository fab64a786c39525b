"""Protocol layer: parse and quote AGI lines, and read answers incrementally. Pure, no I/O.

Everything that knows what an AGI line looks like lives here; the channels and the server
only move bytes (``ResponseReader`` is fed whatever bytes arrive, like h11, so the FastAGI
socket and the classic AGI pipes share one reader). The wire format is Asterisk's res_agi.c:

* Asterisk opens the connection and sends a header block, one ``agi_<name>: <value>``
  line each (``agi_channel: PJSIP/carrier-00000001``), ended by a blank line.
* We then send one command per line (``GET DATA rabta/en/rating 5000 1``) and Asterisk
  answers each with one line (``200 result=4``), except the 520 usage block, which spans
  several lines.
* When the channel hangs up Asterisk also sends a bare ``HANGUP`` line, whenever it
  notices, so it can arrive before the answer to our next command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ivr.errors import AGICommandError, AGIProtocolError, CallerHungUp

# Longest line we accept from Asterisk. Real lines are far shorter: a GET VARIABLE answer
# with a long value is the only thing that grows.
MAX_LINE_BYTES = 8192

# res_agi.c reads each command with fgets() into a 2048-byte buffer (AGI_BUF_LEN): anything
# beyond 2047 bytes, newline included, is cut off and the rest is run as a *second*
# command. So an over-long line is an injection, just like an embedded newline.
MAX_COMMAND_BYTES = 2047

# A 520 usage text is a dozen lines; more than this is not Asterisk.
MAX_USAGE_LINES = 200

DTMF_DIGITS = frozenset("0123456789*#ABCD")

_HEADER = re.compile(r"agi_[a-z0-9_]+")
_COMMAND_NAME = re.compile(r"[A-Za-z]+(?: [A-Za-z]+)*")
# The data in parentheses is matched greedily, so a GET VARIABLE value that itself
# contains parentheses ("200 result=1 (a (b) c)") comes back whole.
_RESPONSE = re.compile(
    r"200 result=(?P<result>\S*)(?: \((?P<data>.*)\))?(?: endpos=(?P<endpos>\d{1,18}))?"
)
_INT_RESULT = re.compile(r"-?\d{1,9}")
# Characters that Asterisk's parse_args() treats specially outside double quotes.
_NEEDS_QUOTES = re.compile(r'[ \t"\\]')


@dataclass(frozen=True)
class AGIResponse:
    """One parsed ``200 result=...`` line."""

    code: int
    result: str
    data: str | None
    endpos: int | None


def decode_line(raw: bytes) -> str:
    """Decode one line read from the socket and drop its line ending.

    Asterisk sends UTF-8 when the dialplan data is UTF-8; anything else is replaced
    rather than fatal, because a caller name must not kill the call.
    """
    return raw.decode("utf-8", errors="replace").rstrip("\r\n")


def parse_header_line(line: str) -> tuple[str, str]:
    """Split one header line into its name and value.

    ``agi_channel: PJSIP/carrier-00000001`` -> ``("agi_channel", "PJSIP/carrier-00000001")``;
    ``agi_accountcode: `` -> ``("agi_accountcode", "")``.
    Raise AGIProtocolError for anything else, such as ``GET / HTTP/1.1`` from a stray
    browser or binary noise from a port scanner.
    """
    line = line.rstrip("\r\n")
    name, sep, value = line.partition(":")
    if not sep or not _HEADER.fullmatch(name) or "\x00" in value:
        raise AGIProtocolError(f"not an AGI header line: {line[:80]!r}")
    return name, value.removeprefix(" ")


def is_multiline_start(line: str) -> bool:
    """Tell whether the line opens a multi-line 520 usage block.

    ``520-Invalid command syntax.  Proper usage follows:`` starts it; usage text follows
    and ``520 End of proper usage.`` ends it.
    """
    return line.startswith("520-")


def is_multiline_end(line: str) -> bool:
    """Tell whether the line ends a 520 usage block (``520 End of proper usage.``)."""
    return line.startswith("520 ")


def parse_response(line: str) -> AGIResponse:
    """Parse one answer line from Asterisk.

    Success lines, as res_agi.c writes them::

        200 result=1                          ANSWER on a live channel, SET VARIABLE
        200 result=49 endpos=12345            STREAM FILE interrupted by "1" (ASCII 49)
        200 result=5 (timeout)                GET DATA: "5" typed, then the timeout
        200 result= (timeout)                 GET DATA: nothing typed
        200 result=1 (dtmf) endpos=4000       RECORD FILE stopped by "1"
        200 result=1 (Rabta value with spaces)  GET VARIABLE, set
        200 result=0                          GET VARIABLE, not set

    Raise AGICommandError for ``510 Invalid or unknown command`` and for 520 (usage);
    CallerHungUp for ``511 Command Not Permitted on a dead channel or intercept routine``
    and for the asynchronous ``HANGUP`` line; AGIProtocolError for anything else.
    """
    line = line.rstrip("\r\n")
    if line == "HANGUP":
        raise CallerHungUp("Asterisk reported HANGUP")
    match = _RESPONSE.fullmatch(line)
    if match:
        endpos = match["endpos"]
        return AGIResponse(
            code=200,
            result=match["result"],
            data=match["data"],
            endpos=int(endpos) if endpos is not None else None,
        )
    code, sep, message = line[:3], line[3:4], line[4:]
    if sep in ("", " ", "-"):
        if code == "511":
            raise CallerHungUp(f"511 {message}")
        if code in ("510", "520"):
            raise AGICommandError(int(code), message)
    raise AGIProtocolError(f"not an AGI response: {line[:80]!r}")


class ResponseReader:
    """Read Asterisk's answers from bytes fed in as they arrive; pure, no I/O (like h11).

    ``feed(data)`` adds bytes (any split: half a line, several lines); ``feed(b"")`` says the
    peer closed. ``next_response()`` returns the next whole answer, or None while more bytes
    are needed, and raises as ``parse_response`` does: ``HANGUP`` and 511 are CallerHungUp,
    510 is AGICommandError. A multi-line usage block is read whole and raised as one
    AGICommandError(520, its text)::

        520-Invalid command syntax.  Proper usage follows:
        Usage: GET DATA <file to be streamed> [timeout] [maxdigits]
        520 End of proper usage.

    End of input before a whole answer is CallerHungUp; a line over ``max_line`` bytes, or a
    usage block that never ends, is AGIProtocolError. Bytes after an answer (a ``HANGUP``
    that came early) stay buffered for the next call.
    """

    def __init__(self, max_line: int = MAX_LINE_BYTES, max_usage_lines: int = MAX_USAGE_LINES):
        self._buffer = bytearray()
        self._eof = False
        self._usage: list[str] | None = None  # inside a 520 block: the usage lines so far
        self._max_line = max_line
        self._max_usage_lines = max_usage_lines

    @property
    def closed(self) -> bool:
        """Tell whether the peer has closed (no more bytes will come)."""
        return self._eof

    def feed(self, data: bytes) -> None:
        """Add bytes read from the peer; empty bytes mean the peer closed."""
        if not data:
            self._eof = True
        else:
            self._buffer += data

    def next_response(self) -> AGIResponse | None:
        """Return the next whole answer, or None if more bytes are needed."""
        while (line := self._next_line()) is not None:
            if self._usage is None:
                if not is_multiline_start(line):
                    return parse_response(line)
                self._usage = [line[4:]]
            elif is_multiline_end(line):
                usage, self._usage = self._usage, None
                raise AGICommandError(520, "\n".join(usage))
            else:
                self._usage.append(line)
                if len(self._usage) > self._max_usage_lines:
                    raise AGIProtocolError("520 usage block does not end")
        return None

    def _next_line(self) -> str | None:
        end = self._buffer.find(b"\n")
        if end < 0:
            if len(self._buffer) > self._max_line:
                raise AGIProtocolError(f"AGI line longer than {self._max_line} bytes")
            if self._eof:
                raise CallerHungUp("Asterisk closed the AGI connection")
            return None
        if end + 1 > self._max_line:
            raise AGIProtocolError(f"AGI line longer than {self._max_line} bytes")
        raw = bytes(self._buffer[:end + 1])
        del self._buffer[:end + 1]
        return decode_line(raw)


def quote(arg: str) -> str:
    """Quote one command argument the way Asterisk's parse_args() reads it back.

    ``rabta/en/rating`` stays as it is; ``hello world`` -> ``"hello world"``;
    ``""`` (empty, e.g. no escape digits) -> ``""``; ``"`` and ``\\`` are backslash-escaped.
    Raise AGIProtocolError for CR, LF or NUL: they would end the command early and let
    the rest run as another command.
    """
    if any(c in arg for c in "\r\n\x00"):
        raise AGIProtocolError(f"line break or NUL in AGI argument: {arg[:80]!r}")
    if arg and not _NEEDS_QUOTES.search(arg):
        return arg
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def build_command(name: str, *args: str | int) -> str:
    """Build one command line, newline included.

    ``build_command("GET DATA", "rabta/en/rating", 5000, 1)`` ->
    ``'GET DATA rabta/en/rating 5000 1\\n'``.
    Raise AGIProtocolError if an argument holds a line break or the line is longer than
    Asterisk reads in one go (2047 bytes).
    """
    if not _COMMAND_NAME.fullmatch(name):
        raise AGIProtocolError(f"not an AGI command name: {name[:80]!r}")
    parts = [name, *(quote(a if isinstance(a, str) else str(int(a))) for a in args)]
    line = " ".join(parts) + "\n"
    if len(line.encode("utf-8")) > MAX_COMMAND_BYTES:
        raise AGIProtocolError(f"AGI command longer than {MAX_COMMAND_BYTES} bytes: {name}")
    return line


def int_result(resp: AGIResponse) -> int:
    """Return the result as an integer (``200 result=-1`` -> -1)."""
    if not _INT_RESULT.fullmatch(resp.result):
        raise AGIProtocolError(f"expected a number in result, got {resp.result[:80]!r}")
    return int(resp.result)


def digit_from_result(resp: AGIResponse) -> str | None:
    """Return the key pressed, from a STREAM FILE or WAIT FOR DIGIT result.

    The result is the key's ASCII code: ``200 result=49 endpos=12345`` -> ``"1"``,
    ``200 result=35`` -> ``"#"``; ``200 result=0`` (no key) -> None.
    ``200 result=-1`` means the command failed, which is nearly always a hangup: raise
    CallerHungUp.
    """
    code = int_result(resp)
    if code == -1:
        raise CallerHungUp(f"command failed (result=-1, endpos={resp.endpos})")
    if code == 0:
        return None
    digit = chr(code) if 0 < code < 128 else ""
    if digit not in DTMF_DIGITS:
        raise AGIProtocolError(f"result {code} is not a DTMF key")
    return digit

"""Table tests for the pure FastAGI parsers and quoting, with real wire lines."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.asterisk.agi.protocol import (
    MAX_COMMAND_BYTES,
    MAX_LINE_BYTES,
    MAX_USAGE_LINES,
    AGIResponse,
    ResponseReader,
    build_command,
    decode_line,
    digit_from_result,
    is_multiline_end,
    is_multiline_start,
    parse_header_line,
    parse_response,
    quote,
)
from ivr.errors import AGICommandError, AGIError, AGIProtocolError, CallerHungUp

# -- headers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("agi_channel: PJSIP/carrier-00000001", ("agi_channel", "PJSIP/carrier-00000001")),
        ("agi_network: yes", ("agi_network", "yes")),
        (
            "agi_request: agi://127.0.0.1:4573/survey",
            ("agi_request", "agi://127.0.0.1:4573/survey"),
        ),
        ("agi_arg_1: 42", ("agi_arg_1", "42")),
        ("agi_accountcode: ", ("agi_accountcode", "")),
        ("agi_accountcode:", ("agi_accountcode", "")),
        ("agi_calleridname: Ali: Khan ", ("agi_calleridname", "Ali: Khan ")),
        ("agi_calleridname: علی خان", ("agi_calleridname", "علی خان")),
        ("agi_enhanced: 0.0\r\n", ("agi_enhanced", "0.0")),
    ],
)
def test_parse_header_line(line: str, expected: tuple[str, str]) -> None:
    assert parse_header_line(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        "",
        "GET / HTTP/1.1",
        "Host: 127.0.0.1:4573",
        "SSH-2.0-OpenSSH_9.6",
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        "agi_channel PJSIP/carrier-00000001",
        "agi_: x",
        "AGI_CHANNEL: x",
        "x agi_channel: y",
        "agi_channel: a\x00b",
    ],
)
def test_parse_header_line_rejects(line: str) -> None:
    with pytest.raises(AGIProtocolError):
        parse_header_line(line)


def test_decode_line_replaces_bad_utf8_and_strips_ending() -> None:
    assert decode_line(b"agi_calleridname: \xff\xfeAli\r\n") == "agi_calleridname: \ufffd\ufffdAli"


# -- responses --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("200 result=1", AGIResponse(200, "1", None, None)),
        ("200 result=0", AGIResponse(200, "0", None, None)),
        ("200 result=-1", AGIResponse(200, "-1", None, None)),
        ("200 result=49 endpos=12345", AGIResponse(200, "49", None, 12345)),
        ("200 result=-1 endpos=0", AGIResponse(200, "-1", None, 0)),
        ("200 result=5 (timeout)", AGIResponse(200, "5", "timeout", None)),
        ("200 result= (timeout)", AGIResponse(200, "", "timeout", None)),
        ("200 result=", AGIResponse(200, "", None, None)),
        ("200 result=1 (dtmf) endpos=4000", AGIResponse(200, "1", "dtmf", 4000)),
        ("200 result=0 (timeout) endpos=480000", AGIResponse(200, "0", "timeout", 480000)),
        ("200 result=-1 (hangup) endpos=8000", AGIResponse(200, "-1", "hangup", 8000)),
        ("200 result=-1 (writefile)", AGIResponse(200, "-1", "writefile", None)),
        (
            "200 result=1 (Rabta value with spaces)",
            AGIResponse(200, "1", "Rabta value with spaces", None),
        ),
        ("200 result=1 (a (b) c)", AGIResponse(200, "1", "a (b) c", None)),
        ("200 result=1 ()", AGIResponse(200, "1", "", None)),
        ("200 result=1\r\n", AGIResponse(200, "1", None, None)),
    ],
)
def test_parse_response(line: str, expected: AGIResponse) -> None:
    assert parse_response(line) == expected


def test_510_is_command_error() -> None:
    with pytest.raises(AGICommandError) as info:
        parse_response("510 Invalid or unknown command")
    assert info.value.code == 510
    assert info.value.message == "Invalid or unknown command"


@pytest.mark.parametrize(
    "line",
    [
        "520 Invalid command syntax.  Proper usage not available.",
        "520 End of proper usage.",
    ],
)
def test_520_single_line_is_command_error(line: str) -> None:
    with pytest.raises(AGICommandError) as info:
        parse_response(line)
    assert info.value.code == 520


@pytest.mark.parametrize(
    "line",
    [
        "511 Command Not Permitted on a dead channel or intercept routine",
        "511 Command Not Permitted on a dead channel",
        "HANGUP",
        "HANGUP\n",
    ],
)
def test_hangup_lines(line: str) -> None:
    with pytest.raises(CallerHungUp):
        parse_response(line)


@pytest.mark.parametrize(
    "line",
    [
        "",
        "hello",
        "200",
        "200 result",
        "200 result=1 endpos=abc",
        "200 result=1 (unclosed",
        "404 Not Found",
        "HTTP/1.1 200 OK",
        "agi_network: yes",
        "hangup",
        "200 result=1 endpos=" + "9" * 5000,
    ],
)
def test_parse_response_rejects(line: str) -> None:
    with pytest.raises(AGIProtocolError):
        parse_response(line)


@pytest.mark.parametrize(
    ("line", "start", "end"),
    [
        ("520-Invalid command syntax.  Proper usage follows:", True, False),
        ("520 End of proper usage.", False, True),
        ("200 result=1", False, False),
        (" Usage: GET DATA <file to be streamed> [timeout] [maxdigits]", False, False),
    ],
)
def test_multiline_markers(line: str, start: bool, end: bool) -> None:
    assert is_multiline_start(line) is start
    assert is_multiline_end(line) is end


# -- digits -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "digit"),
    [
        ("200 result=49 endpos=12345", "1"),
        ("200 result=48", "0"),
        ("200 result=57", "9"),
        ("200 result=35", "#"),
        ("200 result=42", "*"),
        ("200 result=65", "A"),
        ("200 result=0 endpos=12345", None),
        ("200 result=0", None),
    ],
)
def test_digit_from_result(line: str, digit: str | None) -> None:
    assert digit_from_result(parse_response(line)) == digit


def test_digit_from_result_minus_one_is_hangup() -> None:
    with pytest.raises(CallerHungUp):
        digit_from_result(parse_response("200 result=-1 endpos=0"))


@pytest.mark.parametrize(
    "line", ["200 result=120", "200 result=1", "200 result=abc", "200 result="]
)
def test_digit_from_result_rejects(line: str) -> None:
    with pytest.raises(AGIProtocolError):
        digit_from_result(parse_response(line))


# -- quoting and commands ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("arg", "quoted"),
    [
        ("rabta/en/rating", "rabta/en/rating"),
        ("RABTA_RESULT", "RABTA_RESULT"),
        ("#", "#"),
        ("s=3", "s=3"),
        ("", '""'),
        ("hello world", '"hello world"'),
        ("tab\there", '"tab\there"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("آپ کا شکریہ", '"آپ کا شکریہ"'),
    ],
)
def test_quote(arg: str, quoted: str) -> None:
    assert quote(arg) == quoted


@pytest.mark.parametrize(
    ("name", "args", "line"),
    [
        ("GET DATA", ("rabta/en/rating", 5000, 1), "GET DATA rabta/en/rating 5000 1\n"),
        ("SET VARIABLE", ("RABTA_RESULT", "completed"), "SET VARIABLE RABTA_RESULT completed\n"),
        ("STREAM FILE", ("rabta/ur/welcome", ""), 'STREAM FILE rabta/ur/welcome ""\n'),
        ("ANSWER", (), "ANSWER\n"),
        ("VERBOSE", ("call 42 started", 1), 'VERBOSE "call 42 started" 1\n'),
        ("WAIT FOR DIGIT", (-1,), "WAIT FOR DIGIT -1\n"),
    ],
)
def test_build_command(name: str, args: tuple[str | int, ...], line: str) -> None:
    assert build_command(name, *args) == line


@pytest.mark.parametrize(
    "arg",
    [
        "completed\nEXEC System rm -rf /",
        "x\rHANGUP",
        "a\x00b",
        "\n",
    ],
)
def test_build_command_rejects_injection(arg: str) -> None:
    with pytest.raises(AGIProtocolError):
        build_command("SET VARIABLE", "RABTA_RESULT", arg)


@pytest.mark.parametrize("name", ["", "GET DATA\nHANGUP", "GET  DATA", "EXEC;", " ANSWER"])
def test_build_command_rejects_bad_names(name: str) -> None:
    with pytest.raises(AGIProtocolError):
        build_command(name)


def test_build_command_rejects_lines_asterisk_would_split() -> None:
    # res_agi.c reads commands into a 2048-byte buffer; a longer line becomes two commands.
    fits = "x" * (MAX_COMMAND_BYTES - len("VERBOSE  1\n"))
    assert len(build_command("VERBOSE", fits, 1).encode()) == MAX_COMMAND_BYTES
    with pytest.raises(AGIProtocolError):
        build_command("VERBOSE", fits + "x", 1)


def asterisk_parse_args(line: str) -> list[str]:
    """Split a command line exactly as res_agi.c's parse_args() does (ported from C)."""
    argv: list[list[str]] = []
    quoted = escaped = False
    whitespace = True
    for ch in line:
        if ch == '"' and not escaped:
            quoted = not quoted
            if quoted and whitespace:
                argv.append([])
                whitespace = False
            continue
        if ch in " \t" and not quoted and not escaped:
            whitespace = True
            continue
        if ch == "\\" and not escaped:
            escaped = True
            continue
        if whitespace:
            argv.append([])
            whitespace = False
        argv[-1].append(ch)
        escaped = False
    return ["".join(a) for a in argv]


_ARG = st.text(st.characters(exclude_characters="\r\n\x00", codec="utf-8"), max_size=40)


@given(st.lists(_ARG, max_size=6))
def test_quoted_args_reach_asterisk_unchanged(args: list[str]) -> None:
    line = build_command("SET VARIABLE", *args)
    assert line.endswith("\n") and line.count("\n") == 1
    assert asterisk_parse_args(line[:-1]) == ["SET", "VARIABLE", *args]


# -- never anything but AGIError on arbitrary input -------------------------------------


@given(st.text())
def test_parse_header_line_raises_only_agi_errors(line: str) -> None:
    try:
        name, _ = parse_header_line(line)
    except AGIError:
        return
    assert name.startswith("agi_")


@given(
    st.one_of(st.text(), st.from_regex(r"200 result=\S*( \(.*\))?( endpos=\d+)?", fullmatch=True))
)
def test_parse_response_raises_only_agi_errors(line: str) -> None:
    try:
        resp = parse_response(line)
    except AGIError:
        return
    assert resp.code == 200
    try:
        digit_from_result(resp)
    except AGIError:
        pass


@given(st.binary(max_size=200))
def test_decoded_bytes_raise_only_agi_errors(raw: bytes) -> None:
    line = decode_line(raw)
    for parse in (parse_header_line, parse_response):
        try:
            parse(line)
        except AGIError:
            pass


# -- the incremental response reader ------------------------------------------------------------

USAGE_BLOCK = (b"520-Invalid command syntax.  Proper usage follows:\n"
               b"Usage: GET DATA <file to be streamed> [timeout] [maxdigits]\n"
               b"520 End of proper usage.\n")
USAGE_TEXT = ("Invalid command syntax.  Proper usage follows:\n"
              "Usage: GET DATA <file to be streamed> [timeout] [maxdigits]")


def read_all(chunks: list[bytes], eof: bool = False) -> list[object]:
    """Feed the chunks, then take answers out until more bytes are needed; errors as values."""
    reader = ResponseReader()
    for chunk in chunks:
        reader.feed(chunk)
    if eof:
        reader.feed(b"")
    out: list[object] = []
    while True:
        try:
            resp = reader.next_response()
        except (AGIError, CallerHungUp) as exc:
            out.append((type(exc).__name__, getattr(exc, "code", None)))
            if isinstance(exc, CallerHungUp | AGIProtocolError):
                return out
            continue
        if resp is None:
            return out
        out.append(resp.result)


@pytest.mark.parametrize(("chunks", "eof", "expected"), [
    ([b"200 result=1\n"], False, ["1"]),
    ([b"200 res", b"ult=4", b"9 endpos=1\n"], False, ["49"]),
    ([b"200 result=1"], False, []),  # half a line: wait for more
    ([b"200 result=1\r\n200 result=0\r\n"], False, ["1", "0"]),  # two answers in one read
    ([b"200 result=-1 endpos=3200\nHANGUP\n"], False, ["-1", ("CallerHungUp", None)]),
    ([b"511 Command Not Permitted on a dead channel or intercept routine\n"], False,
     [("CallerHungUp", None)]),
    ([b"510 Invalid or unknown command\n200 result=1\n"], False,
     [("AGICommandError", 510), "1"]),
    ([USAGE_BLOCK + b"200 result=1\n"], False, [("AGICommandError", 520), "1"]),
    ([USAGE_BLOCK[:30], USAGE_BLOCK[30:90]], False, []),  # inside the block: wait for its end
    ([b"520 Invalid command syntax.  Proper usage not available.\n"], False,
     [("AGICommandError", 520)]),
    ([], True, [("CallerHungUp", None)]),  # closed before any answer
    ([b"200 res"], True, [("CallerHungUp", None)]),  # closed mid-line
    ([USAGE_BLOCK[:60]], True, [("CallerHungUp", None)]),  # closed mid-block
    ([b"200 result=1\n"], True, ["1", ("CallerHungUp", None)]),  # the answer first, then EOF
    ([b"garbage\n"], False, [("AGIProtocolError", None)]),
    ([b"x" * (MAX_LINE_BYTES + 1)], False, [("AGIProtocolError", None)]),  # no newline yet
    ([b"200 result=1 (" + b"x" * MAX_LINE_BYTES + b")\n"], False, [("AGIProtocolError", None)]),
    ([b"520-usage\n" + b"more usage\n" * (MAX_USAGE_LINES + 1)], False,
     [("AGIProtocolError", None)]),
])
def test_response_reader(chunks: list[bytes], eof: bool, expected: list[object]) -> None:
    assert read_all(chunks, eof) == expected


def test_response_reader_gives_the_whole_usage_text() -> None:
    reader = ResponseReader()
    reader.feed(USAGE_BLOCK)
    with pytest.raises(AGICommandError) as info:
        reader.next_response()
    assert info.value.code == 520 and USAGE_TEXT in str(info.value)
    assert reader.next_response() is None  # the block is consumed whole


def test_a_line_of_exactly_the_limit_is_read() -> None:
    line = b"200 result=1 (" + b"x" * (MAX_LINE_BYTES - 16) + b")\n"
    assert len(line) == MAX_LINE_BYTES
    assert read_all([line]) == ["1"]


@given(st.lists(st.integers(min_value=0, max_value=len(USAGE_BLOCK) + 40), max_size=8))
@settings(max_examples=200, deadline=None)
def test_response_reader_is_split_independent(cuts: list[int]) -> None:
    wire = b"200 result=49 endpos=12\n" + USAGE_BLOCK + b"200 result=1 (a (b) c)\nHANGUP\n"
    points = sorted({min(c, len(wire)) for c in cuts} | {0, len(wire)})
    chunks = [wire[a:b] for a, b in itertools.pairwise(points)]
    assert read_all(chunks) == ["49", ("AGICommandError", 520), "1", ("CallerHungUp", None)]

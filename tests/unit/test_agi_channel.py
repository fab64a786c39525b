"""AGIChannel against canned Asterisk answers: exact bytes out, values and errors in."""

from __future__ import annotations

import asyncio

import pytest

from ivr.asterisk.agi import AGIChannel, Channel
from ivr.asterisk.agi.protocol import MAX_LINE_BYTES
from ivr.errors import AGICommandError, AGIProtocolError, CallerHungUp

HEADERS = {
    "agi_network": "yes",
    "agi_network_script": "survey",
    "agi_request": "agi://127.0.0.1:4573/survey",
    "agi_channel": "PJSIP/carrier-00000001",
    "agi_uniqueid": "1732838400.1",
    "agi_arg_1": "42",
}


class FakeWriter:
    """Records every byte the channel writes."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.written = asyncio.Event()

    def write(self, data: bytes) -> None:
        self.data += data
        self.written.set()

    async def drain(self) -> None:
        return None

    def close(self) -> None:
        return None

    async def wait_closed(self) -> None:
        return None


def make_channel(
    *answers: str,
    eof: bool = False,
    headers: dict[str, str] | None = None,
    command_timeout: float = 5.0,
) -> tuple[AGIChannel, FakeWriter]:
    """Build a channel whose reader already holds the answers (call from async tests)."""
    reader = asyncio.StreamReader(limit=MAX_LINE_BYTES)
    if answers:
        reader.feed_data("".join(a + "\n" for a in answers).encode())
    if eof:
        reader.feed_eof()
    writer = FakeWriter()
    channel = AGIChannel(
        reader,
        writer,  # type: ignore[arg-type]
        HEADERS if headers is None else headers,
        command_timeout=command_timeout,
    )
    return channel, writer


async def test_agichannel_is_a_channel() -> None:
    channel: Channel = make_channel()[0]
    assert channel.script == "survey"


# -- headers ----------------------------------------------------------------------------


async def test_header_properties() -> None:
    headers = {**HEADERS, "agi_arg_3": "c", "agi_arg_2": "b"}
    channel, _ = make_channel(headers=headers)
    assert channel.script == "survey"
    assert channel.args == ["42", "b", "c"]
    assert channel.channel_name == "PJSIP/carrier-00000001"
    assert channel.uniqueid == "1732838400.1"
    assert channel.headers["agi_network"] == "yes"
    with pytest.raises(TypeError):
        channel.headers["agi_arg_1"] = "43"  # type: ignore[index]


@pytest.mark.parametrize(
    ("headers", "script"),
    [
        ({"agi_request": "agi://127.0.0.1:4573/survey"}, "survey"),
        ({"agi_request": "agi://127.0.0.1/survey?lang=ur"}, "survey"),
        ({"agi_network_script": "survey?lang=ur"}, "survey"),
        ({"agi_request": "agi://127.0.0.1:4573"}, ""),
        ({"agi_request": "/var/lib/asterisk/agi-bin/x.py"}, ""),
        ({}, ""),
    ],
)
async def test_script_fallbacks(headers: dict[str, str], script: str) -> None:
    channel, _ = make_channel(headers=headers)
    assert channel.script == script
    assert channel.args == []


# -- exact bytes and values -------------------------------------------------------------


async def test_get_digits_returns_digit() -> None:
    channel, writer = make_channel("200 result=4")
    assert await channel.get_digits("rabta/en/rating", 1, 5.0) == "4"
    assert bytes(writer.data) == b"GET DATA rabta/en/rating 5000 1\n"


@pytest.mark.parametrize(
    ("answer", "digits"),
    [("200 result= (timeout)", ""), ("200 result=12 (timeout)", "12"), ("200 result=", "")],
)
async def test_get_digits_timeout(answer: str, digits: str) -> None:
    channel, _ = make_channel(answer)
    assert await channel.get_digits("rabta/en/rating", 3, 2.5) == digits


async def test_get_digits_rejects_bad_arguments() -> None:
    channel, writer = make_channel()
    with pytest.raises(ValueError):
        await channel.get_digits("rabta/en/rating", 0, 5)
    assert writer.data == b""


@pytest.mark.parametrize(
    ("call", "answer", "wire", "value"),
    [
        (lambda c: c.answer(), "200 result=0", b"ANSWER\n", None),
        (
            lambda c: c.stream_file("rabta/ur/welcome"),
            "200 result=0 endpos=64000",
            b'STREAM FILE rabta/ur/welcome ""\n',
            None,
        ),
        (
            lambda c: c.stream_file("rabta/ur/q1", "12345"),
            "200 result=51 endpos=12000",
            b"STREAM FILE rabta/ur/q1 12345\n",
            "3",
        ),
        (lambda c: c.wait_for_digit(5), "200 result=50", b"WAIT FOR DIGIT 5000\n", "2"),
        (lambda c: c.wait_for_digit(5), "200 result=0", b"WAIT FOR DIGIT 5000\n", None),
        (lambda c: c.wait_for_digit(-1), "200 result=35", b"WAIT FOR DIGIT -1\n", "#"),
        (
            lambda c: c.record("/var/spool/rabta/42-q3"),
            "200 result=35 (dtmf) endpos=24000",
            b"RECORD FILE /var/spool/rabta/42-q3 wav # 60000 0 BEEP s=3\n",
            "#",
        ),
        (
            lambda c: c.record("/tmp/r 1", "ulaw", "", 10.5, beep=False, silence_s=None),
            "200 result=0 (timeout) endpos=84000",
            b'RECORD FILE "/tmp/r 1" ulaw "" 10500 0\n',
            None,
        ),
        (
            lambda c: c.record("/tmp/r", beep=False, silence_s=5),
            "200 result=0 (timeout) endpos=8000",
            b"RECORD FILE /tmp/r wav # 60000 0 s=5\n",
            None,
        ),
        (
            lambda c: c.set_variable("RABTA_RESULT", "completed"),
            "200 result=1",
            b"SET VARIABLE RABTA_RESULT completed\n",
            None,
        ),
        (
            lambda c: c.get_variable("RABTA_LANGUAGE"),
            "200 result=1 (ur)",
            b"GET VARIABLE RABTA_LANGUAGE\n",
            "ur",
        ),
        (
            lambda c: c.get_variable("RABTA_NOTE"),
            "200 result=1 (Rabta value with spaces)",
            b"GET VARIABLE RABTA_NOTE\n",
            "Rabta value with spaces",
        ),
        (
            lambda c: c.get_variable("RABTA_NODE"),
            "200 result=0",
            b"GET VARIABLE RABTA_NODE\n",
            None,
        ),
        (
            lambda c: c.verbose("attempt 42 started", 2),
            "200 result=1",
            b'VERBOSE "attempt 42 started" 2\n',
            None,
        ),
        (lambda c: c.hangup(), "200 result=1", b"HANGUP\n", None),
    ],
)
async def test_command_bytes_and_value(call, answer, wire, value) -> None:  # type: ignore[no-untyped-def]
    channel, writer = make_channel(answer)
    assert await call(channel) == value
    assert bytes(writer.data) == wire


async def test_commands_in_sequence() -> None:
    channel, writer = make_channel("200 result=0", "200 result=52 endpos=100", "200 result=1")
    await channel.answer()
    assert await channel.stream_file("rabta/en/q1", "12345") == "4"
    await channel.set_variable("RABTA_RESULT", "completed")
    assert writer.data.decode().splitlines() == [
        "ANSWER",
        "STREAM FILE rabta/en/q1 12345",
        "SET VARIABLE RABTA_RESULT completed",
    ]


async def test_injection_is_refused_before_writing() -> None:
    channel, writer = make_channel("200 result=1")
    with pytest.raises(AGIProtocolError):
        await channel.set_variable("RABTA_RESULT", "x\nEXEC System reboot")
    assert writer.data == b""
    await channel.set_variable("RABTA_RESULT", "completed")  # the channel is still usable


# -- hangups ----------------------------------------------------------------------------


async def test_hangup_line_before_response() -> None:
    channel, writer = make_channel("HANGUP", "200 result=-1")
    with pytest.raises(CallerHungUp):
        await channel.get_digits("rabta/en/rating", 1, 5)
    assert channel.hung_up
    written = bytes(writer.data)
    with pytest.raises(CallerHungUp):
        await channel.set_variable("RABTA_RESULT", "partial")
    assert bytes(writer.data) == written


async def test_hangup_line_after_earlier_response() -> None:
    # Asterisk answers STREAM FILE, then notices the hangup and sends HANGUP unprompted.
    channel, _ = make_channel("200 result=0 endpos=64000", "HANGUP")
    assert await channel.stream_file("rabta/ur/welcome") is None
    with pytest.raises(CallerHungUp):
        await channel.wait_for_digit(5)


async def test_511_then_nothing_is_written() -> None:
    channel, writer = make_channel(
        "511 Command Not Permitted on a dead channel or intercept routine"
    )
    with pytest.raises(CallerHungUp):
        await channel.stream_file("rabta/ur/q2")
    written = bytes(writer.data)
    assert written == b'STREAM FILE rabta/ur/q2 ""\n'
    for call in (
        channel.answer(),
        channel.get_digits("rabta/ur/q2", 1, 5),
        channel.get_variable("RABTA_LANGUAGE"),
        channel.verbose("x"),
    ):
        with pytest.raises(CallerHungUp):
            await call
    assert bytes(writer.data) == written
    await channel.hangup()  # already over: a no-op, not an error
    assert bytes(writer.data) == written


async def test_eof_is_hangup() -> None:
    channel, _ = make_channel(eof=True)
    with pytest.raises(CallerHungUp):
        await channel.answer()
    assert channel.hung_up


async def test_eof_mid_line_is_hangup() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(b"200 res")
    reader.feed_eof()
    channel = AGIChannel(reader, FakeWriter(), HEADERS)  # type: ignore[arg-type]
    with pytest.raises(CallerHungUp):
        await channel.answer()


async def test_stream_file_minus_one_then_hangup() -> None:
    # A real hangup while playing: "-1", then HANGUP before Asterisk reads our next line.
    channel, writer = make_channel("200 result=-1 endpos=3200", "HANGUP")
    with pytest.raises(CallerHungUp):
        await channel.stream_file("rabta/ur/q1", "12345")
    assert channel.hung_up
    assert writer.data.decode().splitlines()[-1] == "CHANNEL STATUS"


async def test_stream_file_minus_one_on_live_channel_is_missing_file() -> None:
    # Same "-1" for a missing sound file, but the channel is still up (state 6).
    channel, _ = make_channel("200 result=-1 endpos=0", "200 result=6")
    with pytest.raises(AGICommandError) as info:
        await channel.stream_file("rabta/ur/nosuch")
    assert "rabta/ur/nosuch" in str(info.value)
    assert not channel.hung_up


async def test_get_data_minus_one_then_511() -> None:
    # With AGISIGHUP=no there is no HANGUP line, but the probe gets 511.
    channel, _ = make_channel("200 result=-1", "511 Command Not Permitted on a dead channel")
    with pytest.raises(CallerHungUp):
        await channel.get_digits("rabta/ur/q1", 1, 5)
    assert channel.hung_up


@pytest.mark.parametrize(
    "answer", ["200 result=-1 (hangup) endpos=16000", "200 result=-1 (waitfor) endpos=0"]
)
async def test_record_hangup(answer: str) -> None:
    channel, _ = make_channel(answer)
    with pytest.raises(CallerHungUp):
        await channel.record("/tmp/r")
    assert channel.hung_up


async def test_record_cannot_write() -> None:
    channel, _ = make_channel("200 result=-1 (writefile)")
    with pytest.raises(AGICommandError):
        await channel.record("/nonexistent/r")
    assert not channel.hung_up


async def test_answer_failure_is_hangup() -> None:
    channel, _ = make_channel("200 result=-1")
    with pytest.raises(CallerHungUp):
        await channel.answer()
    assert channel.hung_up


# -- command errors and broken streams --------------------------------------------------


async def test_520_multiline_then_channel_still_usable() -> None:
    channel, _ = make_channel(
        "520-Invalid command syntax.  Proper usage follows:",
        " Usage: GET DATA <file to be streamed> [timeout] [maxdigits]",
        "        Stream the given file, and receive DTMF data.",
        "520 End of proper usage.",
        "200 result=1",
    )
    with pytest.raises(AGICommandError) as info:
        await channel.get_digits("rabta/en/rating", 1, 5)
    assert info.value.code == 520
    assert "Usage: GET DATA" in info.value.message
    await channel.set_variable("RABTA_RESULT", "completed")  # next answer lines up


async def test_510() -> None:
    channel, _ = make_channel("510 Invalid or unknown command", "200 result=1")
    with pytest.raises(AGICommandError) as info:
        await channel.verbose("x")
    assert info.value.code == 510
    await channel.verbose("y")


async def test_garbage_answer_breaks_channel() -> None:
    channel, writer = make_channel("garbage", "200 result=1")
    with pytest.raises(AGIProtocolError):
        await channel.answer()
    written = bytes(writer.data)
    with pytest.raises(AGIProtocolError):
        await channel.answer()
    assert bytes(writer.data) == written


async def test_line_too_long() -> None:
    channel, _ = make_channel("200 result=1 (" + "x" * MAX_LINE_BYTES + ")")
    with pytest.raises(AGIProtocolError):
        await channel.get_variable("RABTA_NOTE")


async def test_command_timeout() -> None:
    channel, _ = make_channel(command_timeout=0.05)
    with pytest.raises(AGIProtocolError, match="no answer"):
        await channel.answer()
    with pytest.raises(AGIProtocolError):
        await channel.answer()


async def test_cancelled_command_breaks_channel() -> None:
    # The late answer to a cancelled command must not be taken for the next one's.
    channel, writer = make_channel()
    task = asyncio.create_task(channel.get_digits("rabta/en/rating", 1, 5))
    await asyncio.wait_for(writer.written.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(AGIProtocolError, match="interrupted"):
        await channel.answer()


# -- several sound files in one command (EXEC Background) ---------------------------------


async def test_stream_files_returns_the_key_that_cut_them_short() -> None:
    channel, writer = make_channel("200 result=49")
    assert await channel.stream_files(["rabta/visit-intro", "rabta/visit-on"]) == "1"
    # One command; a key means the list played up to it: no status is asked.
    assert bytes(writer.data) == b"EXEC Background rabta/visit-intro&rabta/visit-on\n"


async def test_stream_files_played_to_the_end() -> None:
    channel, writer = make_channel("200 result=0", "200 result=1 (SUCCESS)")
    assert await channel.stream_files(["a", "b"]) is None
    assert bytes(writer.data) == b"EXEC Background a&b\nGET VARIABLE BACKGROUNDSTATUS\n"


@pytest.mark.parametrize("status", ["200 result=1 (FAILED)", "200 result=0"])
async def test_stream_files_stopped_by_a_file_it_cannot_play(status: str) -> None:
    # Background stops at a missing file and says only FAILED: every name is in the error.
    channel, _ = make_channel("200 result=0", status)
    with pytest.raises(AGICommandError, match="rabta/a rabta/b"):
        await channel.stream_files(["rabta/a", "rabta/b"])
    assert not channel.hung_up


async def test_stream_files_hangup_and_a_pbx_without_background() -> None:
    channel, _ = make_channel("200 result=-1")
    with pytest.raises(CallerHungUp):
        await channel.stream_files(["a", "b"])
    channel, _ = make_channel("200 result=-2")
    with pytest.raises(AGICommandError, match="Background"):
        await channel.stream_files(["a", "b"])


@pytest.mark.parametrize("names", [[], ["a,m"], ["a&b"], ["a b"], ['a"']])
async def test_stream_files_refuses_what_would_split_its_arguments(names: list[str]) -> None:
    channel, writer = make_channel()
    with pytest.raises(AGICommandError, match="one command"):
        await channel.stream_files(names)
    assert bytes(writer.data) == b""  # nothing was sent

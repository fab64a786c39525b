"""FastAGI server over real TCP sockets, against a scripted fake Asterisk.

Good sessions must complete while broken, slow and hostile clients come and go, and the
event loop must keep running throughout (panoramisk's server froze it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager

import pytest

from ivr.asterisk.agi import AGIChannel, FastAGIServer
from ivr.errors import AGICommandError, CallerHungUp

# A header block as Asterisk 22 sends it for AGI(agi://127.0.0.1:4573/survey,42).
HEADER_LINES = [
    "agi_network: yes",
    "agi_network_script: survey",
    "agi_request: agi://127.0.0.1:4573/survey",
    "agi_channel: PJSIP/carrier-00000001",
    "agi_language: en",
    "agi_type: PJSIP",
    "agi_uniqueid: 1732838400.1",
    "agi_version: 22.10.1",
    "agi_callerid: 923001234567",
    "agi_calleridname: unknown",
    "agi_callingpres: 0",
    "agi_callingani2: 0",
    "agi_callington: 0",
    "agi_callingtns: 0",
    "agi_dnid: unknown",
    "agi_rdnis: unknown",
    "agi_context: rabta-survey",
    "agi_extension: s",
    "agi_priority: 2",
    "agi_enhanced: 0.0",
    "agi_accountcode: ",
    "agi_threadid: 140245871703744",
]

# What the fake Asterisk answers to each command a survey flow sends.
ANSWERS = {
    "ANSWER": "200 result=0",
    "STREAM FILE": "200 result=0 endpos=64000",
    "GET DATA": "200 result=4",
    "SET VARIABLE": "200 result=1",
}

WAIT = 5.0  # upper bound for anything that should happen "now"


def header_block(attempt: str = "42", script: str = "survey") -> bytes:
    lines = [line.replace("survey", script) for line in HEADER_LINES]
    return ("\n".join([*lines, f"agi_arg_1: {attempt}"]) + "\n\n").encode()


def answer_for(command: str, answers: Mapping[str, str]) -> str:
    for prefix, answer in answers.items():
        if command.startswith(prefix):
            return answer
    return "510 Invalid or unknown command"


async def fake_asterisk(
    port: int, attempt: str = "42", answers: Mapping[str, str] = ANSWERS, script: str = "survey"
) -> list[str]:
    """Connect like Asterisk, answer every command, return the commands once closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(header_block(attempt, script))
    commands: list[str] = []
    try:
        while line := await reader.readline():
            command = line.decode().rstrip("\n")
            commands.append(command)
            for answer in answer_for(command, answers).split("|"):
                writer.write(f"{answer}\n".encode())
            await writer.drain()
    except ConnectionResetError:
        pass  # the server closed while we were answering: the session is over
    finally:
        writer.close()
    return commands


async def read_until_closed(reader: asyncio.StreamReader) -> bytes:
    """Read until the server closes the connection (a reset counts as closed)."""
    try:
        return await reader.read()
    except ConnectionResetError:
        return b""


class Heartbeat:
    """A task that ticks every 10 ms; if the loop freezes, ticks stop."""

    def __init__(self) -> None:
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(0.01)
            self.ticks += 1

    def __enter__(self) -> Heartbeat:
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def survey_flow(channel: AGIChannel, seen: list[tuple[str, str]]) -> None:
    await channel.answer()
    await channel.stream_file("rabta/en/welcome")
    rating = await channel.get_digits("rabta/en/rating", 1, 5.0)
    seen.append((channel.args[0], rating))
    await channel.set_variable("RABTA_RESULT", "completed")  # a test flow's own variable


@asynccontextmanager
async def running(
    routes: Mapping[str, Callable[[AGIChannel], object]], **kwargs: object
) -> AsyncIterator[FastAGIServer]:
    server = FastAGIServer(routes, port=0, **kwargs)  # type: ignore[arg-type]
    await server.start()
    try:
        yield server
    finally:
        await server.close()


async def test_good_session_survives_bad_neighbours() -> None:
    seen: list[tuple[str, str]] = []

    async def flow(channel: AGIChannel) -> None:
        await survey_flow(channel, seen)

    async with running({"survey": flow}, header_timeout=0.5, max_header_bytes=4096) as server:
        port = server.port
        with Heartbeat() as beat:
            # (1) connect and close at once: the case that froze panoramisk.
            _, quitter = await asyncio.open_connection("127.0.0.1", port)
            quitter.close()

            # (2) garbage.
            g_reader, g_writer = await asyncio.open_connection("127.0.0.1", port)
            g_writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")

            # (3) stalls mid-header.
            s_reader, s_writer = await asyncio.open_connection("127.0.0.1", port)
            s_writer.write(b"agi_network: yes\nagi_network_script: survey\n")
            stalled_at = time.monotonic()

            # (4) more than max_header_bytes, in valid-looking lines.
            b_reader, b_writer = await asyncio.open_connection("127.0.0.1", port)
            b_writer.write(b"".join(b"agi_x_%d: %s\n" % (i, b"a" * 500) for i in range(20)))

            # (5) hangs up mid-session: "-1" then HANGUP, as Asterisk does.
            hangup_answers = {**ANSWERS, "GET DATA": "200 result=-1|HANGUP"}
            hanger = asyncio.create_task(fake_asterisk(port, "43", hangup_answers))

            # ... while a normal session runs.
            commands = await asyncio.wait_for(fake_asterisk(port, "42"), WAIT)

            assert await asyncio.wait_for(read_until_closed(g_reader), WAIT) == b""
            assert await asyncio.wait_for(read_until_closed(b_reader), WAIT) == b""
            assert await asyncio.wait_for(read_until_closed(s_reader), WAIT) == b""
            stalled_for = time.monotonic() - stalled_at
            hanger_commands = await asyncio.wait_for(hanger, WAIT)
            for w in (g_writer, s_writer, b_writer):
                w.close()
            await asyncio.wait_for(server.wait_idle(), WAIT)
            ticks = beat.ticks

    assert commands == [
        "ANSWER",
        'STREAM FILE rabta/en/welcome ""',
        "GET DATA rabta/en/rating 5000 1",
        "SET VARIABLE RABTA_RESULT completed",
    ]
    assert seen == [("42", "4")]
    assert hanger_commands[-2:] == ["GET DATA rabta/en/rating 5000 1", "CHANNEL STATUS"]
    assert 0.4 <= stalled_for < 3.0
    # The stalled client alone kept us waiting 0.5 s: a live loop ticks ~50 times.
    assert ticks >= 20
    stats = server.stats
    assert stats.completed == 1
    assert stats.hung_up == 1
    assert stats.errors == 0
    assert stats.dropped == 1
    assert stats.bad_headers == 2
    assert stats.timeouts == 1
    assert stats.accepted == 6
    assert stats.rejected_peer == 0


async def test_fifty_concurrent_sessions() -> None:
    seen: list[tuple[str, str]] = []

    async def flow(channel: AGIChannel) -> None:
        await survey_flow(channel, seen)

    async with running({"survey": flow}) as server:
        results = await asyncio.wait_for(
            asyncio.gather(*(fake_asterisk(server.port, str(i)) for i in range(50))), 15
        )
        await asyncio.wait_for(server.wait_idle(), WAIT)
    assert all(len(commands) == 4 for commands in results)
    assert sorted(seen) == sorted((str(i), "4") for i in range(50))
    assert server.stats.completed == 50
    assert server.stats.errors == 0


async def test_allow_list_rejects_peer() -> None:
    called = asyncio.Event()

    async def flow(channel: AGIChannel) -> None:
        called.set()

    async with running({"survey": flow}, allow=("10.0.0.0/8",)) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(header_block())
        assert await asyncio.wait_for(read_until_closed(reader), WAIT) == b""
        writer.close()
        await asyncio.wait_for(server.wait_idle(), WAIT)
    assert not called.is_set()
    assert server.stats.rejected_peer == 1
    assert server.stats.accepted == 0


async def test_close_with_stalled_session_is_prompt() -> None:
    entered = asyncio.Event()

    async def flow(channel: AGIChannel) -> None:
        entered.set()
        await channel.get_digits("rabta/en/rating", 1, 5.0)  # never answered

    server = FastAGIServer({"survey": flow}, port=0)
    await server.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(header_block())
    await asyncio.wait_for(entered.wait(), WAIT)
    assert server.active == 1
    started = time.monotonic()
    await asyncio.wait_for(server.close(), WAIT)
    assert time.monotonic() - started < 1.0
    assert server.active == 0
    assert (
        await asyncio.wait_for(read_until_closed(reader), WAIT)
        == b"GET DATA rabta/en/rating 5000 1\n"
    )
    writer.close()


async def test_unknown_script_is_refused() -> None:
    async with running({"survey": lambda channel: asyncio.sleep(0)}) as server:
        commands = await asyncio.wait_for(fake_asterisk(server.port, script="nosuch"), WAIT)
        await asyncio.wait_for(server.wait_idle(), WAIT)
    assert commands == []
    assert server.stats.bad_headers == 1


async def test_oversized_single_line_is_refused() -> None:
    async with running({"survey": lambda channel: asyncio.sleep(0)}) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"agi_network: " + b"y" * 20000)
        assert await asyncio.wait_for(read_until_closed(reader), WAIT) == b""
        writer.close()
        await asyncio.wait_for(server.wait_idle(), WAIT)
    assert server.stats.bad_headers == 1


async def test_outcomes_are_logged_at_the_right_level(caplog: pytest.LogCaptureFixture) -> None:
    async def hangs_up(channel: AGIChannel) -> None:
        raise CallerHungUp("citizen hung up")

    async def rejected(channel: AGIChannel) -> None:
        raise AGICommandError(510, "Invalid or unknown command")

    async def buggy(channel: AGIChannel) -> None:
        raise ZeroDivisionError("our bug")

    routes = {"hangs": hangs_up, "rejected": rejected, "buggy": buggy}
    caplog.set_level(logging.DEBUG, logger="ivr.asterisk.agi.server")
    async with running(routes) as server:
        for attempt, script in (("7", "hangs"), ("8", "rejected"), ("9", "buggy")):
            await asyncio.wait_for(fake_asterisk(server.port, attempt, script=script), WAIT)
        await asyncio.wait_for(server.wait_idle(), WAIT)

    def record_for(attempt: str) -> logging.LogRecord:
        matches = [
            r
            for r in caplog.records
            if f"attempt {attempt}:" in r.getMessage() and r.levelno >= logging.INFO
        ]
        assert len(matches) == 1, [r.getMessage() for r in caplog.records]
        return matches[0]

    hung = record_for("7")
    assert hung.levelno == logging.INFO and hung.exc_info is None
    rejected_rec = record_for("8")
    assert rejected_rec.levelno == logging.WARNING and rejected_rec.exc_info is None
    bug = record_for("9")
    assert bug.levelno == logging.ERROR and bug.exc_info is not None
    assert (server.stats.hung_up, server.stats.errors, server.stats.completed) == (1, 2, 0)


async def test_cancelled_flow_is_not_swallowed() -> None:
    # A flow that is cancelled from inside must end its session, not be counted as done.
    async def flow(channel: AGIChannel) -> None:
        raise asyncio.CancelledError

    async with running({"survey": flow}) as server:
        await asyncio.wait_for(fake_asterisk(server.port), WAIT)
        await asyncio.wait_for(server.wait_idle(), WAIT)
    assert server.stats.completed == 0
    assert server.stats.errors == 0

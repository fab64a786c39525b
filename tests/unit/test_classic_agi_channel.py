"""The classic AGI transport without Asterisk: ClassicChannel over scripted pipes, the
dialplan switch, and the settings file the script reads inside the rootfs."""

from __future__ import annotations

import io
import signal
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.asterisk.agi.channel import AGIChannel
from ivr.asterisk.agi.protocol import build_command
from ivr.asterisk.agi.script import ClassicChannel, open_channel, serve_one
from ivr.config import Settings, load_settings
from ivr.errors import AGICommandError, AGIProtocolError, CallerHungUp, ConfigError
from ivr.lab import rootfs
from ivr.lab.rootfs import render_template

DIALPLANS = Path(__file__).resolve().parents[2] / "dialplans"
HEADERS = ("agi_request: rabta-agi\nagi_channel: PJSIP/carrier-00000001\nagi_language: en\n"
           "agi_uniqueid: 1732838400.1\nagi_arg_1: 42\n\n")


@pytest.fixture(autouse=True)
def _keep_sighup() -> Iterator[None]:
    """pyst2 installs a SIGHUP handler; give the test process its own back."""
    old = signal.getsignal(signal.SIGHUP)
    yield
    signal.signal(signal.SIGHUP, old)


def channel(*answers: str) -> tuple[ClassicChannel, io.StringIO]:
    """Return a channel whose Asterisk sends the headers, then these answer lines."""
    stdin = io.StringIO(HEADERS + "".join(a + "\n" for a in answers))
    stdout = io.StringIO()
    return open_channel(stdin, stdout, io.StringIO()), stdout


def sent(stdout: io.StringIO) -> list[str]:
    return stdout.getvalue().splitlines()


def test_headers_script_and_args_come_from_pyst2() -> None:
    ch, _ = channel()
    assert isinstance(ch, AGIChannel)
    assert ch.script == "rabta-agi"
    assert ch.args == ["42"]
    assert ch.channel_name == "PJSIP/carrier-00000001"
    assert ch.uniqueid == "1732838400.1"


async def test_commands_and_answers_are_the_fastagi_ones() -> None:
    ch, out = channel("200 result=1", "200 result=12 (timeout)", "200 result= (timeout)",
                      "200 result=49 endpos=1234", "200 result=1 (ur)")
    await ch.answer()
    assert await ch.get_digits("rabta/rating", 2, 4.0) == "12"
    assert await ch.get_digits("rabta/rating", 1, 4.0) == ""
    assert await ch.stream_file("rabta/greeting", "19") == "1"
    assert await ch.get_variable("CHANNEL(language)") == "ur"
    # Byte for byte what AGIChannel sends over FastAGI.
    assert sent(out) == ["ANSWER", "GET DATA rabta/rating 4000 2", "GET DATA rabta/rating 4000 1",
                         "STREAM FILE rabta/greeting 19", "GET VARIABLE CHANNEL(language)"]
    assert sent(out)[1] + "\n" == build_command("GET DATA", "rabta/rating", 4000, 2)


async def test_hangup_during_a_prompt_is_caller_hung_up_and_nothing_more_is_sent() -> None:
    ch, out = channel("200 result=-1", "511 Command Not Permitted on a dead channel or intercept "
                      "routine")
    with pytest.raises(CallerHungUp):
        await ch.stream_file("rabta/greeting")
    with pytest.raises(CallerHungUp):
        await ch.get_digits("rabta/rating", 1, 4.0)
    assert sent(out) == ['STREAM FILE rabta/greeting ""', "CHANNEL STATUS"]
    assert ch.hung_up


async def test_missing_sound_file_is_a_command_error_not_a_hangup() -> None:
    ch, _ = channel("200 result=-1", "200 result=6")
    with pytest.raises(AGICommandError, match="missing"):
        await ch.stream_file("rabta/nope")
    assert not ch.hung_up


async def test_sighup_from_asterisk_ends_the_call_before_writing() -> None:
    ch, out = channel("200 result=1")
    ch._agi._got_sighup = True  # what pyst2's SIGHUP handler sets
    with pytest.raises(CallerHungUp, match="SIGHUP"):
        await ch.answer()
    assert sent(out) == []


async def test_closed_pipe_is_caller_hung_up() -> None:
    ch, _ = channel()  # Asterisk closes stdin after the headers
    with pytest.raises(CallerHungUp, match="closed"):
        await ch.answer()

    class Broken(io.StringIO):
        def write(self, s: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    ch2 = open_channel(io.StringIO(HEADERS), Broken(), io.StringIO())
    with pytest.raises(CallerHungUp, match="broken pipe"):
        await ch2.answer()


async def test_usage_block_and_garbage() -> None:
    ch, _ = channel("520-Invalid command syntax.  Proper usage follows:", "Usage: GET DATA",
                    "520 End of proper usage.", "what is this")
    with pytest.raises(AGICommandError) as err:
        await ch.get_digits("x", 1, 1.0)
    assert err.value.code == 520
    with pytest.raises(AGIProtocolError):
        await ch.answer()
    with pytest.raises(AGIProtocolError, match="unusable"):
        await ch.answer()


async def test_serve_one_counts_the_ending() -> None:
    ch, _ = channel("200 result=1")

    async def ok(c: AGIChannel) -> None:
        await c.answer()

    async def gone(c: AGIChannel) -> None:
        raise CallerHungUp("x")

    async def bug(c: AGIChannel) -> None:
        raise ZeroDivisionError

    assert await serve_one(ch, ok) == "completed"
    assert await serve_one(ch, gone) == "hung_up"
    assert await serve_one(ch, bug) == "error"


@pytest.mark.parametrize(("transport", "agi", "hold"), [
    ("fastagi", "AGI(agi://127.0.0.1:4573/survey,${RABTA_ATTEMPT})", "NoOp(FastAGI)"),
    ("classic", "AGI(rabta-agi,${RABTA_ATTEMPT})", "Playtones("),
])
def test_dialplan_switch(tmp_path: Path, transport: str, agi: str, hold: str) -> None:
    (tmp_path / "cache" / "rootfs" / "usr/lib/x86_64-linux-gnu/asterisk/modules").mkdir(parents=True)
    settings = Settings(home=tmp_path / "home", cache=tmp_path / "cache", ami_secret="s",
                        agi_transport=transport)
    pbx = rootfs.node_for(settings).pbx
    values = rootfs.template_values(settings, pbx)
    ext = render_template((DIALPLANS / "pbx" / "extensions.conf.tmpl").read_text(), values)
    assert agi in ext and hold in ext
    conf = render_template((DIALPLANS / "common" / "asterisk.conf.tmpl").read_text(), values)
    assert f"astagidir => /etc/rabta/{pbx.name}/agi-bin" in conf


def test_unknown_transport_is_refused() -> None:
    with pytest.raises(ConfigError, match="agi_transport"):
        load_settings(env={"RABTA_AGI_TRANSPORT": "eagi"})


def test_settings_file_for_the_script_round_trips_without_the_secret(tmp_path: Path) -> None:
    settings = load_settings(env={}, overrides=dict(
        home=str(tmp_path / "h"), ami_secret="top-secret", agi_transport="classic",
        retry_delays="busy=60,no_answer=120", digit_timeout=4.5, cookie_secure=True))
    text = rootfs._settings_toml(settings)
    assert "top-secret" not in text
    path = tmp_path / "rabta-agi.toml"
    path.write_text(text)
    again = load_settings(path, env={})
    assert again.db_path == (tmp_path / "h" / "rabta.db").resolve()
    for name in ("retry_delays", "digit_timeout", "cookie_secure", "agi_transport",
                 "question_tries", "default_language", "timezone", "partial_callbacks"):
        assert getattr(again, name) == getattr(settings, name), name
    assert tomllib.loads(text)["home"] == str((tmp_path / "h").resolve())

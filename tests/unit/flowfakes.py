"""A scripted fake Channel for flow tests: what is played, asked and recorded, in order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ivr.asterisk import variables as V
from ivr.errors import AGICommandError, CallerHungUp
from ivr.flows.survey import Answered

Script = list[str | type[CallerHungUp]]
HANGUP = CallerHungUp  # in a script: the citizen hangs up at that point


class FakeChannel:
    """A Channel that records every command; get_digits pops the next scripted key.

    A scripted item may be HANGUP: the citizen hangs up instead of pressing a key. With
    `linger`, a citizen whose script is done stays silent on the line (as the carrier
    simulator does); without it, an unscripted question fails the test.
    `hangup_at`: a sound whose playback the citizen hangs up during (stream_file raises).
    `record_raises`: what RECORD FILE does instead of returning (a hang-up, or a refusal).
    `press_during`: sound -> key the citizen presses while it plays (once; with escape digits).
    `missing`: sounds that cannot be played (STREAM FILE and GET DATA fail as for a missing
    file).
    """

    def __init__(self, keys: Script, *, linger: bool = False, hangup_at: str | None = None,
                 record_raises: Exception | None = None,
                 variables: Mapping[str, str] | None = None, args: list[str] | None = None,
                 press_during: Mapping[str, str] | None = None,
                 missing: frozenset[str] = frozenset()) -> None:
        self.keys = list(keys)
        self.press_during = dict(press_during or {})
        self.missing = missing
        self.linger = linger
        self.hangup_at = hangup_at
        self.record_raises = record_raises
        self.variables = dict({V.SPOOL_DIR: "/var/spool/rabta/rabta-pbx"} if variables is None
                              else variables)
        self._args = ["1"] if args is None else args
        self.calls: list[tuple[Any, ...]] = []

    @property
    def headers(self) -> Mapping[str, str]:
        return {f"agi_arg_{i}": a for i, a in enumerate(self._args, 1)}

    @property
    def script(self) -> str:
        return V.SCRIPT_SURVEY

    @property
    def args(self) -> list[str]:
        return list(self._args)

    async def answer(self) -> None:
        self.calls.append(("answer",))

    async def stream_file(self, name: str, escape_digits: str = "") -> str | None:
        self.calls.append(("stream_file", name))
        if name == self.hangup_at:
            raise CallerHungUp("scripted hang-up during a prompt")
        if name in self.missing:
            raise AGICommandError(200, f"STREAM FILE {name}: sound file missing or unplayable")
        key = self.press_during.pop(name, None)
        if key is not None and key in escape_digits:
            return key
        return None

    async def stream_files(self, names: Sequence[str]) -> str | None:
        # As Asterisk's Background: any key cuts the list short; a file that cannot be
        # played stops it there, without saying which one.
        self.calls.append(("stream_files", tuple(names)))
        for name in names:
            if name == self.hangup_at:
                raise CallerHungUp("scripted hang-up during a prompt")
            if name in self.missing:
                raise AGICommandError(200, "EXEC Background: a sound file is missing or unplayable")
            key = self.press_during.pop(name, None)
            if key is not None:
                return key
        return None

    async def get_digits(self, prompt: str, max_digits: int, timeout_s: float) -> str:
        self.calls.append(("get_digits", prompt, max_digits, timeout_s))
        if prompt in self.missing:
            raise AGICommandError(200, f"GET DATA {prompt}: sound file missing or unplayable")
        if not self.keys:
            if self.linger:
                return ""
            raise AssertionError(f"unscripted get_digits({prompt!r})")
        key = self.keys.pop(0)
        if isinstance(key, type):
            raise key("scripted hang-up")
        return key

    async def wait_for_digit(self, timeout_s: float) -> str | None:
        self.calls.append(("wait_for_digit", timeout_s))
        return None

    async def record(self, path: str, fmt: str = "wav", escape_digits: str = "#", max_s: float = 60,
                     beep: bool = True, silence_s: float | None = 3) -> str | None:
        self.calls.append(("record", path, fmt, escape_digits, max_s, beep, silence_s))
        if self.record_raises is not None:
            raise self.record_raises
        return "#"

    async def set_variable(self, name: str, value: str) -> None:
        self.calls.append(("set_variable", name, value))

    async def get_variable(self, name: str) -> str | None:
        self.calls.append(("get_variable", name))
        return self.variables.get(name)

    async def verbose(self, message: str, level: int = 1) -> None:
        self.calls.append(("verbose", message))

    async def hangup(self) -> None:
        self.calls.append(("hangup",))

    def prompts(self) -> list[str]:
        """Return every prompt id played or asked, in order (without the rabta/ directory)."""
        out: list[str] = []
        for c in self.calls:
            if c[0] in ("stream_file", "get_digits"):
                out.append(c[1].removeprefix("rabta/"))
            elif c[0] == "stream_files":
                out.extend(n.removeprefix("rabta/") for n in c[1])
        return out

    def asked(self) -> list[str]:
        """Return the prompt ids asked with get_digits, in order."""
        return [c[1].removeprefix("rabta/") for c in self.calls if c[0] == "get_digits"]


class Saved:
    """The `save` callback: records each answer in the order it was handed over."""

    def __init__(self) -> None:
        self.rows: list[Answered] = []

    async def __call__(self, answer: Answered) -> None:
        self.rows.append(answer)

    @property
    def answers(self) -> list[tuple[str, str]]:
        return [(a.question, a.value) for a in self.rows]


class OptOuts:
    """The `opt_out` callback: counts calls."""

    def __init__(self) -> None:
        self.count = 0

    async def __call__(self) -> None:
        self.count += 1


__all__ = ["HANGUP", "FakeChannel", "OptOuts", "Saved", "Script"]

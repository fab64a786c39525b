"""run_survey over a scripted fake Channel: what is played, asked, saved and returned."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from ivr.asterisk import variables as V
from ivr.asterisk.agi.channel import Channel
from ivr.errors import CallerHungUp
from ivr.flows.survey import DEFAULT_SURVEY, Question, Survey, SurveyState, run_survey
from ivr.models import TxStatus

Script = list[str | type[CallerHungUp]]


class FakeChannel:
    """A Channel that records every command; get_digits pops the next scripted key.

    A scripted item may be the CallerHungUp class: the citizen hangs up at that point.
    """

    def __init__(self, keys: Script) -> None:
        self.keys = list(keys)
        self.calls: list[tuple[Any, ...]] = []

    @property
    def headers(self) -> Mapping[str, str]:
        return {"agi_arg_1": "1"}

    @property
    def script(self) -> str:
        return V.SCRIPT_SURVEY

    @property
    def args(self) -> list[str]:
        return ["1"]

    async def answer(self) -> None:
        self.calls.append(("answer",))

    async def stream_file(self, name: str, escape_digits: str = "") -> str | None:
        self.calls.append(("stream_file", name))
        return None

    async def get_digits(self, prompt: str, max_digits: int, timeout_s: float) -> str:
        self.calls.append(("get_digits", prompt, max_digits, timeout_s))
        if not self.keys:
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
        self.calls.append(("record", path))
        return None

    async def set_variable(self, name: str, value: str) -> None:
        self.calls.append(("set_variable", name, value))

    async def get_variable(self, name: str) -> str | None:
        self.calls.append(("get_variable", name))
        return None

    async def verbose(self, message: str, level: int = 1) -> None:
        self.calls.append(("verbose", message))

    async def hangup(self) -> None:
        self.calls.append(("hangup",))

    def prompts(self) -> list[str]:
        """Return every sound played or asked, in order."""
        return [c[1] for c in self.calls if c[0] in ("stream_file", "get_digits")]


class Saved:
    """The `save` callback: records each answer in the order it was handed over."""

    def __init__(self) -> None:
        self.answers: list[tuple[str, str]] = []

    async def __call__(self, question: str, value: str) -> None:
        self.answers.append((question, value))


async def run(keys: Script, *, tries: int = 2, language: str = "ur",
              survey: Survey = DEFAULT_SURVEY) -> tuple[TxStatus, FakeChannel, Saved, SurveyState]:
    channel = FakeChannel(keys)
    saved = Saved()
    state = SurveyState()
    result = await run_survey(channel, survey, saved, state, language=language, tries=tries,
                              timeout_s=4.0)
    assert channel.keys == [], "the survey did not ask for every scripted key"
    return result, channel, saved, state


def test_fake_channel_covers_the_whole_protocol() -> None:
    # Fails when Channel grows a member the fake lacks, so the fake cannot drift silently.
    members = {n for n in vars(Channel) if not n.startswith("_")}
    assert {"get_digits", "stream_file", "set_variable", "hangup", "args"} <= members
    assert sorted(n for n in members if not hasattr(FakeChannel, n)) == []


async def test_happy_path() -> None:
    result, channel, saved, state = await run(["4", "2"], language="pa")

    assert result is TxStatus.COMPLETED
    assert saved.answers == [("rating", "4"), ("bribe", "2")]
    assert state.answers == {"rating": "4", "bribe": "2"}
    assert channel.calls == [
        ("set_variable", "CHANNEL(language)", "pa"),
        ("stream_file", "rabta/greeting"),
        ("get_digits", "rabta/rating", 1, 4.0),
        ("get_digits", "rabta/bribe", 1, 4.0),
        ("set_variable", V.RESULT, "completed"),
        ("stream_file", "rabta/thanks"),
    ]


@pytest.mark.parametrize(
    ("keys", "expected_prompts", "answers", "result"),
    [
        # invalid key, then valid: "invalid" once, then the question again
        (["9", "4", "2"],
         ["greeting", "rating", "invalid", "rating", "bribe", "thanks"],
         [("rating", "4"), ("bribe", "2")], TxStatus.COMPLETED),
        # silence, then valid: the question again, without the invalid prompt
        (["", "4", "2"],
         ["greeting", "rating", "rating", "bribe", "thanks"],
         [("rating", "4"), ("bribe", "2")], TxStatus.COMPLETED),
        # two invalid: "invalid" once (not after the last try), question skipped
        (["9", "0", "1"],
         ["greeting", "rating", "invalid", "rating", "bribe", "thanks"],
         [("bribe", "1")], TxStatus.PARTIAL),
        # key valid for one question but not the other (bribe takes 1 or 2 only)
        (["5", "3", "1"],
         ["greeting", "rating", "bribe", "invalid", "bribe", "thanks"],
         [("rating", "5"), ("bribe", "1")], TxStatus.COMPLETED),
        # silence twice on both: nothing saved
        (["", "", "", ""],
         ["greeting", "rating", "rating", "bribe", "bribe", "thanks"],
         [], TxStatus.PARTIAL),
        (["*", "#", "2"],
         ["greeting", "rating", "invalid", "rating", "bribe", "thanks"],
         [("bribe", "2")], TxStatus.PARTIAL),
    ],
    ids=["invalid-then-valid", "silence-then-valid", "two-invalid", "valid-elsewhere",
         "all-silent", "star-hash"],
)
async def test_retries(keys: Script, expected_prompts: list[str], answers: list[tuple[str, str]],
                       result: TxStatus) -> None:
    got, channel, saved, state = await run(keys)
    assert channel.prompts() == [f"rabta/{p}" for p in expected_prompts]
    assert saved.answers == answers
    assert state.answers == dict(answers)
    assert got is result
    assert ("set_variable", V.RESULT, result.value) in channel.calls


@pytest.mark.parametrize(
    ("keys", "expected_prompts", "answers"),
    [
        (["9", "2"], ["greeting", "rating", "bribe", "thanks"], [("bribe", "2")]),
        (["", "2"], ["greeting", "rating", "bribe", "thanks"], [("bribe", "2")]),
        (["3", "2"], ["greeting", "rating", "bribe", "thanks"], [("rating", "3"), ("bribe", "2")]),
    ],
)
async def test_one_try_never_repeats(keys: Script, expected_prompts: list[str],
                                     answers: list[tuple[str, str]]) -> None:
    _, channel, saved, _ = await run(keys, tries=1)
    assert channel.prompts() == [f"rabta/{p}" for p in expected_prompts]
    assert saved.answers == answers


@pytest.mark.parametrize(
    ("keys", "answers", "asked"),
    [
        (["4", CallerHungUp], {"rating": "4"}, ["rating", "bribe"]),
        (["9", CallerHungUp], {}, ["rating", "rating"]),  # hangs up instead of answering again
        ([CallerHungUp], {}, ["rating"]),
    ],
)
async def test_hang_up_mid_survey(keys: Script, answers: dict[str, str], asked: list[str]) -> None:
    channel = FakeChannel(keys)
    saved = Saved()
    state = SurveyState()

    with pytest.raises(CallerHungUp):
        await run_survey(channel, DEFAULT_SURVEY, saved, state, language="en")

    assert state.answers == answers
    assert saved.answers == list(answers.items())  # saved the moment it was given
    assert state.result(DEFAULT_SURVEY) is TxStatus.PARTIAL
    assert [c[1] for c in channel.calls if c[0] == "get_digits"] == [f"rabta/{q}" for q in asked]
    assert ("stream_file", "rabta/thanks") not in channel.calls
    assert not any(c[0] == "set_variable" and c[1] == V.RESULT for c in channel.calls)


async def test_custom_survey_prompts_and_order() -> None:
    survey = Survey(name="s", greeting="hello", invalid="oops", thanks="bye",
                    questions=(Question("q1", "p1", "12"), Question("q2", "p2", "9"),
                               Question("q3", "p3", "0")))
    result, channel, saved, _ = await run(["7", "1", "9", "0"], survey=survey, language="en")
    assert channel.prompts() == [f"rabta/{p}" for p in
                                 ("hello", "p1", "oops", "p1", "p2", "p3", "bye")]
    assert saved.answers == [("q1", "1"), ("q2", "9"), ("q3", "0")]
    assert result is TxStatus.COMPLETED


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ({}, TxStatus.PARTIAL),
        ({"rating": "4"}, TxStatus.PARTIAL),
        ({"bribe": "1"}, TxStatus.PARTIAL),
        ({"rating": "4", "bribe": "1"}, TxStatus.COMPLETED),
        ({"rating": "4", "bribe": "1", "extra": "9"}, TxStatus.COMPLETED),
    ],
)
def test_state_result(answers: dict[str, str], expected: TxStatus) -> None:
    assert SurveyState(dict(answers)).result(DEFAULT_SURVEY) is expected

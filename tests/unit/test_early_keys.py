"""Unit: a key is stored only for the question it answers (issue: never store a wrong answer).

A key that ends a question's first prompt sooner than `early_key_s` after it was sent cannot
be its answer: it is a late key from what played before. The flow asks again instead of
storing it. A fake clock moves on by the time each scripted key takes to come.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from flowfakes import FakeChannel, OptOuts, Saved

from ivr.flows.definitions import load_surveys
from ivr.flows.survey import MAX_EARLY, SurveyState, is_early, run_survey
from ivr.models import TxStatus

POLICE = load_surveys().surveys["police"]
EARLY = 0.4


class TimedChannel(FakeChannel):
    """A fake channel whose keys come after a scripted delay, on a fake clock."""

    def __init__(self, keys: list[tuple[str, float]], **kw: object) -> None:
        super().__init__([k for k, _ in keys], **kw)  # type: ignore[arg-type]
        self.delays = [d for _, d in keys]
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    async def get_digits(self, prompt: str, max_digits: int, timeout_s: float) -> str:
        if self.keys:
            self.now += self.delays.pop(0)
        return await super().get_digits(prompt, max_digits, timeout_s)

    async def stream_file(self, name: str, escape_digits: str = "") -> str | None:
        key = await super().stream_file(name, escape_digits)
        self.now += 0.05 if key else 2.0  # a fragment plays ~2 s unless a key cuts it
        return key

    async def stream_files(self, names: Sequence[str]) -> str | None:
        key = await super().stream_files(names)
        self.now += 0.05 if key else 2.0 * len(names)
        return key


async def run(keys: list[tuple[str, float]], early_key_s: float = EARLY, **fake: object
              ) -> tuple[TxStatus, TimedChannel, Saved]:
    channel = TimedChannel(keys, **fake)
    saved = Saved()
    result = await run_survey(channel, POLICE, saved, SurveyState(), language="en", tries=2,
                              timeout_s=4.0, opt_out=OptOuts(), clock=channel.clock,
                              early_key_s=early_key_s)
    assert channel.keys == [], "the survey did not ask for every scripted key"
    return result, channel, saved


@pytest.mark.parametrize("elapsed, first, limit, early", [
    (0.05, True, 0.4, True),    # a key at once: it was pressed before the question began
    (0.39, True, 0.4, True),
    (0.40, True, 0.4, False),   # at the limit: heard the start of the question
    (2.5, True, 0.4, False),
    (0.05, False, 0.4, False),  # a repeat or a later fragment: the key follows this question
    (0.05, True, 0.0, False),   # the rule turned off
])
def test_is_early(elapsed: float, first: bool, limit: float, early: bool) -> None:
    assert is_early(elapsed, first_prompt=first, early_key_s=limit) is early


async def test_a_late_key_is_not_stored_for_the_next_question() -> None:
    # rating 4 heard properly; then a "1" arrives 0.1 s into the bribe question: a key meant
    # for the rating, late. It must not become "yes, a bribe was asked"; the question is
    # asked again and the citizen's real answer (2, no) is stored.
    result, channel, saved = await run([("4", 2.0), ("1", 0.1), ("2", 3.0)])
    assert saved.answers == [("rating", "4"), ("bribe", "2")]
    assert result is TxStatus.COMPLETED
    bribe_prompts = [c[1] for c in channel.calls if c[0] == "get_digits" and "bribe" in c[1]]
    assert len(bribe_prompts) == 2


async def test_without_the_rule_the_late_key_is_stored_as_the_answer() -> None:
    # The control: the same citizen with the rule off stores the wrong "yes".
    channel = TimedChannel([("4", 2.0), ("1", 0.1)], linger=True)
    saved = Saved()
    await run_survey(channel, POLICE, saved, SurveyState(), language="en", tries=2,
                     timeout_s=4.0, opt_out=OptOuts(), clock=channel.clock, early_key_s=0)
    assert saved.answers[:2] == [("rating", "4"), ("bribe", "1")]


async def test_early_keys_do_not_use_up_tries_but_are_bounded() -> None:
    # Early keys are ignored MAX_EARLY times; after that the key counts whenever it comes.
    keys = [("5", 0.05)] * MAX_EARLY + [("5", 0.05), ("2", 3.0)]
    _, _, saved = await run(keys)
    assert saved.answers == [("rating", "5"), ("bribe", "2")]


async def test_the_opt_out_key_is_honoured_even_early() -> None:
    result, _, saved = await run([("9", 0.05)])
    assert result is TxStatus.OPTED_OUT
    assert saved.answers == []


# ------------------------------------------------------------- a prompt that cannot be played


@pytest.mark.parametrize("missing", [
    "rabta/greeting", "rabta/optout-hint", "rabta/rating", "rabta/invalid",
    "rabta/thanks",
])
async def test_a_missing_prompt_never_ends_the_call(missing: str, caplog: pytest.LogCaptureFixture
                                                    ) -> None:
    # Whatever prompt is missing, the survey goes on past it and a warning names it. A
    # missing question prompt waits for a key without it (WAIT FOR DIGIT).
    channel = FakeChannel(["7", "4", "2"], missing=frozenset({missing}), linger=True)
    saved = Saved()
    state = SurveyState()
    with caplog.at_level("WARNING"):
        result = await run_survey(channel, POLICE, saved, state, language="en", tries=2,
                                  timeout_s=4.0, opt_out=OptOuts())
    assert any(missing.split("/")[-1] in r.getMessage() and r.levelname == "WARNING"
               for r in caplog.records), [r.getMessage() for r in caplog.records]
    assert ("stream_file", "rabta/thanks") in channel.calls or missing == "rabta/thanks"
    if missing == "rabta/rating":
        assert ("wait_for_digit", 4.0) in channel.calls  # asked without its prompt
    else:
        assert saved.answers == [("rating", "4"), ("bribe", "2")]
        assert result is TxStatus.COMPLETED

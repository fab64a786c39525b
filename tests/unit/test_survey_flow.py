"""run_survey over a scripted fake Channel: what is played, asked, saved and returned.

Uses the bundled definitions in surveys/ (police for the branches) and small inline ones.
"""

from __future__ import annotations

import pytest
from flowfakes import HANGUP, FakeChannel, OptOuts, Saved, Script

from ivr.asterisk import variables as V
from ivr.asterisk.agi.channel import Channel
from ivr.cases import FOLLOWUP_SERVICE
from ivr.errors import AGICommandError, CallerHungUp
from ivr.flows.definitions import END, Survey, load_surveys, parse_survey
from ivr.flows.survey import (
    MAX_REPLAYS,
    MAX_STEPS,
    Answered,
    SurveyState,
    choose_language,
    run_survey,
)
from ivr.models import TxStatus

BOOK = load_surveys()
POLICE = BOOK.surveys["police"]
SPOOL = "/var/spool/rabta/rabta-pbx"
INTRO = ["greeting", "optout-hint"]


def inline(text: str) -> Survey:
    survey, problems = parse_survey(text, "inline.toml")
    assert survey is not None, [str(p) for p in problems]
    return survey


async def run(keys: Script, *, survey: Survey = POLICE, tries: int = 2, language: str = "ur",
              linger: bool = False, visit: tuple[str, ...] = (), **fake: object
              ) -> tuple[TxStatus, FakeChannel, Saved, SurveyState, OptOuts]:
    channel = FakeChannel(keys, linger=linger, **fake)  # type: ignore[arg-type]
    saved, opt_outs, state = Saved(), OptOuts(), SurveyState()
    result = await run_survey(channel, survey, saved, state, language=language, tries=tries,
                              timeout_s=4.0, opt_out=opt_outs, recording_name="rabta-42",
                              visit=visit)
    assert channel.keys == [], "the survey did not ask for every scripted key"
    return result, channel, saved, state, opt_outs


def test_fake_channel_covers_the_whole_protocol() -> None:
    # Fails when Channel grows a member the fake lacks, so the fake cannot drift silently.
    members = {n for n in vars(Channel) if not n.startswith("_")}
    assert {"get_digits", "stream_file", "set_variable", "hangup", "args", "record"} <= members
    assert sorted(n for n in members if not hasattr(FakeChannel, n)) == []


# ---------------------------------------------------------------------------- branches


async def test_happy_path_exact_commands() -> None:
    result, channel, saved, state, _ = await run(["4", "2"], language="pa")

    assert result is TxStatus.COMPLETED
    assert saved.rows == [Answered("police", 2, "rating", "4", ("rating",)),
                          Answered("police", 2, "bribe", "2", ("bribe",))]
    assert state.answers == {"rating": "4", "bribe": "2"}
    assert channel.calls == [
        ("set_variable", "CHANNEL(language)", "pa"),
        ("stream_file", "rabta/greeting"),
        ("stream_file", "rabta/optout-hint"),
        ("get_digits", "rabta/rating", 1, 4.0),
        ("get_digits", "rabta/bribe", 1, 4.0),
        ("stream_file", "rabta/thanks"),  # no RABTA_RESULT: the store holds the result
    ]


async def test_bribe_yes_amount_then_recorded_complaint() -> None:
    result, channel, saved, _, _ = await run(["3", "1", "2", "1"])

    assert result is TxStatus.COMPLETED
    recording = f"{SPOOL}/rabta-42-complaint.wav"
    assert saved.answers == [("rating", "3"), ("bribe", "1"), ("bribe_amount", "2"),
                             ("complaint_offer", "1"), ("complaint", recording)]
    assert channel.prompts() == [*INTRO, "rating", "bribe", "bribe-amount", "complaint-offer",
                                 "complaint-record", "thanks"]
    # The recording: the spool dir comes from Asterisk; 60 s at most, 4 s of silence, a beep.
    assert ("get_variable", V.SPOOL_DIR) in channel.calls
    assert ("record", f"{SPOOL}/rabta-42-complaint", "wav", "#", 60.0, True, 4) in channel.calls
    assert saved.rows[-1].prompts == ("complaint-record",)


async def test_complaint_declined_ends_without_recording() -> None:
    result, channel, saved, _, _ = await run(["3", "1", "4", "2"])
    assert result is TxStatus.COMPLETED
    assert saved.answers == [("rating", "3"), ("bribe", "1"), ("bribe_amount", "4"),
                             ("complaint_offer", "2")]
    assert not any(c[0] == "record" for c in channel.calls)
    assert channel.prompts()[-1] == "thanks"


async def test_bribe_no_ends_the_survey() -> None:
    _, channel, _, state, _ = await run(["5", "2"])
    assert channel.asked() == ["rating", "bribe"]
    assert state.current == END


async def test_unanswered_follow_ups_still_complete() -> None:
    # As the carrier simulator does after "s2s1": the citizen stays on the line, silent.
    result, channel, saved, _, _ = await run(["2", "1"], linger=True)
    assert result is TxStatus.COMPLETED
    assert saved.answers == [("rating", "2"), ("bribe", "1")]
    # bribe_amount asked twice, then its no-answer branch ends the survey.
    assert channel.asked() == ["rating", "bribe", "bribe-amount", "bribe-amount"]


async def test_rating_unanswered_goes_on_to_bribe() -> None:
    result, channel, saved, state, _ = await run(["", "", "2"])
    assert channel.asked() == ["rating", "rating", "bribe"]
    assert saved.answers == [("bribe", "2")]
    assert state.missed == {"rating"}
    assert result is TxStatus.PARTIAL


async def test_bribe_unanswered_ends_the_survey_partial() -> None:
    result, channel, _, _, _ = await run(["4", "", ""])
    assert channel.asked() == ["rating", "bribe", "bribe"]
    assert result is TxStatus.PARTIAL


# ---------------------------------------------------------------------------- retries


@pytest.mark.parametrize(
    ("keys", "expected_prompts", "answers", "result"),
    [
        # invalid key, then valid: "invalid" once, then the question again
        (["7", "4", "2"],
         ["rating", "invalid", "rating", "bribe"],
         [("rating", "4"), ("bribe", "2")], TxStatus.COMPLETED),
        # silence, then valid: the question again, without the invalid prompt
        (["", "4", "2"],
         ["rating", "rating", "bribe"],
         [("rating", "4"), ("bribe", "2")], TxStatus.COMPLETED),
        # two invalid: "invalid" once (not after the last try), question skipped
        (["7", "0", "2"],
         ["rating", "invalid", "rating", "bribe"],
         [("bribe", "2")], TxStatus.PARTIAL),
        # key valid for one question but not the other (bribe takes 1 or 2 only)
        (["5", "3", "2"],
         ["rating", "bribe", "invalid", "bribe"],
         [("rating", "5"), ("bribe", "2")], TxStatus.COMPLETED),
        # silence twice on both: nothing saved
        (["", "", "", ""],
         ["rating", "rating", "bribe", "bribe"],
         [], TxStatus.PARTIAL),
        (["#", "8", "2"],
         ["rating", "invalid", "rating", "bribe"],
         [("bribe", "2")], TxStatus.PARTIAL),
    ],
    ids=["invalid-then-valid", "silence-then-valid", "two-invalid", "valid-elsewhere",
         "all-silent", "hash-and-8"],
)
async def test_retries(keys: Script, expected_prompts: list[str], answers: list[tuple[str, str]],
                       result: TxStatus) -> None:
    got, channel, saved, state, _ = await run(keys, linger=True)
    assert channel.prompts() == [*INTRO, *expected_prompts, "thanks"]
    assert saved.answers == answers
    assert state.answers == dict(answers)
    assert got is result


async def test_prompts_played_are_stamped_on_the_answer() -> None:
    _, _, saved, _, _ = await run(["7", "4", "", "2"])
    assert saved.rows[0].prompts == ("rating", "invalid", "rating")
    assert saved.rows[1].prompts == ("bribe", "bribe")


@pytest.mark.parametrize(
    ("keys", "asked", "answers"),
    [
        (["7", "2"], ["rating", "bribe"], [("bribe", "2")]),
        (["", "2"], ["rating", "bribe"], [("bribe", "2")]),
        (["3", "2"], ["rating", "bribe"], [("rating", "3"), ("bribe", "2")]),
    ],
)
async def test_one_try_never_repeats(keys: Script, asked: list[str],
                                     answers: list[tuple[str, str]]) -> None:
    _, channel, saved, _, _ = await run(keys, tries=1)
    assert channel.asked() == asked
    assert "invalid" not in channel.prompts()
    assert saved.answers == answers


RETRIES = """
id = "r"
version = 1
services = ["r"]
retries = 0          # the survey's own: ask once
[[questions]]
id = "once"
prompt = "rating"
keys = { "1" = "a" }
[[questions]]
id = "thrice"
prompt = "bribe"
retries = 2          # this question: ask three times
keys = { "1" = "a" }
"""


async def test_retries_from_the_definition_override_settings() -> None:
    _, channel, saved, _, _ = await run(["", "", "", "1"], survey=inline(RETRIES), tries=5)
    assert channel.asked() == ["rating", "bribe", "bribe", "bribe"]
    assert saved.answers == [("thrice", "1")]


# ---------------------------------------------------------------------------- replay key


async def test_replay_key_repeats_without_using_a_try() -> None:
    result, channel, saved, _, _ = await run(["*", "7", "4", "2"])
    # replay, then an invalid key (try 1), then a valid one (try 2 of 2)
    assert channel.asked() == ["rating", "rating", "rating", "bribe"]
    assert saved.rows[0].prompts == ("rating", "rating", "invalid", "rating")
    assert result is TxStatus.COMPLETED


async def test_replay_key_is_honoured_only_so_often() -> None:
    keys: Script = ["*"] * (MAX_REPLAYS + 1) + ["4", "2"]
    _, channel, saved, _, _ = await run(keys)
    # MAX_REPLAYS replays; the next "*" counts as an invalid key (try 1), "4" is try 2.
    assert channel.asked() == ["rating"] * (MAX_REPLAYS + 2) + ["bribe"]
    assert channel.prompts().count("invalid") == 1
    assert saved.answers == [("rating", "4"), ("bribe", "2")]


# ---------------------------------------------------------------------------- opt-out key


async def test_opt_out_at_the_first_question() -> None:
    result, channel, saved, state, opt_outs = await run(["9"])
    assert result is TxStatus.OPTED_OUT
    assert opt_outs.count == 1
    assert state.opted_out and state.result(POLICE) is TxStatus.OPTED_OUT
    assert saved.answers == []
    assert channel.prompts() == [*INTRO, "rating", "optout-confirm"]
    assert "thanks" not in channel.prompts()


async def test_opt_out_later_keeps_earlier_answers() -> None:
    result, channel, saved, _, opt_outs = await run(["4", "7", "9"])
    assert result is TxStatus.OPTED_OUT and opt_outs.count == 1
    assert saved.answers == [("rating", "4")]
    assert channel.prompts()[-4:] == ["bribe", "invalid", "bribe", "optout-confirm"]


async def test_opt_out_then_hang_up_during_the_confirmation_stays_opted_out() -> None:
    channel = FakeChannel(["9"], hangup_at="rabta/optout-confirm")
    state, opt_outs = SurveyState(), OptOuts()
    with pytest.raises(CallerHungUp):
        await run_survey(channel, POLICE, Saved(), state, language="en", opt_out=opt_outs)
    assert opt_outs.count == 1
    assert state.result(POLICE) is TxStatus.OPTED_OUT


# ---------------------------------------------------------------------------- hang-ups


@pytest.mark.parametrize(
    ("keys", "hangup_at", "record_raises", "answers", "result"),
    [
        ([], "rabta/greeting", None, {}, TxStatus.PARTIAL),
        ([], "rabta/optout-hint", None, {}, TxStatus.PARTIAL),
        ([HANGUP], None, None, {}, TxStatus.PARTIAL),
        (["7", HANGUP], None, None, {}, TxStatus.PARTIAL),  # instead of answering again
        (["4", HANGUP], None, None, {"rating": "4"}, TxStatus.PARTIAL),
        # The follow-ups after a "yes" are optional: the core answers make it complete.
        (["4", "1", HANGUP], None, None, {"rating": "4", "bribe": "1"}, TxStatus.COMPLETED),
        (["4", "1", "3", HANGUP], None, None,
         {"rating": "4", "bribe": "1", "bribe_amount": "3"}, TxStatus.COMPLETED),
        (["4", "1", "3", "1"], "rabta/complaint-record", None,
         {"rating": "4", "bribe": "1", "bribe_amount": "3", "complaint_offer": "1"},
         TxStatus.COMPLETED),
        # Hung up while recording: Asterisk keeps the file, so the answer is saved.
        (["4", "1", "3", "1"], None, CallerHungUp("200 result=-1 (hangup) endpos=16000"),
         {"rating": "4", "bribe": "1", "bribe_amount": "3", "complaint_offer": "1",
          "complaint": f"{SPOOL}/rabta-42-complaint.wav"}, TxStatus.COMPLETED),
        (["4", "2"], "rabta/thanks", None, {"rating": "4", "bribe": "2"}, TxStatus.COMPLETED),
    ],
    ids=["greeting", "intro", "rating", "rating-retry", "bribe", "bribe-amount",
         "complaint-offer", "complaint-prompt", "recording", "thanks"],
)
async def test_hang_up_anywhere_keeps_the_answers_given(
        keys: Script, hangup_at: str | None, record_raises: Exception | None,
        answers: dict[str, str], result: TxStatus) -> None:
    channel = FakeChannel(keys, hangup_at=hangup_at, record_raises=record_raises)
    saved, state = Saved(), SurveyState()

    with pytest.raises(CallerHungUp):
        await run_survey(channel, POLICE, saved, state, language="en", opt_out=OptOuts(),
                         recording_name="rabta-42")

    assert state.answers == answers
    assert saved.answers == list(answers.items())  # saved the moment it was given
    assert state.result(POLICE) is result
    assert channel.keys == []


# ---------------------------------------------------------------------------- recording


async def test_recording_refused_goes_on_without_it() -> None:
    refused = AGICommandError(200, "RECORD FILE cannot write /x/rabta-42-complaint.wav")
    result, channel, saved, _, _ = await run(["4", "1", "3", "1"], record_raises=refused)
    assert result is TxStatus.COMPLETED
    assert [q for q, _ in saved.answers] == ["rating", "bribe", "bribe_amount", "complaint_offer"]
    assert channel.prompts()[-1] == "thanks"


async def test_recording_without_a_spool_dir_is_a_bare_name() -> None:
    _, channel, saved, _, _ = await run(["4", "1", "3", "1"], variables={})
    assert saved.answers[-1] == ("complaint", "rabta-42-complaint.wav")
    assert ("record", "rabta-42-complaint", "wav", "#", 60.0, True, 4) in channel.calls


# ---------------------------------------------------------------------------- definitions


CUSTOM = """
id = "custom"
version = 7
services = ["x"]
intro = ["inbound-notice"]
invalid = "bribe"
thanks = "greeting"
[[questions]]
id = "q1"
prompt = "rating"
keys = { "1" = "a", "2" = "b" }
next = { "2" = "q3" }
[[questions]]
id = "q2"
prompt = "bribe"
keys = { "9" = "nine" }
[[questions]]
id = "q3"
prompt = "thanks"
keys = { "0" = "zero" }
"""


async def test_custom_prompts_order_and_version_stamp() -> None:
    survey = inline(CUSTOM)
    result, channel, saved, _, _ = await run(["7", "1", "9", "0"], survey=survey, language="en")
    assert channel.prompts() == ["inbound-notice", "rating", "bribe", "rating", "bribe", "thanks",
                                 "greeting"]
    assert saved.answers == [("q1", "1"), ("q2", "9"), ("q3", "0")]
    assert {(a.survey, a.version) for a in saved.rows} == {("custom", 7)}
    assert result is TxStatus.COMPLETED


async def test_branch_skips_a_question() -> None:
    survey = inline(CUSTOM)
    _, channel, saved, _, _ = await run(["2", "0"], survey=survey)
    assert saved.answers == [("q1", "2"), ("q3", "0")]
    assert channel.asked() == ["rating", "thanks"]


async def test_no_opt_out_key_means_9_is_just_a_key() -> None:
    survey = inline(CUSTOM)
    _, _, saved, _, opt_outs = await run(["1", "9", "0"], survey=survey)
    assert opt_outs.count == 0
    assert ("q2", "9") in saved.answers


LOOP = """
id = "loop"
version = 1
services = ["l"]
[[questions]]
id = "q1"
prompt = "rating"
keys = { "1" = "a" }
next = { "1" = "end" }
no_answer = "q1"
"""


async def test_a_loop_cannot_hold_the_line() -> None:
    survey = inline(LOOP)
    result, channel, _, _, _ = await run([], survey=survey, linger=True)
    assert len(channel.asked()) == MAX_STEPS * 2  # every visit asks twice
    assert result is TxStatus.PARTIAL
    assert channel.prompts()[-1] == "thanks"


@pytest.mark.parametrize(
    ("answers", "current", "expected"),
    [
        ({}, None, TxStatus.PARTIAL),
        ({"rating": "4"}, None, TxStatus.PARTIAL),
        ({"bribe": "1"}, None, TxStatus.PARTIAL),
        ({"rating": "4", "bribe": "2"}, None, TxStatus.COMPLETED),
        ({"rating": "4", "bribe": "1"}, None, TxStatus.COMPLETED),  # follow-ups are optional
        ({"rating": "4", "bribe": "1"}, "complaint_offer", TxStatus.COMPLETED),
        ({"rating": "4", "bribe": "2", "extra": "9"}, None, TxStatus.COMPLETED),
        ({"rating": "4", "bribe": "2"}, END, TxStatus.COMPLETED),
        ({"rating": "4"}, "bribe", TxStatus.PARTIAL),
    ],
)
def test_state_result(answers: dict[str, str], current: str | None, expected: TxStatus) -> None:
    assert SurveyState(dict(answers), current=current).result(POLICE) is expected


def test_state_result_missed_and_opted_out() -> None:
    assert SurveyState({"rating": "4", "bribe": "2"}, missed={"rating"}).result(POLICE) \
        is TxStatus.PARTIAL
    assert SurveyState(opted_out=True).result(POLICE) is TxStatus.OPTED_OUT


# ---------------------------------------------------------------------------- e2e sequences


# What tests/integration/test_e2e_survey.py (and the other integration tests) script on the
# carrier simulator, as keys the survey receives; after its script a citizen stays silent on
# the line. (script, hang up during the greeting, expected answers, expected status)
E2E: list[tuple[str, Script, bool, dict[str, str], TxStatus]] = [
    *[(f"s{r}s{b}", [str(r), str(b)], False, {"rating": str(r), "bribe": str(b)},
       TxStatus.COMPLETED) for r in range(1, 6) for b in (1, 2)],
    ("s7s4s2", ["7", "4", "2"], False, {"rating": "4", "bribe": "2"}, TxStatus.COMPLETED),
    ("swwwwws3s2", ["", "3", "2"], False, {"rating": "3", "bribe": "2"}, TxStatus.COMPLETED),
    ("s4sh", ["4", HANGUP], False, {"rating": "4"}, TxStatus.PARTIAL),
    ("hangup_s=2", [], True, {}, TxStatus.PARTIAL),
    ("s7s8s2", ["7", "8", "2"], False, {"bribe": "2"}, TxStatus.PARTIAL),
    ("never presses", [], False, {}, TxStatus.PARTIAL),
    ("sw1s2", ["1", "2"], False, {"rating": "1", "bribe": "2"}, TxStatus.COMPLETED),
    ("s2sw1", ["2", "1"], False, {"rating": "2", "bribe": "1"}, TxStatus.COMPLETED),
]


@pytest.mark.parametrize("survey_id", sorted(set(BOOK.surveys) - {FOLLOWUP_SERVICE}))
@pytest.mark.parametrize(("script", "keys", "in_greeting", "answers", "status"), E2E,
                         ids=[e[0] for e in E2E])
async def test_integration_sequences_hold_for_every_bundled_survey(
        survey_id: str, script: str, keys: Script, in_greeting: bool, answers: dict[str, str],
        status: TxStatus) -> None:
    survey = BOOK.surveys[survey_id]
    channel = FakeChannel(keys, linger=True, hangup_at="rabta/greeting" if in_greeting else None)
    saved, state = Saved(), SurveyState()
    try:
        await run_survey(channel, survey, saved, state, language="ur", tries=2, timeout_s=4.0,
                         opt_out=OptOuts())
    except CallerHungUp:
        pass
    assert state.answers == answers, script
    assert state.result(survey) is status, script
    if status is TxStatus.COMPLETED and answers.get("bribe") == "2":
        assert channel.asked()[-1] == "bribe", "bribe=2 must end the survey"


@pytest.mark.parametrize(("keys", "answers", "status"), [
    (["1"], {"resolved": "1"}, TxStatus.COMPLETED),  # the closed loop test's citizen: "s1"
    (["2"], {"resolved": "2"}, TxStatus.COMPLETED),
    (["7", "2"], {"resolved": "2"}, TxStatus.COMPLETED),
    ([], {}, TxStatus.PARTIAL),  # silent: a call-back, like any survey
])
async def test_the_followup_call_asks_whether_the_problem_was_resolved(
        keys: Script, answers: dict[str, str], status: TxStatus) -> None:
    survey = BOOK.for_service(FOLLOWUP_SERVICE)
    channel = FakeChannel(keys, linger=True)
    state = SurveyState()
    await run_survey(channel, survey, Saved(), state, language="ur", tries=2, timeout_s=4.0,
                     opt_out=OptOuts())
    assert state.answers == answers and state.result(survey) is status
    assert channel.prompts()[0] == "followup-intro"
    assert "rating" not in channel.prompts() and "bribe" not in channel.prompts()


# ---------------------------------------------------------------------------- visit confirmation

VISIT = ("visit-intro", "office/police-station-gulberg", "visit-on", "date/day-28",
         "date/month-11", "visit-for", "service/police", "visit-confirm")


async def test_confirmation_is_asked_after_the_intro_from_its_fragments() -> None:
    result, channel, saved, state, _ = await run(["1", "4", "2"], visit=VISIT, language="en")
    assert result is TxStatus.COMPLETED
    assert channel.prompts() == [*INTRO, *VISIT, "rating", "bribe", "thanks"]
    # Every fragment but the last is played in one command that any key cuts short (no gap
    # between them where a key is lost); the last asks for the key.
    assert [c for c in channel.calls if c[0] == "stream_files"] == [
        ("stream_files", tuple(f"rabta/{p}" for p in VISIT[:-1]))]
    assert saved.rows[0] == Answered("police", 2, "visit_confirmed", "1", VISIT)
    assert state.answers == {"visit_confirmed": "1", "rating": "4", "bribe": "2"}


async def test_key_pressed_during_a_fragment_answers_at_once() -> None:
    result, channel, saved, _, _ = await run(
        ["4", "2"], visit=VISIT, press_during={"rabta/date/month-11": "1"})
    assert result is TxStatus.COMPLETED
    assert channel.asked() == ["rating", "bribe"]  # the confirmation never reached GET DATA
    # One command played them: which fragment the key cut is not known, so the answer's
    # prompts are every fragment offered before the question.
    assert saved.rows[0].prompts == VISIT[:-1]


async def test_not_me_ends_the_call_politely() -> None:
    result, channel, saved, state, opt_outs = await run(["2"], visit=VISIT)
    assert result is TxStatus.UNREACHABLE
    assert state.not_me and state.result(POLICE) is TxStatus.UNREACHABLE
    assert saved.answers == [("visit_confirmed", "2")]
    assert channel.prompts()[-1] == "visit-not-me"
    assert "thanks" not in channel.prompts() and opt_outs.count == 0


@pytest.mark.parametrize(
    ("keys", "asked", "answer"),
    [
        (["7", "1", "4", "2"], ["visit-confirm", "visit-confirm", "rating", "bribe"], "1"),  # invalid
        (["", "2"], ["visit-confirm", "visit-confirm"], "2"),  # silence, then not me
        (["*", "1", "4", "2"], ["visit-confirm", "visit-confirm", "rating", "bribe"], "1"),  # replay
        (["", "", "4", "2"], ["visit-confirm", "visit-confirm", "rating", "bribe"], None),  # no answer
    ],
)
async def test_confirmation_retries_replay_and_silence(keys: Script, asked: list[str],
                                                       answer: str | None) -> None:
    result, channel, saved, _, _ = await run(keys, visit=VISIT)
    assert channel.asked() == asked
    got = dict(saved.answers).get("visit_confirmed")
    assert got == answer
    assert result is (TxStatus.UNREACHABLE if answer == "2" else TxStatus.COMPLETED)
    if keys[0] == "7":
        assert channel.prompts().count("invalid") == 1
    if keys[0] == "*":  # the whole sentence again, not just its last fragment
        assert channel.prompts().count("visit-intro") == 2


async def test_opt_out_at_the_confirmation() -> None:
    result, channel, saved, state, opt_outs = await run(["9"], visit=VISIT)
    assert result is TxStatus.OPTED_OUT and opt_outs.count == 1 and state.opted_out
    assert saved.rows == []
    assert channel.prompts()[-1] == "optout-confirm"


async def test_hang_up_during_the_confirmation_is_partial() -> None:
    channel = FakeChannel([], hangup_at="rabta/date/day-28")
    saved, state = Saved(), SurveyState()
    with pytest.raises(CallerHungUp):
        await run_survey(channel, POLICE, saved, state, language="en", visit=VISIT)
    assert saved.rows == [] and not state.not_me
    assert state.result(POLICE) is TxStatus.PARTIAL


async def test_a_fragment_that_cannot_be_played_is_skipped(
        caplog: pytest.LogCaptureFixture) -> None:
    # The one command stops at the missing fragment without saying which: the fragments are
    # played again one by one, so the warning names it and those after it are heard.
    missing = "office/police-station-gulberg"
    with caplog.at_level("WARNING"):
        result, channel, saved, _, _ = await run(
            ["1", "4", "2"], visit=VISIT, missing=frozenset({f"rabta/{missing}"}))
    assert result is TxStatus.COMPLETED
    one_by_one = [c[1] for c in channel.calls if c[0] == "stream_file"]
    assert one_by_one[2:9] == [f"rabta/{p}" for p in VISIT[:-1]], one_by_one
    assert f"prompt {missing}: cannot play it" in caplog.text
    assert saved.answers[0] == ("visit_confirmed", "1")
    assert saved.rows[0].prompts == VISIT  # the answer names the fragments tried one by one


async def test_no_confirmation_without_fragments_or_when_the_survey_does_not_ask() -> None:
    _, channel, _, _, _ = await run(["4", "2"])
    assert "visit-confirm" not in channel.prompts()
    quiet = inline('''
id = "quiet"
version = 1
services = ["x"]
[[questions]]
id = "rating"
prompt = "rating"
keys = { "1" = "a" }
''')
    assert not quiet.confirm_visit
    _, channel, _, _, _ = await run(["1"], survey=quiet, visit=VISIT)
    assert channel.asked() == ["rating"]


@pytest.mark.parametrize(
    ("keys", "expected", "menus"),
    [(["1"], "ur", 1), (["2"], "pa", 1), (["3"], "en", 1), (["4", "3"], "en", 2),
     (["", "1"], "ur", 2), (["", ""], None, 2), (["9", "#"], None, 2)],
)
async def test_choose_language(keys: Script, expected: str | None, menus: int) -> None:
    channel = FakeChannel(keys)
    assert await choose_language(channel, tries=2, timeout_s=4.0) == expected
    assert channel.keys == []
    assert channel.prompts() == ["language-menu"] * 3 * menus
    langs = [c[2] for c in channel.calls if c[0] == "set_variable"]
    assert langs == ["ur", "pa", "en"] * menus


async def test_choose_language_key_during_the_urdu_option() -> None:
    channel = FakeChannel([], press_during={"rabta/language-menu": "1"})
    assert await choose_language(channel) == "ur"
    assert channel.prompts() == ["language-menu"]  # Punjabi and English options never played

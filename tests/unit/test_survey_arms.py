"""A survey reading its randomised arm: a definition names a greeting per arm of an experiment,
`survey check` refuses what cannot play, and a call plays the greeting of its transaction's
stored arm (SurveySessions over a real store and the fake channel)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flowfakes import FakeChannel

from ivr.accountability import arms
from ivr.accountability.arms import parse_experiment
from ivr.calls import CallRegistry
from ivr.config import Settings
from ivr.errors import InputError
from ivr.flows import definitions
from ivr.flows.definitions import SurveyBook, known_prompts, load_surveys, parse_survey
from ivr.flows.session import SurveySessions
from ivr.models import Transaction
from ivr.store import SQLiteStore

T0 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)

BASE = """id = "police"
version = 1
services = ["police"]
intro = ["greeting", "optout-hint"]
{extra}
[[questions]]
id = "rating"
prompt = "rating"
keys = {{ "1" = "bad", "5" = "good" }}
"""


def parse(extra: str) -> tuple[definitions.Survey | None, list[str]]:
    survey, problems = parse_survey(BASE.format(extra=extra), "police.toml", known_prompts())
    return survey, [p.message for p in problems]


def test_the_arm_picks_the_greeting_and_the_rest_of_the_intro_stays() -> None:
    survey, problems = parse('greeting_experiment = "greeting"\n'
                             'greeting_arms = { formal = "greeting", warm = "thanks" }')
    assert problems == [] and survey is not None
    assert survey.intro_for({"greeting": "warm"}) == ("thanks", "optout-hint")
    assert survey.intro_for({"greeting": "formal"}) == ("greeting", "optout-hint")
    assert survey.intro_for({}) == survey.intro  # entered before the experiment
    assert survey.intro_for({"greeting": "loud"}) == survey.intro  # an arm with no greeting
    assert survey.intro_for({"other": "warm"}) == survey.intro
    assert "thanks" in survey.prompt_ids()
    plain, _ = parse("")
    assert plain is not None and plain.intro_for({"greeting": "warm"}) == plain.intro


@pytest.mark.parametrize(("extra", "says"), [
    ('greeting_experiment = "greeting"\ngreeting_arms = { warm = "greeting-warm" }',
     "unknown prompt 'greeting-warm' in greeting_arms.warm"),
    ('greeting_experiment = "greeting"', "needs `greeting_arms`"),
    ('greeting_arms = { warm = "thanks" }', "missing `greeting_experiment`"),
    ('greeting_experiment = "Greeting!"\ngreeting_arms = { warm = "thanks" }', "lower case"),
    ('greeting_experiment = "first_call"\ngreeting_arms = { warm = "thanks" }', "call delays"),
    ('greeting_experiment = "greeting"\ngreeting_arms = { "w a" = "thanks" }', "arm 'w a'"),
    ('greeting_experiment = "greeting"\ngreeting_arms = {}', "must be a table"),
    ('greeting_experiment = "greeting"\ngreeting_arms = { warm = 3 }', "must be a prompt id"),
])
def test_survey_check_refuses_arms_that_cannot_play(extra: str, says: str) -> None:
    survey, problems = parse(extra)
    assert survey is None and any(says in p for p in problems), problems


def test_names_are_checked_as_rabta_experiments_checks_them() -> None:
    for name in ["greeting", "g2_x", "a" * 40, "A", "2g", "a" * 41, "g-x"]:
        try:
            parse_experiment(name, ["a", "b"])
            ok = True
        except InputError:
            ok = False
        assert ok is bool(definitions.EXPERIMENT_NAME.fullmatch(name)), name
    for arm in ["warm", "2h", "a.b-c_d", "-x", "w a", "x" * 41]:
        try:
            parse_experiment("g", ["control", arm])
            ok = True
        except InputError:
            ok = False
        assert ok is bool(definitions.ARM_NAME.fullmatch(arm)), arm


async def test_each_call_plays_its_transactions_greeting(store: SQLiteStore,
                                                         tmp_path: Path) -> None:
    book = load_surveys()
    police = replace(book.surveys["police"], greeting_experiment="greeting",
                     greeting_arms={"formal": "greeting", "warm": "thanks"})
    surveys = SurveyBook({**book.surveys, "police": police})
    await store.start_experiment(arms.Experiment("greeting", ("formal", "warm")), T0)
    txs = [Transaction(office="Police Station Gulberg", ref=f"R{i}", name="Ali",
                       mobile=f"+92300123456{i}", service="police", district="Lahore",
                       official="Bilal", visited_at=T0.replace(hour=1), language="ur")
           for i in range(3)]
    await store.add_transactions(txs, T0)
    stored = [await store.transaction(t.office, t.ref) for t in txs]
    ids = [s.id for s in stored if s is not None and s.id is not None]
    assert [(await store.arms_of(i)).keys() for i in ids] == [{"greeting"}] * 3  # at intake
    # the draw is random: set the arms this test needs, as the intake would have stored them
    await store._tx([("UPDATE transaction_arms SET arm = ? WHERE transaction_id = ?",
                      (arm, i)) for arm, i in zip(("formal", "warm"), ids, strict=False)]
                    + [("DELETE FROM transaction_arms WHERE transaction_id = ?", (ids[2],))])
    sessions = SurveySessions(store, Settings(home=tmp_path, early_key_s=0), CallRegistry(),
                              surveys=surveys, clock=lambda: T0)
    played = {}
    for attempt in await store.claim_due(T0, 3):
        channel = FakeChannel(["1", "4", "2"], args=[str(attempt.id)])
        await sessions(channel)
        played[attempt.transaction_id] = channel.prompts()[:2]
    assert played[ids[0]] == ["greeting", "optout-hint"]  # formal
    assert played[ids[1]] == ["thanks", "optout-hint"]  # warm: its greeting, the rest as written
    assert played[ids[2]] == ["greeting", "optout-hint"]  # no arm: the intro as written


def test_greeting_arms_against_the_experiment_started() -> None:
    survey, _ = parse('greeting_experiment = "greeting"\n'
                      'greeting_arms = { formal = "greeting", Warm = "thanks" }')
    assert survey is not None
    assert definitions.arm_problems(survey, {}) == []  # not started yet: no problem
    assert definitions.arm_problems(survey, {"greeting": ["formal", "Warm"]}) == []
    problems = [str(p) for p in definitions.arm_problems(survey, {"greeting": ["formal", "warm"]})]
    assert problems == [
        "police.toml:6: arm 'warm' of experiment 'greeting' has no greeting in greeting_arms",
        "police.toml:6: greeting_arms.Warm: experiment 'greeting' has no arm 'Warm' "
        "(its arms: formal, warm)"]


def test_survey_check_reads_the_experiments_started(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio
    import os
    import signal

    from ivr import cli
    from ivr.store import open_store
    for var in [v for v in os.environ if v.startswith("RABTA_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("RABTA_HOME", str(tmp_path))
    old_term = signal.getsignal(signal.SIGTERM)
    police = tmp_path / "police.toml"
    police.write_text(BASE.format(extra='greeting_experiment = "greeting"\n'
                                        'greeting_arms = { formal = "greeting", warm = "thanks" }'))
    try:
        assert cli.main(["survey", "check", str(police)]) == 0  # no database: files only
        assert not (tmp_path / "rabta.db").exists()  # and none was made

        async def start(arms_: tuple[str, ...]) -> None:
            store = await open_store(tmp_path / "rabta.db")
            await store.start_experiment(arms.Experiment("greeting", arms_), T0)
            await store.close()
        asyncio.run(start(("formal", "warm", "short")))
        capsys.readouterr()
        assert cli.main(["survey", "check", str(police)]) == 1
        assert "arm 'short' of experiment 'greeting' has no greeting" in capsys.readouterr().out
    finally:
        signal.signal(signal.SIGTERM, old_term)

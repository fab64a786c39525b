"""SurveySessions against a real store: survey per service, stamped answers, opt-out, hang-ups."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from flowfakes import HANGUP, FakeChannel, Script

from ivr.calls import CallRegistry
from ivr.config import Settings
from ivr.flows.session import SurveySessions
from ivr.models import Transaction, TxStatus
from ivr.store import SQLiteStore
from scheduler import policy

T0 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
MOBILE = "+923001234567"
# The visit (01:00 UTC = 06:00 in Karachi, 28 November) confirmed in Urdu: date first, verb last.
VISIT_UR = ["visit-intro", "date/day-28", "date/month-11", "visit-on",
            "office/police-station-gulberg", "service/police", "visit-for", "visit-confirm"]


async def call(store: SQLiteStore, tmp_path: Path, keys: Script, *, service: str = "police",
               language: str | None = "ur", **fake: object) -> tuple[int, FakeChannel]:
    """Add one transaction, claim it, and run its survey session over a fake channel."""
    tx = Transaction(office="Police Station Gulberg", ref="R1", name="Ali", mobile=MOBILE,
                     service=service, district="Lahore", official="Bilal",
                     visited_at=T0.replace(hour=1), language=language)
    await store.add_transactions([tx], T0)
    [attempt] = await store.claim_due(T0, 1)
    sessions = SurveySessions(
        # early_key_s=0: the fake channel answers at once, which the early-key rule (tested in
        # test_survey_flow) would take for late keys.
        store, Settings(home=tmp_path, early_key_s=0), CallRegistry(), clock=lambda: T0,
        next_step=lambda result, attempts, callbacks, now: policy.after_survey(
            result, attempts, callbacks, now, policy.RetryRules()))
    channel = FakeChannel(keys, args=[str(attempt.id)], **fake)  # type: ignore[arg-type]
    await sessions(channel)
    return attempt.id, channel


async def status(store: SQLiteStore) -> TxStatus:
    tx = await store.transaction("Police Station Gulberg", "R1")
    assert tx is not None
    return tx.status


async def test_answers_are_stamped_with_survey_version_and_prompts(
        store: SQLiteStore, tmp_path: Path) -> None:
    attempt, channel = await call(store, tmp_path, ["1", "7", "4", "", "2"])
    rows = await store.answer_rows(attempt)
    assert [(r["question"], r["value"], r["survey"], r["survey_version"], r["prompts"])
            for r in rows] == [
        ("visit_confirmed", "1", "police", 2, VISIT_UR),
        ("rating", "4", "police", 2, ["rating", "invalid", "rating"]),
        ("bribe", "2", "police", 2, ["bribe", "bribe"]),
    ]
    assert await status(store) is TxStatus.COMPLETED
    assert ("hangup",) not in channel.calls  # the dialplan's Hangup() follows the AGI: no round trip
    [a] = await store.attempts_of((await store.transaction("Police Station Gulberg", "R1")).id)  # type: ignore[union-attr]
    assert a["result"] == "completed"


@pytest.mark.parametrize(
    ("service", "survey", "rating_prompt"),
    [("health", "health", "rating-health"), ("property_registration", "land_revenue", "rating-land"),
     ("pension", "pension", "rating-pension"), ("domicile", "default", "rating")],
)
async def test_the_survey_is_picked_by_service(store: SQLiteStore, tmp_path: Path, service: str,
                                               survey: str, rating_prompt: str) -> None:
    attempt, channel = await call(store, tmp_path, ["1", "4", "2"], service=service)
    assert channel.asked() == ["visit-confirm", rating_prompt, "bribe"]
    assert {r["survey"] for r in await store.answer_rows(attempt)} == {survey}


async def test_opt_out_key_puts_the_number_on_the_do_not_call_list(
        store: SQLiteStore, tmp_path: Path) -> None:
    attempt, channel = await call(store, tmp_path, ["1", "4", "9"])
    [entry] = await store.dnc_list()
    assert (entry["number"], entry["source"]) == (MOBILE, "optout")
    assert entry["note"] == "survey opt-out (police v2)"
    assert await status(store) is TxStatus.OPTED_OUT  # final: no call-back
    assert await store.answers_for_attempt(attempt) == {"visit_confirmed": "1", "rating": "4"}
    assert channel.prompts()[-1] == "optout-confirm"


async def test_opt_out_when_already_on_the_list(store: SQLiteStore, tmp_path: Path) -> None:
    attempt, _ = await call(store, tmp_path, ["1", "4", "2"])
    # Listed by an operator while the citizen was on the line: the opt-out changes nothing.
    await store.dnc_add([MOBILE], "admin", T0, note="asked by phone")
    assert await store.dnc_add_for_attempt(attempt, "optout", T0) is False
    assert await store.dnc_add_for_attempt(10**6, "optout", T0) is False  # no such attempt
    assert [e["source"] for e in await store.dnc_list()] == ["admin"]


@pytest.mark.parametrize(
    ("keys", "answers", "final"),
    [
        ([HANGUP], {}, TxStatus.SCHEDULED),  # unfinished: its one call-back
        (["1", HANGUP], {"visit_confirmed": "1"}, TxStatus.SCHEDULED),
        (["1", "4", HANGUP], {"visit_confirmed": "1", "rating": "4"}, TxStatus.SCHEDULED),
        (["1", "4", "1", HANGUP], {"visit_confirmed": "1", "rating": "4", "bribe": "1"},
         TxStatus.COMPLETED),
    ],
)
async def test_hang_up_keeps_the_answers_given(store: SQLiteStore, tmp_path: Path, keys: Script,
                                               answers: dict[str, str], final: TxStatus) -> None:
    attempt, _ = await call(store, tmp_path, keys)
    assert await store.answers_for_attempt(attempt) == answers
    assert await status(store) is final


async def test_recorded_complaint_is_stored_with_its_file(store: SQLiteStore,
                                                          tmp_path: Path) -> None:
    attempt, channel = await call(store, tmp_path, ["1", "3", "1", "2", "1"])
    rows = {r["question"]: r for r in await store.answer_rows(attempt)}
    assert rows["complaint"]["value"] == f"/var/spool/rabta/rabta-pbx/rabta-{attempt}-complaint.wav"
    assert rows["complaint"]["prompts"] == ["complaint-record"]
    assert await status(store) is TxStatus.COMPLETED
    assert any(c[0] == "record" for c in channel.calls)


async def test_not_me_closes_the_transaction_for_good(store: SQLiteStore, tmp_path: Path) -> None:
    attempt, channel = await call(store, tmp_path, ["2"])
    assert await store.answers_for_attempt(attempt) == {"visit_confirmed": "2"}
    tx = await store.transaction("Police Station Gulberg", "R1")
    assert tx is not None and tx.status is TxStatus.UNREACHABLE  # final: no call-back
    [row] = [r for r in await store.results() if r["ref"] == "R1"]
    assert row["closed_reason"] == "not_me"
    [a] = await store.attempts_of(tx.id)  # type: ignore[arg-type]
    assert a["result"] == "unreachable"
    assert channel.prompts()[-1] == "visit-not-me"
    assert channel.asked() == ["visit-confirm"]
    assert await store.claim_due(T0.replace(hour=23), 10) == []  # never called again
    assert await store.dnc_list() == []  # the number is not barred: it may be right for others


async def test_silent_confirmation_goes_on_with_the_questions(store: SQLiteStore,
                                                              tmp_path: Path) -> None:
    attempt, channel = await call(store, tmp_path, ["", "", "4", "2"])
    assert channel.asked() == ["visit-confirm", "visit-confirm", "rating", "bribe"]
    assert await store.answers_for_attempt(attempt) == {"rating": "4", "bribe": "2"}
    assert await status(store) is TxStatus.COMPLETED


@pytest.mark.parametrize(
    ("keys", "language", "stored"),
    [
        (["3"], "en", "en"),
        (["2"], "pa", "pa"),
        (["7", "1"], "ur", "ur"),  # invalid, asked again
        (["", "3"], "en", "en"),  # silence, asked again
        (["7", ""], "ur", None),  # no choice: the default language, nothing stored
    ],
)
async def test_language_is_asked_when_the_transaction_has_none(
        store: SQLiteStore, tmp_path: Path, keys: Script, language: str,
        stored: str | None) -> None:
    _, channel = await call(store, tmp_path, [*keys, "1", "4", "2"], language=None)
    menu = [c for c in channel.calls if c[0] in ("stream_file", "get_digits")
            and c[1] == "rabta/language-menu"]
    assert len(menu) == 3 * (len(keys))  # once per language per try
    languages = [c[2] for c in channel.calls if c[0] == "set_variable" and c[1] == "CHANNEL(language)"]
    assert languages == ["ur", "pa", "en"] * len(keys) + [language]
    tx = await store.transaction("Police Station Gulberg", "R1")
    assert tx is not None and tx.language == stored
    assert tx.status is TxStatus.COMPLETED
    if language == "en":  # the confirmation follows the chosen language's word order
        assert channel.prompts()[-11:] == [
            "visit-intro", "office/police-station-gulberg", "visit-on", "date/day-28",
            "date/month-11", "visit-for", "service/police", "visit-confirm", "rating", "bribe",
            "thanks"]


async def test_a_transaction_with_a_language_is_not_asked(store: SQLiteStore,
                                                          tmp_path: Path) -> None:
    _, channel = await call(store, tmp_path, ["1", "4", "2"], language="pa")
    assert "language-menu" not in channel.prompts()

"""End to end, every bundled survey on the real Asterisk, in Urdu and English.

Phone book citizens (the carrier simulator) drive each survey definition through the real PBX
and our FastAGI flow, all in one engine run (max_concurrent 20): every branch, an invalid key
then a valid one, silence then an answer, the replay key, the opt-out key (the number lands on
the do-not-call list, and a second transaction for it is never dialled: the carrier's CDRs
show one call), "not me" (closed for good, one call), a hang-up in every question (answers
given are kept; unfinished surveys get their one call-back), the language menu for
transactions without a language, and recorded complaints: the stored file is real audio
(the citizen "speaks" with the phone book key `p`), loud by `sox stat`, while a citizen who
stays silent leaves a silent (empty: Asterisk trims silence) file. The store must say
exactly what each script did.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from support import (
    Citizen,
    carrier_cdr_counts,
    install_phonebook,
    run_until_idle,
    wait_carrier_idle,
)

from ivr import phone
from ivr.config import Settings
from ivr.lab import rootfs
from ivr.models import Transaction
from ivr.store import SQLiteStore

C, P, U, OPT = "completed", "partial", "unreachable", "opted_out"
LOUD_RMS = 0.02  # a spoken complaint: tt-weasels through a phone call is around 0.1
QUIET_RMS = 0.005  # a silent one: digital silence over loopback RTP is 0
# survey id -> (a service it takes, an office with a recorded name or None, the follow-up
# questions after bribe = yes with the key to press, before the complaint offer)
SURVEYS: dict[str, tuple[str, str, list[tuple[str, str]]]] = {
    "default": ("domicile", "Union Council 7 Lahore", [("bribe_amount", "2")]),
    "police": ("police", "Police Station Gulberg", [("bribe_amount", "3")]),
    "health": ("health", "Nishtar Hospital Multan", [("bribe_who", "1")]),
    "land_revenue": ("property_registration", "Registry Office Rawalpindi",
                     [("bribe_amount", "4"), ("bribe_who", "2")]),
    "pension": ("pension", "Pension Office Multan", [("bribe_amount", "1")]),
}
BOTH, UR, EN = ("ur", "en"), ("ur",), ("en",)
RATING_PROMPT = {"default": "rating", "police": "rating", "health": "rating-health",
                 "land_revenue": "rating-land", "pension": "rating-pension"}


@dataclass
class Case:
    """One scripted call and what the store must hold afterwards."""

    name: str
    survey: str
    language: str | None  # the transaction's; None: the call asks
    keys: str
    status: str
    answers: dict[str, str]
    attempts: int = 1
    closed_reason: str | None = None
    stored_language: str | None = None  # after the call (None: as given)
    recording: str = ""  # "loud" | "quiet": the complaint file's audio
    again: bool = False  # a second transaction for the same number (after an opt-out)


def keys(*presses: str, tail: str = "") -> str:
    """Return a script that waits for each prompt to end before each key, then `tail`."""
    return "".join(f"s{k}" for k in presses) + tail


def cases() -> list[Case]:
    """Every case, for every bundled survey."""
    out: list[Case] = []
    ok = {"visit_confirmed": "1"}
    for n, (sid, (_, _, follow)) in enumerate(SURVEYS.items()):
        one = UR if n % 2 else EN  # the cases run in one language alternate between surveys
        other = EN if n % 2 else UR
        fkeys = [k for _, k in follow]
        fans = dict(follow)
        for lang in BOTH:
            out += [
                Case("bribe no", sid, lang, keys("1", "4", "2"), C,
                     {**ok, "rating": "4", "bribe": "2"}),
                Case("complaint", sid, lang, keys("1", "3", "1", *fkeys, "1", tail="sp#"), C,
                     {**ok, "rating": "3", "bribe": "1", **fans, "complaint_offer": "1"},
                     recording="loud"),
                Case("opt-out", sid, lang, keys("1", "4", "9"), OPT, {**ok, "rating": "4"},
                     again=True),
                Case("not me", sid, lang, keys("2"), U, {"visit_confirmed": "2"},
                     closed_reason="not_me"),
            ]
        out += [
            Case("no complaint", sid, one[0], keys("1", "2", "1", *fkeys, "2"), C,
                 {**ok, "rating": "2", "bribe": "1", **fans, "complaint_offer": "2"}),
            Case("silent complaint", sid, other[0], keys("1", "2", "1", *fkeys, "1", tail="sw#"),
                 C, {**ok, "rating": "2", "bribe": "1", **fans, "complaint_offer": "1"},
                 recording="quiet"),
            Case("invalid then valid", sid, one[0], keys("1", "7", "5", "2"), C,
                 {**ok, "rating": "5", "bribe": "2"}),
            Case("silence then answer", sid, other[0], "s1swwwwws5s2", C,
                 {**ok, "rating": "5", "bribe": "2"}),
            Case("replay", sid, one[0], keys("1", "*", "1", "2"), C,
                 {**ok, "rating": "1", "bribe": "2"}),
        ]
        # A hang-up in every question, along the longest way: partial ones get a call-back
        # (the same script, so 2 attempts); after the core questions the survey is complete.
        way = [("visit_confirmed", "1"), ("rating", "3"), ("bribe", "1"), *follow,
               ("complaint_offer", "1")]
        for i, (qid, _) in enumerate(way):
            given = dict(way[:i])
            status = C if "bribe" in given else P
            out.append(Case(f"hang-up in {qid}", sid, one[0] if i % 2 else other[0],
                            keys(*[k for _, k in way[:i]], tail="sh"), status, given,
                            attempts=1 if status == C else 2))
        out.append(Case("hang-up while recording", sid, one[0],
                        keys(*[k for _, k in way], tail="sph"), C, dict(way), recording="loud"))
    # The language menu (no language on the transaction): 1 Urdu, 2 Punjabi, 3 English.
    out += [
        Case("language en", "police", None, keys("3", "1", "4", "2"), C,
             {**ok, "rating": "4", "bribe": "2"}, stored_language="en"),
        Case("language pa", "health", None, keys("2", "1", "4", "2"), C,
             {**ok, "rating": "4", "bribe": "2"}, stored_language="pa"),
        Case("language ur", "pension", None, keys("1", "1", "4", "2"), C,
             {**ok, "rating": "4", "bribe": "2"}, stored_language="ur"),
        Case("language invalid twice", "default", None, keys("7", "8", "1", "4", "2"), C,
             {**ok, "rating": "4", "bribe": "2"}, stored_language=None),
    ]
    return out


CASES = cases()


def transaction(case: Case, i: int, number: str, visited: datetime, ref: str = "") -> Transaction:
    service, office, _ = SURVEYS[case.survey]
    return Transaction(office=office, ref=ref or f"sv-{i:03d}", name="", mobile=number,
                       service=service, district="Lahore", official=f"official-{i % 3}",
                       visited_at=visited, language=case.language)


def rms(path: Path) -> tuple[float, float]:
    """Return (RMS amplitude, seconds) of a sound file, by `sox FILE -n stat`.

    A file with no samples is (0, 0): Asterisk trims silence off a recording, so a citizen
    who says nothing leaves an empty wav.
    """
    out = subprocess.run(["sox", str(path), "-n", "stat"], capture_output=True, text=True,
                         check=True).stderr
    if re.search(r"Samples read:\s+0\n", out):
        return 0.0, 0.0
    amp = re.search(r"RMS\s+amplitude:\s+([0-9.]+)", out)
    length = re.search(r"Length \(seconds\):\s+([0-9.]+)", out)
    assert amp and length, out
    return float(amp[1]), float(length[1])


async def test_every_bundled_survey_end_to_end(node_settings: Settings,
                                               store: SQLiteStore) -> None:
    numbers = [f"0305{i:07d}" for i in range(len(CASES))]
    assert len(CASES) >= 100 and {c.survey for c in CASES} == set(SURVEYS)
    install_phonebook(node_settings, [Citizen(n, "answer", c.keys)
                                      for n, c in zip(numbers, CASES, strict=True)])
    visited = datetime.now(UTC) - timedelta(hours=3)
    txs = [transaction(c, i, phone.normalize(n), visited)
           for i, (n, c) in enumerate(zip(numbers, CASES, strict=True))]
    # After an opt-out: another visit by the same citizen, due at the same time.
    again = {i: transaction(c, i, txs[i].mobile, visited + timedelta(minutes=1), f"sv-{i:03d}-again")
             for i, c in enumerate(CASES) if c.again}
    assert await store.add_transactions([*txs, *again.values()], visited) == (
        len(txs) + len(again), 0)
    before = carrier_cdr_counts(node_settings)
    day = visited.astimezone(ZoneInfo(node_settings.timezone)).date()

    engine = await run_until_idle(node_settings, store, timeout=1200)
    wait_carrier_idle(node_settings)

    after = carrier_cdr_counts(node_settings)
    results = {r["ref"]: r for r in await store.results()}
    dnc = {d["number"]: d for d in await store.dnc_list()}
    problems: list[str] = []
    loud: list[float] = []
    quiet: list[float] = []
    for i, (case, tx) in enumerate(zip(CASES, txs, strict=True)):
        who = f"{case.survey} / {case.name} / {case.language} ({case.keys})"
        got = results[tx.ref]
        answers = dict(got["answers"])
        complaint = answers.pop("complaint", None)
        want = {"status": case.status, "attempts": case.attempts, "answers": case.answers,
                "closed_reason": case.closed_reason,
                "language": case.stored_language if case.language is None else case.language}
        have = {k: (answers if k == "answers" else got[k]) for k in want}
        if have != want:
            problems.append(f"{who}: expected {want}, got {have}")
        dialled = after[phone.digits(tx.mobile)] - before[phone.digits(tx.mobile)]
        if dialled != case.attempts:
            problems.append(f"{who}: the carrier saw {dialled} call(s), the store {case.attempts}")
        stored = await store.transaction(tx.office, tx.ref)
        assert stored is not None and stored.id is not None
        rows = [r for a in await store.attempts_of(stored.id)
                for r in await store.answer_rows(a["id"])]
        stamps = {(r["survey"], r["survey_version"]) for r in rows}
        if rows and stamps != {(case.survey, 2)}:
            problems.append(f"{who}: answers stamped {stamps}")
        played = {r["question"]: r["prompts"] for r in rows}
        asked = RATING_PROMPT[case.survey]
        expected_prompts = {"invalid then valid": [asked, "invalid", asked],
                            "silence then answer": [asked, asked], "replay": [asked, asked]}
        if case.name in expected_prompts and played.get("rating") != expected_prompts[case.name]:
            problems.append(f"{who}: rating prompts {played.get('rating')}")
        sentence = played.get("visit_confirmed", [])
        if sentence:  # the visit's date, in the language's word order
            lang = case.language or case.stored_language or node_settings.default_language
            # default: an office and a service without fragments ("our office", no service)
            office, words = ("visit-our-office", 6) if case.survey == "default" else ("office/", 8)
            if (len(sentence) != words or sentence[-1] != "visit-confirm"
                    or (lang == "en") != sentence[1].startswith(office)
                    or not {f"date/day-{day.day}", f"date/month-{day.month}"} <= set(sentence)):
                problems.append(f"{who}: the confirmation in {lang} was {sentence}")
        if case.status == OPT and (tx.mobile not in dnc or dnc[tx.mobile]["source"] != "optout"):
            problems.append(f"{who}: not on the do-not-call list")
        if case.status != OPT and tx.mobile in dnc:
            problems.append(f"{who}: on the do-not-call list")
        if i in again:
            second = results[again[i].ref]
            if (second["status"], second["closed_reason"], second["attempts"]) != (OPT, "dnc", 0):
                problems.append(f"{who}: the second transaction was {second}")
        if case.recording:
            if complaint is None:
                problems.append(f"{who}: no complaint recorded")
                continue
            assert complaint.endswith("-complaint.wav"), complaint
            path = rootfs.resolve_inside(node_settings.rootfs, complaint)
            if not path.is_file():
                problems.append(f"{who}: recording {complaint} is not at {path}")
                continue
            level, seconds = rms(path)
            (loud if case.recording == "loud" else quiet).append(level)
            if case.recording == "loud" and not (level > LOUD_RMS and seconds >= 2.0):
                problems.append(f"{who}: the recording is silent or short: RMS {level}, {seconds} s")
            if case.recording == "quiet" and not level < QUIET_RMS:
                problems.append(f"{who}: a silent citizen's recording has RMS {level}")
        elif complaint is not None:
            problems.append(f"{who}: unexpected recording {complaint}")
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)
    assert len(loud) == 3 * len(SURVEYS) and len(quiet) == len(SURVEYS)
    assert min(loud) > 10 * max(quiet)
    assert engine.agi.stats.errors == 0

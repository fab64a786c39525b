"""Protocol tier: the one Reason/cause -> Outcome mapping, against a transcript recorded from the
real Asterisk 22 (PBX) dialling the carrier simulator (busy, congestion, reject, no answer with a
480, ring timeout, answered). Recorded with tests/data/ami_originate_outcomes.txt's phone book:
attempt 100 busy, 101 congestion, 102 reject, 103 no_answer (480 after 2 s), 104 not in book
(rings until our 5 s timeout), 105 answered.
"""

from pathlib import Path

import pytest
from panoramisk.message import Message

from ivr.asterisk.ami import attempt_of, outcome_from
from ivr.models import Outcome

TRANSCRIPT = Path(__file__).parents[1] / "data" / "ami_originate_outcomes.txt"
EXPECTED = {
    100: Outcome.BUSY,
    101: Outcome.CONGESTION,
    102: Outcome.REJECTED,
    103: Outcome.NO_ANSWER,
    104: Outcome.NO_ANSWER,
    105: Outcome.ANSWERED,
}


def _messages() -> list[Message]:
    text = TRANSCRIPT.read_bytes().decode()  # keep the wire's CRLF
    return [m for block in text.split("\r\n\r\n") if (m := Message.from_line(block.strip()))]


def test_transcript_outcomes_match_what_the_phone_book_scripted() -> None:
    reasons: dict[int, int] = {}
    causes: dict[int, int] = {}
    for m in _messages():
        if m.get("Event") == "OriginateResponse":
            reasons[int(m["ActionID"].rsplit("-", 1)[1])] = int(m["Reason"])
        elif m.get("Event") == "Hangup":
            attempt = attempt_of(m)
            assert attempt is not None
            causes[attempt] = int(m["Cause"])
    assert set(reasons) == set(EXPECTED)
    got = {a: outcome_from(reasons[a], causes.get(a)) for a in reasons}
    assert got == EXPECTED


@pytest.mark.parametrize(
    ("reason", "cause", "expected"),
    [
        (4, None, Outcome.ANSWERED),
        (4, 16, Outcome.ANSWERED),  # answered then hung up normally: still answered
        (5, None, Outcome.BUSY),
        (0, 17, Outcome.BUSY),  # Asterisk 22 PJSIP reports 486 as Reason 0 + cause 17
        (8, None, Outcome.CONGESTION),
        (0, 34, Outcome.CONGESTION),
        (3, None, Outcome.NO_ANSWER),
        (0, 19, Outcome.NO_ANSWER),
        (0, 21, Outcome.REJECTED),
        (1, None, Outcome.REJECTED),
        (1, 16, Outcome.REJECTED),
        (0, 1, Outcome.FAILED),
        (0, None, Outcome.FAILED),
        (None, None, Outcome.FAILED),
        (0, 99, Outcome.FAILED),
    ],
)
def test_outcome_table(reason: int | None, cause: int | None, expected: Outcome) -> None:
    assert outcome_from(reason, cause) is expected


def test_attempt_of_reads_one_or_many_chan_variables() -> None:
    assert attempt_of({"ChanVariable": "RABTA_ATTEMPT=42"}) == 42
    assert attempt_of({"ChanVariable": ["FOO=1", "RABTA_ATTEMPT=7"]}) == 7
    assert attempt_of({"ChanVariable": "RABTA_ATTEMPT="}) is None
    assert attempt_of({}) is None

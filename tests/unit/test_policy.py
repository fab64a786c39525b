"""scheduler.policy: the calling window in Asia/Karachi (UTC+5, no DST) and the retry rule."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone

import pytest

from ivr.models import Outcome, TxStatus
from scheduler.policy import after_attempt, in_calling_window, next_window_start, parse_window

PKT = "Asia/Karachi"
DAY = "09:00-20:00"
ALWAYS = "00:00-24:00"


def utc(text: str) -> datetime:
    """'2026-11-28 03:59' -> that moment in UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("09:00-20:00", (time(9), time(20))),
        (" 09:00 - 20:00 ", (time(9), time(20))),
        ("00:00-24:00", (time(0), None)),
        ("08:30-24:00:00", (time(8, 30), None)),
        ("09:00:30-20:00", (time(9, 0, 30), time(20))),
    ],
)
def test_parse_window(spec: str, expected: tuple[time, time | None]) -> None:
    assert parse_window(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "not a window"),
        ("09:00", "not a window"),
        ("9-20", "not a window"),
        ("09:00-20:00-21:00", "not a window"),
        ("25:00-26:00", "not a window"),
        ("09:60-10:00", "not a window"),
        ("24:00-24:00", "not a window"),
        ("nine-five", "not a window"),
        ("20:00-09:00", "must end after it starts"),
        ("09:00-09:00", "must end after it starts"),
        ("00:00-00:00", "must end after it starts"),
    ],
)
def test_parse_window_rejects(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_window(spec)


@pytest.mark.parametrize(
    ("now", "window", "inside"),
    [
        ("2026-11-28 03:59:59", DAY, False),  # 08:59:59 PKT
        ("2026-11-28 04:00:00", DAY, True),   # 09:00 PKT opens
        ("2026-11-28 10:00:00", DAY, True),
        ("2026-11-28 14:59:59", DAY, True),   # 19:59:59 PKT
        ("2026-11-28 15:00:00", DAY, False),  # 20:00 PKT closes
        ("2026-11-28 19:00:00", DAY, False),  # midnight PKT
        ("2026-11-28 18:59:59", ALWAYS, True),  # 23:59:59 PKT
        ("2026-11-28 19:00:00", ALWAYS, True),  # 00:00 PKT, next day
        ("2026-11-28 04:00:00", ALWAYS, True),
        ("2026-06-15 12:00:00", ALWAYS, True),
    ],
)
def test_in_calling_window(now: str, window: str, inside: bool) -> None:
    assert in_calling_window(utc(now), window, PKT) is inside


def test_in_calling_window_defaults_to_karachi() -> None:
    assert in_calling_window(utc("2026-11-28 04:00"), DAY) is True
    assert in_calling_window(utc("2026-11-28 03:59"), DAY) is False


def test_in_calling_window_other_offset_same_instant() -> None:
    # 09:30 in Karachi written as 06:30+02:00: the instant counts, not the wall clock given.
    now = datetime(2026, 11, 28, 6, 30, tzinfo=timezone(timedelta(hours=2)))
    assert in_calling_window(now, DAY, PKT) is True


@pytest.mark.parametrize(
    ("now", "window", "expected"),
    [
        ("2026-11-28 10:00", DAY, "2026-11-28 10:00"),  # inside: now
        ("2026-11-28 04:00", DAY, "2026-11-28 04:00"),  # exactly at opening: now
        ("2026-11-28 01:00", DAY, "2026-11-28 04:00"),  # 06:00 PKT: opens later today
        ("2026-11-28 15:00", DAY, "2026-11-29 04:00"),  # 20:00 PKT: tomorrow 09:00 PKT
        ("2026-11-28 18:30", DAY, "2026-11-29 04:00"),  # 23:30 PKT
        ("2026-11-28 19:30", DAY, "2026-11-29 04:00"),  # 00:30 PKT on the 29th: same day
        ("2026-12-31 16:00", DAY, "2027-01-01 04:00"),  # across a year
        ("2026-11-28 19:00", ALWAYS, "2026-11-28 19:00"),
    ],
)
def test_next_window_start(now: str, window: str, expected: str) -> None:
    got = next_window_start(utc(now), window, PKT)
    assert got == utc(expected)
    assert in_calling_window(got, window, PKT)
    assert got >= utc(now)


def test_next_window_start_with_seconds_in_the_start() -> None:
    got = next_window_start(utc("2026-11-28 04:00:10"), "09:00:30-20:00", PKT)
    assert got == utc("2026-11-28 04:00:30")


def test_next_window_start_keeps_the_callers_zone() -> None:
    got = next_window_start(utc("2026-11-28 15:00"), DAY, PKT)
    assert got.utcoffset() == timedelta(0)


NOW = utc("2026-11-28 06:00")


@pytest.mark.parametrize("outcome", [Outcome.BUSY, Outcome.NO_ANSWER, Outcome.CONGESTION,
                                     Outcome.FAILED, Outcome.UNKNOWN])
@pytest.mark.parametrize(("attempts", "max_attempts"), [(1, 3), (2, 3), (1, 2)])
def test_after_attempt_retryable_below_max(outcome: Outcome, attempts: int,
                                           max_attempts: int) -> None:
    assert after_attempt(outcome, attempts, NOW, max_attempts=max_attempts, retry_delay=900) == (
        TxStatus.SCHEDULED, NOW + timedelta(seconds=900))


@pytest.mark.parametrize("outcome", [Outcome.BUSY, Outcome.NO_ANSWER, Outcome.CONGESTION,
                                     Outcome.FAILED, Outcome.UNKNOWN])
@pytest.mark.parametrize(("attempts", "max_attempts"), [(3, 3), (4, 3), (1, 1)])
def test_after_attempt_retryable_at_max(outcome: Outcome, attempts: int, max_attempts: int) -> None:
    assert after_attempt(outcome, attempts, NOW, max_attempts=max_attempts, retry_delay=900) == (
        TxStatus.UNREACHABLE, None)


@pytest.mark.parametrize(
    ("outcome", "attempts", "expected"),
    [
        (Outcome.REJECTED, 1, (TxStatus.UNREACHABLE, None)),
        (Outcome.REJECTED, 3, (TxStatus.UNREACHABLE, None)),
        (Outcome.ANSWERED, 1, (TxStatus.IN_CALL, None)),
        (Outcome.ANSWERED, 3, (TxStatus.IN_CALL, None)),
    ],
)
def test_after_attempt_final_outcomes(outcome: Outcome, attempts: int,
                                      expected: tuple[TxStatus, datetime | None]) -> None:
    assert after_attempt(outcome, attempts, NOW, max_attempts=3, retry_delay=900) == expected


def test_after_attempt_uses_fractional_delay() -> None:
    assert after_attempt(Outcome.BUSY, 1, NOW, max_attempts=3, retry_delay=2.5) == (
        TxStatus.SCHEDULED, NOW + timedelta(seconds=2.5))

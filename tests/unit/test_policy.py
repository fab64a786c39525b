"""scheduler.policy: the calling window in Asia/Karachi (UTC+5, no DST), calling rules (service
windows, holidays, quiet periods), retries and call-backs, visit timing, and stratified sampling."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.models import Outcome, TxStatus
from scheduler import policy
from scheduler.policy import (
    CallingRules,
    QuietPeriod,
    RetryRules,
    after_survey,
    expired,
    first_try_at,
    in_calling_window,
    in_cooldown,
    may_call,
    next_allowed,
    next_window_start,
    parse_window,
    retry_after,
    stratified_sample,
)

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
        ("09:00+05:00-20:00", "not a window"),  # an offset would make comparisons blow up
        ("09:00-20:00Z", "not a window"),
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


def after_attempt(outcome: Outcome, attempts: int, now: datetime, *, max_attempts: int,
                  retry_delay: float) -> tuple[TxStatus, datetime | None]:
    """The retry rule with one delay for every outcome (policy.after_attempt is gone)."""
    return retry_after(outcome, attempts, now,
                       RetryRules(max_attempts, {}, default_delay=retry_delay))


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


# --- quiet periods ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("fri 12:30-14:30", QuietPeriod(4, time(12, 30), time(14, 30))),
        ("FRI 12:30-14:30", QuietPeriod(4, time(12, 30), time(14, 30))),
        ("  Fri   12:30-14:30 ", QuietPeriod(4, time(12, 30), time(14, 30))),
        ("friday 12:30-14:30", QuietPeriod(4, time(12, 30), time(14, 30))),
        ("mon 00:00-23:59", QuietPeriod(0, time(0), time(23, 59))),
        ("sun 09:00-09:01", QuietPeriod(6, time(9), time(9, 1))),
        ("sat 09:00:30-10:00", QuietPeriod(5, time(9, 0, 30), time(10))),
    ],
)
def test_quiet_period_parse(spec: str, expected: QuietPeriod) -> None:
    assert QuietPeriod.parse(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "not a weekday and a time range"),
        ("fri", "not a weekday and a time range"),
        ("12:30-14:30", "not a weekday and a time range"),
        ("fri 12:30 - 14:30", "not a weekday and a time range"),
        ("fr 12:30-14:30", "'fr' is not a weekday"),
        ("jum 12:30-14:30", "'jum' is not a weekday"),
        ("5 12:30-14:30", "'5' is not a weekday"),
        ("fri 12:30", "not a time range"),
        ("fri 12:30-14:30-15:00", "not a time range"),
        ("fri 25:00-26:00", "not a time range"),
        ("fri 22:00-24:00", "not a time range"),
        ("fri noon-two", "not a time range"),
        ("fri 12:30Z-14:30Z", "not a time range"),
        ("fri 14:30-12:30", "end must be after the start"),
        ("fri 12:30-12:30", "end must be after the start"),
    ],
)
def test_quiet_period_parse_rejects(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        QuietPeriod.parse(spec)


@pytest.mark.parametrize(
    ("weekday", "start", "end", "message"),
    [
        (7, time(12), time(13), "weekday 7"),
        (-1, time(12), time(13), "weekday -1"),
        (4, time(13), time(12), "must be after"),
        (4, time(13), time(13), "must be after"),
        (4, time(12, tzinfo=UTC), time(13, tzinfo=UTC), "no offset"),
    ],
)
def test_quiet_period_validates(weekday: int, start: time, end: time, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        QuietPeriod(weekday, start, end)


# --- calling rules ------------------------------------------------------------------------------

CHRISTMAS = date(2026, 12, 25)  # a Friday, and Quaid-e-Azam Day
JUMMA = QuietPeriod.parse("fri 12:30-14:30")
RULES = CallingRules(service_windows={"pension": "10:00-16:00"}, blocked_dates=frozenset({CHRISTMAS}),
                     quiet=(JUMMA,))
ALWAYS_RULES = CallingRules(window=ALWAYS, blocked_dates=frozenset({CHRISTMAS}), quiet=(JUMMA,))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window": "20:00-09:00"}, "must end after it starts"),
        ({"window": "always"}, "not a window"),
        ({"service_windows": {"pension": "16:00-10:00"}}, "service window for 'pension'"),
        ({"tz": "Asia/Lahore"}, "not a known time zone"),
        ({"tz": ""}, "not a known time zone"),
    ],
)
def test_calling_rules_validate(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CallingRules(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("now", "service", "rules", "allowed"),
    [
        # 2026-11-28 is a Saturday. Default window 09:00-20:00 PKT = 04:00-15:00Z.
        ("2026-11-28 03:59:59", "license", RULES, False),  # 08:59:59 PKT
        ("2026-11-28 04:00:00", "license", RULES, True),   # 09:00 PKT
        ("2026-11-28 14:59:59", "license", RULES, True),   # 19:59:59 PKT
        ("2026-11-28 15:00:00", "license", RULES, False),  # 20:00 PKT
        # pension overrides the window: 10:00-16:00 PKT = 05:00-11:00Z
        ("2026-11-28 04:00:00", "pension", RULES, False),
        ("2026-11-28 04:59:59", "pension", RULES, False),
        ("2026-11-28 05:00:00", "pension", RULES, True),
        ("2026-11-28 10:59:59", "pension", RULES, True),
        ("2026-11-28 11:00:00", "pension", RULES, False),
        ("2026-11-28 11:00:00", "license", RULES, True),   # others keep the default
        ("2026-11-28 11:00:00", "Pension", RULES, True),   # service names match exactly
        # blocked 2026-12-25 PKT = 2026-12-24 19:00Z .. 2026-12-25 19:00Z
        ("2026-12-24 10:00:00", "license", RULES, True),   # Thursday 24th 15:00 PKT
        ("2026-12-24 18:59:59", "license", ALWAYS_RULES, True),   # 24th 23:59:59 PKT
        ("2026-12-24 19:00:00", "license", ALWAYS_RULES, False),  # 25th 00:00 PKT
        ("2026-12-24 19:30:00", "license", ALWAYS_RULES, False),  # still the 24th in UTC
        ("2026-12-25 04:00:00", "license", RULES, False),  # 25th 09:00 PKT, in the window
        ("2026-12-25 06:00:00", "pension", RULES, False),
        ("2026-12-25 18:59:59", "license", ALWAYS_RULES, False),  # 25th 23:59:59 PKT
        ("2026-12-25 19:00:00", "license", ALWAYS_RULES, True),   # 26th 00:00 PKT
        # Friday 2026-11-27 prayers 12:30-14:30 PKT = 07:30-09:30Z
        ("2026-11-27 07:29:00", "license", RULES, True),   # 12:29
        ("2026-11-27 07:29:59", "license", RULES, True),
        ("2026-11-27 07:30:00", "license", RULES, False),  # 12:30
        ("2026-11-27 08:30:00", "pension", RULES, False),  # quiet binds overrides too
        ("2026-11-27 09:29:59", "license", RULES, False),  # 14:29:59
        ("2026-11-27 09:30:00", "license", RULES, True),   # 14:30
        ("2026-11-28 07:30:00", "license", RULES, True),   # Saturday: no prayer break
        ("2026-11-26 08:00:00", "license", RULES, True),   # Thursday either
        ("2026-11-27 07:30:00", "license", ALWAYS_RULES, False),
        ("2026-11-27 22:00:00", "license", ALWAYS_RULES, True),  # Saturday 03:00 PKT
    ],
)
def test_may_call(now: str, service: str, rules: CallingRules, allowed: bool) -> None:
    assert may_call(utc(now), service, rules) is allowed


def test_may_call_reads_the_instant_not_the_given_wall_clock() -> None:
    # Friday 12:45 PKT written as 09:45+02:00 is inside the prayer break.
    now = datetime(2026, 11, 27, 9, 45, tzinfo=timezone(timedelta(hours=2)))
    assert may_call(now, "license", RULES) is False
    assert may_call(now + timedelta(hours=2), "license", RULES) is True


def test_may_call_in_another_zone() -> None:
    rules = CallingRules(tz="Europe/London")
    assert may_call(utc("2026-11-28 09:00"), "x", rules) is True
    assert may_call(utc("2026-11-28 08:59"), "x", rules) is False


def test_policy_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        may_call(datetime(2026, 11, 28, 10), "license", RULES)
    with pytest.raises(ValueError, match="no time zone"):
        next_allowed(datetime(2026, 11, 28, 10), "license", RULES)


WEEKEND_RULES = CallingRules(
    blocked_dates=frozenset({CHRISTMAS, date(2026, 12, 26)}),
    quiet=(JUMMA, QuietPeriod.parse("sat 09:00-12:00"), QuietPeriod.parse("sun 09:00-11:00")),
)
NIGHT_ONLY = CallingRules(window=ALWAYS, quiet=tuple(QuietPeriod(d, time(0), time(23, 59))
                                                     for d in range(7)))


@pytest.mark.parametrize(
    ("now", "service", "rules", "expected"),
    [
        ("2026-11-28 10:00:00", "license", RULES, "2026-11-28 10:00:00"),  # allowed: now itself
        ("2026-11-28 04:00:00", "license", RULES, "2026-11-28 04:00:00"),  # exactly at opening
        ("2026-11-28 03:59:59", "license", RULES, "2026-11-28 04:00:00"),
        ("2026-11-28 15:00:00", "license", RULES, "2026-11-29 04:00:00"),  # 20:00 -> 09:00 next day
        ("2026-11-28 19:30:00", "license", RULES, "2026-11-29 04:00:00"),  # 00:30 PKT on the 29th
        ("2026-11-28 04:00:00", "pension", RULES, "2026-11-28 05:00:00"),
        ("2026-11-28 11:00:00", "pension", RULES, "2026-11-29 05:00:00"),
        # prayers: back at 14:30 PKT, to the second (no minute rounding of `now`)
        ("2026-11-27 07:30:00", "license", RULES, "2026-11-27 09:30:00"),
        ("2026-11-27 07:45:30", "license", RULES, "2026-11-27 09:30:00"),
        ("2026-11-27 07:29:59", "license", RULES, "2026-11-27 07:29:59"),
        # Thursday 24th 20:00 PKT; the 25th (a Friday) is blocked; Saturday 26th 09:00 is open
        ("2026-12-24 15:00:00", "license", RULES, "2026-12-26 04:00:00"),
        ("2026-12-24 19:30:00", "license", RULES, "2026-12-26 04:00:00"),  # the 25th already in PKT
        ("2026-12-24 19:30:00", "pension", RULES, "2026-12-26 05:00:00"),
        # 25th and 26th blocked, Sunday quiet until 11:00 PKT
        ("2026-12-24 15:00:00", "license", WEEKEND_RULES, "2026-12-27 06:00:00"),
        ("2026-12-24 15:00:00", "pension", WEEKEND_RULES, "2026-12-27 06:00:00"),
        # a Saturday that is not blocked: quiet 09:00-12:00 PKT, then open
        ("2026-11-27 15:00:00", "license", WEEKEND_RULES, "2026-11-28 07:00:00"),
        # always-open window: only quiet periods and blocked days stop calls
        ("2026-11-27 07:30:00", "license", ALWAYS_RULES, "2026-11-27 09:30:00"),
        ("2026-12-24 19:00:00", "license", ALWAYS_RULES, "2026-12-25 19:00:00"),  # midnight after
        ("2026-11-27 18:00:00", "license", NIGHT_ONLY, "2026-11-27 18:59:00"),  # 23:59 PKT
        ("2026-11-27 19:00:00", "license", NIGHT_ONLY, "2026-11-28 18:59:00"),
        ("2026-12-31 16:00:00", "license", RULES, "2027-01-01 04:00:00"),  # across a year
    ],
)
def test_next_allowed(now: str, service: str, rules: CallingRules, expected: str) -> None:
    got = next_allowed(utc(now), service, rules)
    assert got == utc(expected)
    assert may_call(got, service, rules)
    assert not may_call(got - timedelta(seconds=1), service, rules) or got == utc(now)


def test_next_allowed_keeps_the_callers_zone() -> None:
    got = next_allowed(utc("2026-11-28 15:00"), "license", RULES)
    assert got.tzinfo is UTC
    pkt = timezone(timedelta(hours=5))
    got = next_allowed(datetime(2026, 11, 28, 20, 0, tzinfo=pkt), "license", RULES)
    assert got.utcoffset() == timedelta(hours=5)
    assert got == datetime(2026, 11, 29, 9, 0, tzinfo=pkt)


@pytest.mark.parametrize(
    "rules",
    [
        # every day's window is all quiet
        CallingRules(quiet=tuple(QuietPeriod(d, time(8), time(21)) for d in range(7))),
        # a whole 371 days blocked
        CallingRules(blocked_dates=frozenset(date(2026, 11, 28) + timedelta(days=i)
                                             for i in range(372))),
    ],
)
def test_next_allowed_never(rules: CallingRules) -> None:
    with pytest.raises(ValueError, match="no moment within 370 days"):
        next_allowed(utc("2026-11-28 10:00"), "license", rules)


def blocked_for(days: int) -> CallingRules:
    """Rules with every local date blocked from 2026-11-28 for `days` days."""
    return CallingRules(blocked_dates=frozenset(date(2026, 11, 28) + timedelta(days=i)
                                                for i in range(days)))


def test_next_allowed_searches_370_days_and_no_further() -> None:
    now = utc("2026-11-28 10:00")  # the limit is 370 days on: 2027-12-03 10:00Z (15:00 PKT)
    assert next_allowed(now, "license", blocked_for(365)) == utc("2027-11-28 04:00")
    assert next_allowed(now, "license", blocked_for(370)) == utc("2027-12-03 04:00")  # day 370
    with pytest.raises(ValueError, match="no moment within 370 days"):
        next_allowed(now, "license", blocked_for(371))  # 2027-12-04 09:00 PKT is past the limit


BASE = utc("2026-12-19 19:00")  # Sunday 2026-12-20 00:00 PKT
RULE_CHOICES = [
    RULES, ALWAYS_RULES, WEEKEND_RULES, NIGHT_ONLY,
    CallingRules(window="10:15-10:45", quiet=(QuietPeriod.parse("tue 10:30-11:00"),)),
    CallingRules(window="00:00-24:00", blocked_dates=frozenset({date(2026, 12, 22)}),
                 quiet=(QuietPeriod.parse("wed 00:00-06:00"), QuietPeriod.parse("wed 05:00-09:00"))),
]


@settings(max_examples=60, deadline=None)
@given(minutes=st.integers(0, 14 * 24 * 60), which=st.integers(0, len(RULE_CHOICES) - 1),
       service=st.sampled_from(["license", "pension"]))
def test_next_allowed_matches_a_minute_by_minute_scan(minutes: int, which: int, service: str) -> None:
    # Every boundary in these rules is on a whole minute, so scanning minutes is exact.
    rules = RULE_CHOICES[which]
    now = BASE + timedelta(minutes=minutes)
    got = next_allowed(now, service, rules)
    scan = now
    while not may_call(scan, service, rules):
        scan += timedelta(minutes=1)
    assert got == scan


# --- retries and call-backs ---------------------------------------------------------------------

RETRY = RetryRules()


@pytest.mark.parametrize(
    ("outcome", "attempts", "expected"),
    [
        (Outcome.BUSY, 1, (TxStatus.SCHEDULED, NOW + timedelta(seconds=900))),
        (Outcome.NO_ANSWER, 1, (TxStatus.SCHEDULED, NOW + timedelta(seconds=3600))),
        (Outcome.CONGESTION, 1, (TxStatus.SCHEDULED, NOW + timedelta(seconds=1800))),
        (Outcome.FAILED, 1, (TxStatus.SCHEDULED, NOW + timedelta(seconds=1800))),
        (Outcome.UNKNOWN, 1, (TxStatus.SCHEDULED, NOW + timedelta(seconds=900))),
        (Outcome.NO_ANSWER, 2, (TxStatus.SCHEDULED, NOW + timedelta(seconds=3600))),  # 2 < 3
        (Outcome.BUSY, 3, (TxStatus.UNREACHABLE, None)),  # the max boundary
        (Outcome.NO_ANSWER, 3, (TxStatus.UNREACHABLE, None)),
        (Outcome.CONGESTION, 3, (TxStatus.UNREACHABLE, None)),
        (Outcome.FAILED, 3, (TxStatus.UNREACHABLE, None)),
        (Outcome.UNKNOWN, 3, (TxStatus.UNREACHABLE, None)),
        (Outcome.UNKNOWN, 4, (TxStatus.UNREACHABLE, None)),
        (Outcome.REJECTED, 1, (TxStatus.UNREACHABLE, None)),
        (Outcome.REJECTED, 0, (TxStatus.UNREACHABLE, None)),
        (Outcome.ANSWERED, 1, (TxStatus.IN_CALL, None)),
        (Outcome.ANSWERED, 3, (TxStatus.IN_CALL, None)),  # answered on the last try still talks
    ],
)
def test_retry_after(outcome: Outcome, attempts: int,
                     expected: tuple[TxStatus, datetime | None]) -> None:
    assert retry_after(outcome, attempts, NOW, RETRY) == expected


def test_retry_after_covers_every_outcome() -> None:
    for outcome in Outcome:
        status, at = retry_after(outcome, 1, NOW, RETRY)
        if outcome is Outcome.ANSWERED:
            assert (status, at) == (TxStatus.IN_CALL, None)
        elif outcome.retryable:
            assert status is TxStatus.SCHEDULED and at is not None and at > NOW
        else:
            assert (status, at) == (TxStatus.UNREACHABLE, None)


@pytest.mark.parametrize(
    ("rules", "outcome", "attempts", "expected"),
    [
        (RetryRules(delays={Outcome.BUSY: 60.0}, default_delay=120.0), Outcome.BUSY, 1,
         (TxStatus.SCHEDULED, NOW + timedelta(seconds=60))),
        (RetryRules(delays={Outcome.BUSY: 60.0}, default_delay=120.0), Outcome.NO_ANSWER, 1,
         (TxStatus.SCHEDULED, NOW + timedelta(seconds=120))),  # missing: default_delay
        (RetryRules(delays={}, default_delay=7.5), Outcome.UNKNOWN, 1,
         (TxStatus.SCHEDULED, NOW + timedelta(seconds=7.5))),
        (RetryRules(delays={Outcome.REJECTED: 60.0}), Outcome.REJECTED, 1,
         (TxStatus.UNREACHABLE, None)),  # a delay never makes REJECTED retryable
        (RetryRules(max_attempts=1), Outcome.BUSY, 1, (TxStatus.UNREACHABLE, None)),
        (RetryRules(max_attempts=5), Outcome.BUSY, 4, (TxStatus.SCHEDULED, NOW + timedelta(seconds=900))),
        (RetryRules(max_attempts=5), Outcome.BUSY, 5, (TxStatus.UNREACHABLE, None)),
        (RetryRules(max_attempts=0), Outcome.BUSY, 0, (TxStatus.UNREACHABLE, None)),
        (RetryRules(delays={Outcome.BUSY: 0.0}), Outcome.BUSY, 1, (TxStatus.SCHEDULED, NOW)),
    ],
)
def test_retry_after_custom_rules(rules: RetryRules, outcome: Outcome, attempts: int,
                                  expected: tuple[TxStatus, datetime | None]) -> None:
    assert retry_after(outcome, attempts, NOW, rules) == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_attempts": -1}, "max_attempts"),
        ({"partial_callbacks": -1}, "partial_callbacks"),
        ({"default_delay": -1.0}, "default_delay"),
        ({"callback_delay": math.nan}, "callback_delay"),
        ({"delays": {Outcome.BUSY: math.inf}}, "delay for busy"),
        ({"delays": {Outcome.BUSY: -5.0}}, "delay for busy"),
    ],
)
def test_retry_rules_validate(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetryRules(**kwargs)  # type: ignore[arg-type]


def test_retry_rules_defaults_are_not_shared() -> None:
    assert RetryRules().delays == {Outcome.BUSY: 900.0, Outcome.NO_ANSWER: 3600.0,
                                   Outcome.CONGESTION: 1800.0, Outcome.FAILED: 1800.0,
                                   Outcome.UNKNOWN: 900.0}
    assert RetryRules().delays is not RetryRules().delays


CALLBACK = NOW + timedelta(seconds=1800)


@pytest.mark.parametrize(
    ("result", "attempts", "callbacks_used", "rules", "expected"),
    [
        (TxStatus.COMPLETED, 1, 0, RETRY, (TxStatus.COMPLETED, None)),
        (TxStatus.COMPLETED, 4, 1, RETRY, (TxStatus.COMPLETED, None)),
        (TxStatus.OPTED_OUT, 1, 0, RETRY, (TxStatus.OPTED_OUT, None)),
        (TxStatus.OPTED_OUT, 2, 0, RetryRules(partial_callbacks=5), (TxStatus.OPTED_OUT, None)),
        (TxStatus.UNREACHABLE, 1, 0, RETRY, (TxStatus.UNREACHABLE, None)),  # "not me": never again
        (TxStatus.UNREACHABLE, 1, 0, RetryRules(partial_callbacks=5), (TxStatus.UNREACHABLE, None)),
        (TxStatus.PARTIAL, 1, 0, RETRY, (TxStatus.SCHEDULED, CALLBACK)),  # a call-back left
        (TxStatus.PARTIAL, 3, 0, RETRY, (TxStatus.SCHEDULED, CALLBACK)),  # 3 < 3 + 1
        (TxStatus.PARTIAL, 4, 0, RETRY, (TxStatus.PARTIAL, None)),        # 4 == 3 + 1
        (TxStatus.PARTIAL, 2, 1, RETRY, (TxStatus.PARTIAL, None)),        # call-back used up
        (TxStatus.PARTIAL, 1, 0, RetryRules(partial_callbacks=0), (TxStatus.PARTIAL, None)),
        (TxStatus.PARTIAL, 4, 1, RetryRules(partial_callbacks=2), (TxStatus.SCHEDULED, CALLBACK)),
        (TxStatus.PARTIAL, 5, 1, RetryRules(partial_callbacks=2), (TxStatus.PARTIAL, None)),
        (TxStatus.PARTIAL, 2, 2, RetryRules(partial_callbacks=2), (TxStatus.PARTIAL, None)),
        (TxStatus.PARTIAL, 1, 0, RetryRules(callback_delay=60.0),
         (TxStatus.SCHEDULED, NOW + timedelta(seconds=60))),
    ],
)
def test_after_survey(result: TxStatus, attempts: int, callbacks_used: int, rules: RetryRules,
                      expected: tuple[TxStatus, datetime | None]) -> None:
    assert after_survey(result, attempts, callbacks_used, NOW, rules) == expected


@pytest.mark.parametrize("result", [s for s in TxStatus
                                    if s not in (TxStatus.COMPLETED, TxStatus.OPTED_OUT,
                                                 TxStatus.PARTIAL, TxStatus.UNREACHABLE)])
def test_after_survey_refuses_non_results(result: TxStatus) -> None:
    with pytest.raises(ValueError, match="not a survey result"):
        after_survey(result, 1, 0, NOW, RETRY)


# --- timing of a visit --------------------------------------------------------------------------

VISIT = utc("2026-11-28 05:00")
HOUR = 3600.0
DAY_S = 86400.0


@pytest.mark.parametrize(
    ("min_delay", "expected"),
    [(0.0, VISIT), (HOUR, VISIT + timedelta(hours=1)), (1.5, VISIT + timedelta(seconds=1.5))],
)
def test_first_try_at(min_delay: float, expected: datetime) -> None:
    assert first_try_at(VISIT, min_delay) == expected


@pytest.mark.parametrize(
    ("now", "max_age", "is_expired"),
    [
        (VISIT, 7 * DAY_S, False),
        (VISIT + timedelta(days=7) - timedelta(seconds=1), 7 * DAY_S, False),
        (VISIT + timedelta(days=7), 7 * DAY_S, False),  # exactly at the limit: still fresh
        (VISIT + timedelta(days=7, seconds=1), 7 * DAY_S, True),
        (VISIT + timedelta(days=30), 7 * DAY_S, True),
        (VISIT - timedelta(hours=1), 0.0, False),  # a visit in the future is not old
        (VISIT + timedelta(microseconds=1), 0.0, True),
    ],
)
def test_expired(now: datetime, max_age: float, is_expired: bool) -> None:
    assert expired(VISIT, now, max_age) is is_expired


@pytest.mark.parametrize(
    ("last", "now", "cooldown", "cooling"),
    [
        (None, VISIT, 30 * DAY_S, False),
        (VISIT, VISIT, 30 * DAY_S, True),
        (VISIT, VISIT + timedelta(days=30) - timedelta(seconds=1), 30 * DAY_S, True),
        (VISIT, VISIT + timedelta(days=30), 30 * DAY_S, False),  # exactly at the cooldown: free
        (VISIT, VISIT + timedelta(days=31), 30 * DAY_S, False),
        (VISIT, VISIT, 0.0, False),
    ],
)
def test_in_cooldown(last: datetime | None, now: datetime, cooldown: float, cooling: bool) -> None:
    assert in_cooldown(last, now, cooldown) is cooling


# --- stratified sampling ------------------------------------------------------------------------

Item = tuple[str, int]


def make_items(sizes: dict[str, int]) -> list[Item]:
    """{'a': 2, 'b': 3} -> [('a', 0), ('a', 1), ('b', 0), ...], strata in the order given."""
    return [(name, i) for name, size in sizes.items() for i in range(size)]


def first(item: Item) -> str:
    return item[0]


def per_stratum(result: list[tuple[Item, float]]) -> Counter[str]:
    return Counter(item[0] for item, _ in result)


@pytest.mark.parametrize("capacity", [0, -1, -10])
def test_stratified_sample_no_capacity(capacity: int) -> None:
    assert stratified_sample(make_items({"a": 3}), capacity, first, seed=1) == []


@pytest.mark.parametrize("capacity", [5, 6, 100])
def test_stratified_sample_everything_fits(capacity: int) -> None:
    items = make_items({"a": 2, "b": 3})
    assert stratified_sample(items, capacity, first, seed=1) == [(item, 1.0) for item in items]


def test_stratified_sample_empty() -> None:
    assert stratified_sample([], 3, first, seed=1) == []


@pytest.mark.parametrize(
    ("sizes", "capacity", "counts", "probabilities"),
    [
        # 1 each, then 3 more shared 2:8 -> quotas 0.6, 2.4 -> floors 0, 2; the larger remainder
        # (0.6) wins the last seat: a 2 of 2, b 3 of 8.
        ({"a": 2, "b": 8}, 5, {"a": 2, "b": 3}, {"a": 1.0, "b": 3 / 8}),
        # singleton strata have no room; b and c share 3 by size 3:6 -> 1, 2
        ({"a": 1, "b": 3, "c": 6}, 6, {"a": 1, "b": 2, "c": 3}, {"a": 1.0, "b": 2 / 3, "c": 0.5}),
        # a and b would get 1 each (quota 1 = room): both fill up, c gets the other 5
        ({"a": 2, "b": 2, "c": 10}, 10, {"a": 2, "b": 2, "c": 6}, {"a": 1.0, "b": 1.0, "c": 0.6}),
        # a's quota 8*2/14 = 1.14 exceeds its room of 1: a is capped, b takes 7 more
        ({"a": 2, "b": 12}, 10, {"a": 2, "b": 8}, {"a": 1.0, "b": 8 / 12}),
        # exactly one seat per stratum
        ({"a": 4, "b": 2, "c": 5}, 3, {"a": 1, "b": 1, "c": 1}, {"a": 0.25, "b": 0.5, "c": 0.2}),
        # equal remainders: the stratum seen first gets the seat
        ({"b": 3, "a": 3}, 3, {"b": 2, "a": 1}, {"b": 2 / 3, "a": 1 / 3}),
    ],
)
def test_stratified_sample_exact(sizes: dict[str, int], capacity: int, counts: dict[str, int],
                                 probabilities: dict[str, float]) -> None:
    for seed in range(5):
        result = stratified_sample(make_items(sizes), capacity, first, seed)
        assert len(result) == capacity
        assert per_stratum(result) == Counter(counts)
        for item, p in result:
            assert p == probabilities[item[0]]


def test_stratified_sample_fewer_seats_than_strata() -> None:
    sizes = {"a": 1, "b": 2, "c": 4, "d": 5, "e": 8}
    for seed in range(20):
        result = stratified_sample(make_items(sizes), 2, first, seed)
        assert len(result) == 2
        strata = per_stratum(result)
        assert len(strata) == 2 and set(strata.values()) == {1}
        for item, p in result:
            assert p == 2 / (5 * sizes[item[0]])  # (2/5) * (1/size), rounded once


def test_stratified_sample_covers_every_stratum_by_office_and_official() -> None:
    offices = [("lahore", "ali"), ("lahore", "sara"), ("multan", "ali")]
    items = [(office, official, i) for office, official in offices for i in range(7)]
    items.append(("bahawalpur", "zain", 0))  # a stratum of one
    result = stratified_sample(items, 5, lambda t: (t[0], t[1]), seed=7)
    assert len(result) == 5
    assert {(t[0], t[1]) for t, _ in result} == {*offices, ("bahawalpur", "zain")}


def test_stratified_sample_is_deterministic_and_follows_the_seed() -> None:
    items = make_items({"a": 10, "b": 20, "c": 30})
    runs = {seed: stratified_sample(items, 12, first, seed) for seed in range(10)}
    assert all(stratified_sample(items, 12, first, seed) == run for seed, run in runs.items())
    assert len({tuple(run) for run in runs.values()}) > 1
    few = {tuple(stratified_sample(items, 2, first, seed)) for seed in range(10)}
    assert len(few) > 1


def test_stratified_sample_keeps_the_input_order() -> None:
    items = make_items({"a": 5, "b": 5, "c": 5})
    result = stratified_sample(items, 7, first, seed=3)
    positions = [items.index(item) for item, _ in result]
    assert positions == sorted(positions)


@pytest.mark.parametrize(("sizes", "capacity"), [({"a": 2, "b": 3, "c": 5}, 6),
                                                 ({"a": 1, "b": 3, "c": 4, "d": 2}, 2)])
def test_stratified_sample_probabilities_are_inclusion_frequencies(sizes: dict[str, int],
                                                                   capacity: int) -> None:
    # The returned probability must be the real chance of each item being picked, or the
    # survey's weighted estimates are biased. Over many seeds, frequencies must match.
    items = make_items(sizes)
    runs = 4000
    hits: Counter[Item] = Counter()
    claimed: dict[Item, float] = {}
    for seed in range(runs):
        for item, p in stratified_sample(items, capacity, first, seed):
            hits[item] += 1
            assert claimed.setdefault(item, p) == p
    for item in items:
        assert abs(hits[item] / runs - claimed[item]) < 0.035, item


@settings(max_examples=300, deadline=None)
@given(sizes=st.lists(st.integers(1, 12), min_size=1, max_size=8),
       capacity=st.integers(-2, 60), seed=st.integers(0, 2**32))
def test_stratified_sample_properties(sizes: list[int], capacity: int, seed: int) -> None:
    items = make_items({f"s{i}": size for i, size in enumerate(sizes)})
    result = stratified_sample(items, capacity, first, seed)
    n, k = len(items), len(sizes)
    size_of = {f"s{i}": size for i, size in enumerate(sizes)}

    assert len(result) == max(0, min(capacity, n))
    picked = [item for item, _ in result]
    assert len(set(picked)) == len(picked) and set(picked) <= set(items)
    assert all(0 < p <= 1 for _, p in result)
    counts = per_stratum(result)
    ht = sum(1 / p for _, p in result)  # Horvitz–Thompson estimate of the population size
    if capacity >= n:
        assert all(p == 1.0 for _, p in result)
    if capacity >= k:
        assert set(counts) == set(size_of)  # every stratum covered
        for item, p in result:
            assert p == counts[item[0]] / size_of[item[0]]
        assert math.isclose(ht, n)
        # proportional: a larger stratum never gets fewer seats than a smaller one (equal
        # strata may differ by the one seat a tie gives to the stratum seen first)
        for a in size_of:
            for b in size_of:
                if size_of[a] < size_of[b]:
                    assert counts[a] <= counts[b]
    elif capacity > 0:
        assert set(counts.values()) == {1}
        for item, p in result:
            assert p == capacity / (k * size_of[item[0]])
        assert k * min(sizes) - 1e-9 <= ht <= k * max(sizes) + 1e-9


# --- dial time: the store fetches the facts, policy.at_dial decides -----------------------------

_NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def _facts(**kw: object) -> policy.DialFacts:
    base: dict[str, object] = {"on_dnc": False, "visited_at": _NOW - timedelta(hours=5),
                               "last_surveyed_at": None, "call_in_progress": False}
    base.update(kw)
    return policy.DialFacts(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(("facts", "expected"), [
    (_facts(), "dial"),
    (_facts(on_dnc=True, call_in_progress=True), "dnc"),  # DNC before everything
    (_facts(visited_at=_NOW - timedelta(days=8)), "too_old"),
    (_facts(last_surveyed_at=_NOW - timedelta(days=2)), "cooldown"),
    (_facts(last_surveyed_at=_NOW - timedelta(days=40)), "dial"),
    (_facts(call_in_progress=True), "wait"),
    (_facts(visited_at=_NOW - timedelta(days=8), call_in_progress=True), "too_old"),
    # A follow-up about a closed case: the visit is old and the citizen was surveyed on the
    # report, both by design; the do-not-call list and one call at a time still hold.
    (_facts(followup=True, visited_at=_NOW - timedelta(days=60),
            last_surveyed_at=_NOW - timedelta(days=7)), "dial"),
    (_facts(followup=True, on_dnc=True), "dnc"),
    (_facts(followup=True, call_in_progress=True, visited_at=_NOW - timedelta(days=60)),
     "wait"),
])
def test_at_dial_decides_from_the_facts(facts: policy.DialFacts, expected: str) -> None:
    assert policy.at_dial(facts, _NOW, max_age=7 * 86400, cooldown=30 * 86400) == expected


@pytest.mark.parametrize(("delay", "expected"), [
    (7.0, _NOW + timedelta(days=7)), (0.0, _NOW), (0.5, _NOW + timedelta(hours=12)),
])
def test_followup_at_is_some_days_after_the_case_closed(delay: float, expected: datetime) -> None:
    assert policy.followup_at(_NOW, delay) == expected


def test_followup_at_refuses_a_negative_delay_and_a_naive_time() -> None:
    with pytest.raises(ValueError, match="followup_delay_days"):
        policy.followup_at(_NOW, -1)
    with pytest.raises(ValueError, match="no time zone"):
        policy.followup_at(_NOW.replace(tzinfo=None), 7)


def test_at_dial_rules_can_be_off() -> None:
    old = _facts(visited_at=_NOW - timedelta(days=80), last_surveyed_at=_NOW)
    assert policy.at_dial(old, _NOW, max_age=None, cooldown=None) == "dial"
    assert set(policy.CLOSES_AS) == {"dnc", "too_old", "cooldown"}

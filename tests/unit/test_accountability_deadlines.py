"""Deadlines on cases: the escalation rule as a pure function of `now`, table-tested."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ivr.accountability.deadlines import Deadline, Level, decide, parse_deadlines
from ivr.cases import CaseStatus
from ivr.errors import ConfigError

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
RULE = Deadline(review_days=7, act_days=30)
D, DEP, OV = Level.DISTRICT, Level.DEPARTMENT, Level.OVERSIGHT
NEW, REV, DONE = CaseStatus.NEW, CaseStatus.UNDER_REVIEW, CaseStatus.ACTION_TAKEN


def days(n: float) -> datetime:
    return T0 + timedelta(days=n)


@pytest.mark.parametrize(("status", "level", "escalated", "now", "overdue", "stage", "to"), [
    (NEW, D, None, days(6.9), False, "review", None),  # within the review deadline
    (NEW, D, None, days(7), False, "review", None),  # due at the very moment: not yet overdue
    (NEW, D, None, days(7.01), True, "review", DEP),  # past it: one level up
    (NEW, DEP, days(7.01), days(10), True, "review", None),  # the department has its own days
    (NEW, DEP, days(7.01), days(14.02), True, "review", OV),  # still overdue after them: top
    (NEW, OV, days(14.02), days(90), True, "review", None),  # oversight is the top
    (REV, D, None, days(20), False, "act", None),  # reviewed: the action deadline runs
    (REV, D, None, days(30.5), True, "act", DEP),
    (REV, DEP, days(8), days(31), True, "act", OV),  # escalated for review, still not acted on
    (DONE, D, None, days(400), False, None, None),  # closed: no deadline
    (DONE, OV, days(20), days(400), False, None, None),
])
def test_decide(status: CaseStatus, level: Level, escalated: datetime | None, now: datetime,
                overdue: bool, stage: str | None, to: Level | None) -> None:
    d = decide(status, T0, level, escalated, RULE, now)
    assert (d.overdue, d.stage, d.escalate_to) == (overdue, stage, to)


def test_a_new_case_escalates_one_level_per_step_never_two() -> None:
    level, at = D, None
    seen = []
    for day in range(0, 60):
        d = decide(NEW, T0, level, at, RULE, days(day + 0.5))
        if d.escalate_to is not None:
            assert d.escalate_to == level + 1
            level, at = d.escalate_to, days(day + 0.5)
            seen.append((day, level))
    assert seen == [(7, DEP), (14, OV)]


def test_an_act_deadline_shorter_than_review_is_the_one_that_runs() -> None:
    d = decide(NEW, T0, D, None, Deadline(review_days=10, act_days=10), days(5))
    assert d.due_at == days(10)


@pytest.mark.parametrize(("specs", "default", "per"), [
    ((), Deadline(7, 30), {}),
    (("*=5/20",), Deadline(5, 20), {}),
    (("pension=3/14", "*=7/30"), Deadline(7, 30), {"pension": Deadline(3, 14)}),
    (("Land Records = 2 / 10",), Deadline(7, 30), {"Land Records": Deadline(2, 10)}),
])
def test_parse_deadlines(specs: tuple[str, ...], default: Deadline, per: dict[str, Deadline]) -> None:
    assert parse_deadlines(specs) == (default, per)


@pytest.mark.parametrize("spec", ["pension", "pension=3", "=3/4", "pension=x/4", "pension=0/4",
                                  "pension=9/4", "pension=3/99999"])
def test_parse_deadlines_refuses_with_a_clear_error(spec: str) -> None:
    with pytest.raises(ConfigError, match="case_deadlines"):
        parse_deadlines((spec,))

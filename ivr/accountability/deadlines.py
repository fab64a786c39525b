"""Deadlines on cases and their escalation: a pure function of `now`, no I/O.

A bribe report must be reviewed (moved to under_review) within `review_days` of the report,
and acted on (action_taken) within `act_days`; both per department (service), from config.
A case past its deadline is overdue and escalates one level: from the district officer to
the department, and, if it is still overdue `review_days` after that escalation, to
oversight. Each escalation is one step; the store records it with an audit entry, and the
case then appears on the escalated level's list only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum

from ivr.cases import CaseStatus
from ivr.errors import ConfigError

__all__ = ["Deadline", "Decision", "Level", "decide", "parse_deadlines"]


class Level(IntEnum):
    """Who answers for a case now."""

    DISTRICT = 0
    DEPARTMENT = 1
    OVERSIGHT = 2


@dataclass(frozen=True, slots=True)
class Deadline:
    """Days allowed to review a report and to act on it."""

    review_days: float = 7.0
    act_days: float = 30.0


@dataclass(frozen=True, slots=True)
class Decision:
    """What the rule says of one case at `now`."""

    overdue: bool
    stage: str | None  # "review" | "act" while open; None when closed
    due_at: datetime | None
    escalate_to: Level | None  # one level up, when it is time; None otherwise


def decide(status: CaseStatus, reported_at: datetime, level: Level,
           escalated_at: datetime | None, rule: Deadline, now: datetime) -> Decision:
    """Return whether a case is overdue at `now` and whether it escalates one level now.

    The review deadline runs while the case is new, the action deadline while it is new or
    under review (whichever comes first for a new case). An overdue case at the district level
    escalates to the department at once; at the department level, once `review_days` have
    passed since that escalation, to oversight; oversight is the top.
    """
    if status is CaseStatus.ACTION_TAKEN:
        return Decision(False, None, None, None)
    review_due = reported_at + timedelta(days=rule.review_days)
    act_due = reported_at + timedelta(days=rule.act_days)
    if status is CaseStatus.NEW and review_due <= act_due:
        stage, due = "review", review_due
    else:
        stage, due = "act", act_due
    if now <= due:
        return Decision(False, stage, due, None)
    if level is Level.OVERSIGHT:
        return Decision(True, stage, due, None)
    since = escalated_at if level is not Level.DISTRICT and escalated_at is not None else None
    if since is None or now >= since + timedelta(days=rule.review_days):
        return Decision(True, stage, due, Level(level + 1))
    return Decision(True, stage, due, None)


def _days(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{where}: {text!r} is not a number of days") from None
    if not 0 < value <= 3650:
        raise ConfigError(f"{where}: {value:g} days is outside 0-3650")
    return value


def parse_deadlines(specs: Sequence[str], default: Deadline = Deadline()
                    ) -> tuple[Deadline, Mapping[str, Deadline]]:
    """Parse `case_deadlines` entries "service=REVIEW/ACT" ("*" for the default) or raise ConfigError.

    E.g. ("*=7/30", "pension=3/14"): every department 7 and 30 days, pensions 3 and 14.
    """
    per: dict[str, Deadline] = {}
    for spec in specs:
        name, sep, days = spec.partition("=")
        review, slash, act = days.partition("/")
        name = name.strip()
        if not sep or not slash or not name:
            raise ConfigError(f"case_deadlines: {spec!r} is not service=REVIEW_DAYS/ACT_DAYS")
        d = Deadline(_days(review.strip(), f"case_deadlines {name}"),
                     _days(act.strip(), f"case_deadlines {name}"))
        if d.act_days < d.review_days:
            raise ConfigError(f"case_deadlines {name}: acting ({d.act_days:g} days) cannot be "
                              f"due before reviewing ({d.review_days:g} days)")
        if name == "*":
            default = d
        else:
            per[name] = d
    return default, per

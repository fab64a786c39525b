"""The daily digest: for each official concerned, a short account of yesterday. Pure, no I/O.

Who gets one: every enabled official who sees results (oversight, a department, a district
officer), cut to their scope as every page is (ivr.results.scope_of). What it says, of the
local day before `now`:

- **new alerts**: offices whose bribe-report rate rose beyond chance this week
  (scorecard.bribe_alerts, Holm, at most 5% chance of any false alarm per week), counted over
  the visits up to the end of yesterday, that were not alerts over the visits up to the end
  of the day before (on a Monday: every alert of the new week); and how many alerts the week
  has so far;
- **overdue cases** in scope: open bribe reports past their deadline (each escalated one
  level: now with the department, or with oversight);
- **cases waiting** in scope: open reports not yet reviewed, and under review (the overdue
  ones among them).

`build` composes one official's digest from counts the caller read for their scope;
`to_text` lays it out as the plain text that is delivered (ivr/services/digests.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

__all__ = ["Digest", "build", "day_of", "to_text"]


def day_of(now: datetime, zone: tzinfo) -> date:
    """Return the local day a digest built at `now` tells of: yesterday."""
    return now.astimezone(zone).date() - timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Digest:
    """One official's digest of one day."""

    username: str
    role: str
    scope: str  # in words, e.g. "results of all services in Lahore"
    day: date
    built_at: datetime
    new_alerts: list[dict[str, Any]] = field(default_factory=list)
    week_alerts: int = 0
    alpha: float = 0.05
    overdue: dict[str, int] = field(default_factory=dict)  # overdue, at_department, at_oversight
    waiting: dict[str, int] = field(default_factory=dict)  # new, under_review

    @property
    def quiet(self) -> bool:
        """Nothing to tell: no new alert, nothing overdue, nothing waiting."""
        return not (self.new_alerts or self.overdue.get("overdue") or any(self.waiting.values()))

    def as_dict(self) -> dict[str, Any]:
        return {"username": self.username, "role": self.role, "scope": self.scope,
                "day": self.day.isoformat(), "built_at": self.built_at.isoformat(),
                "new_alerts": self.new_alerts, "week_alerts": self.week_alerts,
                "alpha": self.alpha, "overdue": self.overdue, "waiting": self.waiting,
                "quiet": self.quiet}


def _offices(alerts: Sequence[Mapping[str, Any]]) -> set[str]:
    return {str(a["office"]) for a in alerts}


def build(username: str, role: str, scope: str, day: date, now: datetime, *,
          alerts_through_day: Mapping[str, Any], alerts_day_before: Mapping[str, Any],
          overdue: Mapping[str, Mapping[str, int]], waiting: Sequence[Mapping[str, Any]]
          ) -> Digest:
    """Return one official's digest of `day` (built at `now`), from what was read for their scope.

    alerts_*: figures.alerts_view of yesterday's week over the visits up to the end of
    yesterday, and up to the end of the day before (on a Monday: of the week before, so
    every alert of the new week is new); overdue: the store's overdue_by_district; waiting:
    its actions_by_district rows (new, under_review per district).
    """
    current = list(alerts_through_day.get("alerts", []))
    same_week = alerts_day_before.get("week") == alerts_through_day.get("week")
    before = _offices(alerts_day_before.get("alerts", [])) if same_week else set()
    new = [{"office": a["office"], "district": a.get("district"),
            "week": alerts_through_day.get("week"), "reason": a["reason"]}
           for a in current if a["office"] not in before]
    keys = ("overdue", "at_department", "at_oversight")
    late = {k: sum(int(c.get(k, 0)) for c in overdue.values()) for k in keys}
    wait = {k: sum(int(r.get(k, 0)) for r in waiting) for k in ("new", "under_review")}
    return Digest(username, role, scope, day, now, new, len(current),
                  float(alerts_through_day.get("alpha", 0.05)), late, wait)


def to_text(d: Digest) -> str:
    """Lay a digest out as short plain text (what is delivered)."""
    lines = [f"Rabta daily digest for {d.username}, {d.day.isoformat()} ({d.scope})", ""]
    if d.new_alerts:
        lines.append(f"New bribe-rate alerts ({len(d.new_alerts)}; "
                     f"{100 * d.alpha:g}% chance of any false alarm in a week):")
        lines += [f"- {a['office']} ({a['district']}), week of {a['week']}: {a['reason']}"
                  for a in d.new_alerts]
    else:
        lines.append("New bribe-rate alerts: none.")
    lines.append(f"Alerts this week so far: {d.week_alerts}.")
    o = d.overdue
    lines.append(f"Overdue cases: {o.get('overdue', 0)} (now with the department: "
                 f"{o.get('at_department', 0)}; with oversight: {o.get('at_oversight', 0)}).")
    lines.append(f"Cases waiting (the overdue included): {d.waiting.get('new', 0)} not yet "
                 f"reviewed, {d.waiting.get('under_review', 0)} under review.")
    return "\n".join(lines) + "\n"

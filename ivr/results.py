"""Results: the end of the road, as officials see it. Pure rules for the dashboard, no I/O.

The store sums, per group, what the estimates need (ivr/store/results.py); this module turns
those sums into figures an official can trust:

- satisfaction: the share of ratings that are 4 or 5 (and the mean rating);
- bribe-report rate: the share of bribe answers that are 1 (yes);
- each share weighted by 1/selection_probability when a day was sampled, with a 95% Wilson
  score interval computed at Kish's effective sample size (sum w)^2 / sum w^2;
- no figure, and no rank, for a group with fewer than `min_responses` answers, so that a lone
  complainant cannot be picked out; and, when the withheld answers are fewer than that
  together, none for the smallest other groups either, so the total minus the rest does not
  give them away;
- the filters a request may carry, checked here, and each role's scope on top of them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from ivr.accounts import Role
from ivr.errors import InputError

__all__ = [
    "FIRST_DAY",
    "GROUPS",
    "LAST_DAY",
    "TIME_GROUPS",
    "Estimate",
    "Filters",
    "GroupSums",
    "ResultRow",
    "Scope",
    "check_range",
    "estimate",
    "kish_n",
    "may_export_responses",
    "may_reveal",
    "parse_filters",
    "rank",
    "scope_of",
    "summarize",
    "timeline",
    "week_start",
    "weighted",
    "wilson",
]

GROUPS = ("district", "service", "office", "official")
TIME_GROUPS = ("day", "week")
Z95 = 1.959963984540054  # the two-sided 95% normal quantile
MAX_DAYS = 3660  # a date range longer than ten years is a typo
# Every date a request names lies in these years (earlier or later is a typo, and near the
# ends of the calendar, days cannot be turned into moments in every time zone).
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)
MAX_TEXT = 200
# Where a row of each grouping leads when clicked: province (all) -> district -> office ->
# official. A service leads to its districts.
DRILL = {"district": "office", "office": "official", "service": "district"}


def wilson(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Return the Wilson score interval (low, high) for successes out of n (n may be fractional).

    n is the (effective) sample size; with n = 0 there is no information: (0, 1).
    """
    if n <= 0:
        return 0.0, 1.0
    if successes < 0 or successes > n:
        raise ValueError(f"successes {successes} outside 0..{n}")
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def kish_n(sum_w: float, sum_w2: float) -> float:
    """Return Kish's effective sample size (sum w)^2 / sum w^2 (0 for no weight)."""
    return sum_w * sum_w / sum_w2 if sum_w2 > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Estimate:
    """A weighted share with its 95% interval; None figures when suppressed."""

    n: int  # answers behind it, unweighted
    value: float | None
    low: float | None
    high: float | None

    @property
    def suppressed(self) -> bool:
        return self.value is None

    def as_dict(self) -> dict[str, Any]:
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 4)
        return {"n": self.n, "value": r(self.value), "low": r(self.low), "high": r(self.high),
                "suppressed": self.suppressed}


def estimate(n: int, yes_w: float, sum_w: float, sum_w2: float, min_n: int) -> Estimate:
    """Return the weighted share yes_w / sum_w with a Wilson interval at Kish's effective n.

    Below min_n answers nothing is shown: neither the share nor its interval.
    """
    if n < max(min_n, 1) or sum_w <= 0:
        return Estimate(n, None, None, None)
    p = min(1.0, max(0.0, yes_w / sum_w))
    eff = kish_n(sum_w, sum_w2)
    low, high = wilson(p * eff, eff)
    return Estimate(n, p, low, high)


@dataclass(slots=True)
class GroupSums:
    """What the store sums for one group: counts and weighted sums (w = 1/selection_probability)."""

    rated: int = 0
    rated_w: float = 0.0
    rated_w2: float = 0.0
    satisfied_w: float = 0.0
    rating_sum_w: float = 0.0
    bribe_n: int = 0
    bribe_w: float = 0.0
    bribe_w2: float = 0.0
    bribe_yes_w: float = 0.0

    def add(self, other: GroupSums) -> None:
        """Add another group's sums to these (cells sum up to groups, groups to the total)."""
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @classmethod
    def of(cls, row: Any) -> GroupSums:
        """Read the sums from a row with the same column names."""
        return cls(**{name: row[name] or 0 for name in cls.__slots__})


@dataclass(frozen=True, slots=True)
class ResultRow:
    """One group's figures as the views and exports show them."""

    group: str
    responses: int  # ratings given (unweighted); the group's size for suppression
    satisfaction: Estimate
    mean_rating: float | None
    bribe: Estimate
    rank: int | None = None  # by satisfaction, among groups shown; None: not ranked

    @property
    def suppressed(self) -> bool:
        return self.satisfaction.suppressed

    def as_dict(self) -> dict[str, Any]:
        return {"group": self.group, "responses": self.responses, "rank": self.rank,
                "suppressed": self.suppressed,
                "satisfaction": self.satisfaction.as_dict(),
                "mean_rating": None if self.mean_rating is None else round(self.mean_rating, 3),
                "bribe_rate": self.bribe.as_dict()}


def row_of(group: str, s: GroupSums, min_n: int) -> ResultRow:
    """Turn one group's sums into its shown figures, suppressing what is below min_n."""
    sat = estimate(s.rated, s.satisfied_w, s.rated_w, s.rated_w2, min_n)
    mean = s.rating_sum_w / s.rated_w if not sat.suppressed and s.rated_w > 0 else None
    bribe = estimate(s.bribe_n, s.bribe_yes_w, s.bribe_w, s.bribe_w2, min_n)
    return ResultRow(group, s.rated, sat, mean, bribe)


def rank(rows: list[ResultRow]) -> list[ResultRow]:
    """Rank groups by satisfaction, best first (1 = best); suppressed groups get no rank."""
    shown = sorted((r for r in rows if not r.suppressed),
                   key=lambda r: (-(r.satisfaction.value or 0.0), r.group))
    ranks = {r.group: i for i, r in enumerate(shown, 1)}
    out = []
    for r in rows:
        out.append(ResultRow(r.group, r.responses, r.satisfaction, r.mean_rating, r.bribe,
                             ranks.get(r.group)))
    return out


def _withhold(rows: list[ResultRow], min_n: int, measure: str) -> list[ResultRow]:
    """Withhold more groups until the withheld answers number at least min_n together.

    Complementary suppression: with the total shown, one small withheld group would be the
    total minus the others. So the smallest shown groups are withheld with it until the
    withheld answers, together, are as many as one group needs to be shown.
    """
    def n(r: ResultRow) -> int:
        return r.responses if measure == "satisfaction" else r.bribe.n

    def hidden(r: ResultRow) -> bool:
        return r.satisfaction.suppressed if measure == "satisfaction" else r.bribe.suppressed

    withheld = sum(n(r) for r in rows if hidden(r))
    if withheld == 0 or withheld >= min_n:
        return rows
    out = list(rows)
    for i in sorted((i for i, r in enumerate(rows) if not hidden(r)),
                    key=lambda i: (n(rows[i]), rows[i].group)):
        if withheld >= min_n:
            break
        r = out[i]
        gone = Estimate(n(r), None, None, None)
        out[i] = (ResultRow(r.group, r.responses, gone, None, r.bribe)
                  if measure == "satisfaction" else
                  ResultRow(r.group, r.responses, r.satisfaction, r.mean_rating, gone))
        withheld += n(r)
    return out


def summarize(groups: Iterable[tuple[str, GroupSums]], min_n: int, *, ranked: bool = True
              ) -> tuple[list[ResultRow], ResultRow]:
    """Return the rows (in the given order, ranked unless told not) and the total of them all.

    Groups below min_n are withheld, and with them as many of the smallest others as it takes
    for the total not to give them away (see _withhold). Days and weeks are not ranked: a
    league table of dates means nothing.
    """
    total = GroupSums()
    rows = []
    for name, sums in groups:
        total.add(sums)
        rows.append(row_of(name, sums, min_n))
    rows = _withhold(_withhold(rows, min_n, "satisfaction"), min_n, "bribe")
    return rank(rows) if ranked else rows, row_of("TOTAL", total, min_n)


def week_start(day: date) -> date:
    """Return the Monday of the ISO week a day falls in."""
    return day - timedelta(days=day.weekday())


def timeline(groups: Iterable[tuple[str, GroupSums]], by: str, start: date, end: date
             ) -> list[tuple[str, GroupSums]]:
    """Fill every day (by="day") or ISO week (by="week") of start..end with the days' sums."""
    by_day = dict(groups)
    out: dict[str, GroupSums] = {}
    day = start
    while day <= end:
        key = (week_start(day) if by == "week" else day).isoformat()
        out.setdefault(key, GroupSums())
        if (s := by_day.get(day.isoformat())) is not None:
            out[key].add(s)
        day += timedelta(days=1)
    return list(out.items())


def weighted(groups: Iterable[tuple[str, GroupSums]]) -> bool:
    """Tell whether sampling weights (1/p) make any figure differ from the unweighted one."""
    sums = GroupSums()
    for _, s in groups:
        sums.add(s)
    return abs(sums.rated_w - sums.rated) > 1e-6 or abs(sums.bribe_w - sums.bribe_n) > 1e-6


# ---------------------------------------------------------------------------- filters


@dataclass(frozen=True, slots=True)
class Scope:
    """What a role's account may see: None means no limit on that dimension."""

    services: tuple[str, ...] | None = None
    district: str | None = None


def may_export_responses(role: Role) -> bool:
    """Tell whether a role may export single responses (they undo small-cell suppression)."""
    return role is Role.OVERSIGHT


def may_reveal(role: Role) -> bool:
    """Tell whether a role may see citizens' phone numbers (an audited, explicit action)."""
    return role is Role.OVERSIGHT


def scope_of(role: Role, scope: tuple[str, ...]) -> Scope | None:
    """Return the results a role may see, or None if it may see no results at all."""
    if role is Role.OVERSIGHT:
        return Scope()
    if role is Role.DEPARTMENT:
        return Scope(services=tuple(scope))
    if role is Role.DISTRICT:
        return Scope(district=scope[0])
    return None


@dataclass(frozen=True, slots=True)
class Filters:
    """A results request: the grouping and the filters, all checked. Days are local dates."""

    by: str = "district"
    start: date | None = None  # first day included
    end: date | None = None  # last day included
    district: str | None = None
    service: str | None = None
    office: str | None = None
    official: str | None = None

    def query(self, **changes: str | None) -> dict[str, str]:
        """Return these filters as query parameters, with some changed (None removes one)."""
        q = {"by": self.by}
        if self.start:
            q["from"] = self.start.isoformat()
        if self.end:
            q["to"] = self.end.isoformat()
        for name in GROUPS:
            value = getattr(self, name)
            if value:
                q[name] = value
        for k, v in changes.items():
            if v is None:
                q.pop(k, None)
            else:
                q[k] = v
        return q


def canonical(filters: Filters, choices: Mapping[str, Sequence[str]]) -> Filters:
    """Return the filters with each value that matches a known one case-insensitively written
    as the data writes it ("lahore" -> "Lahore"); a value matching none is kept as it is."""
    changes: dict[str, Any] = {}
    for name, known in choices.items():
        value = getattr(filters, name, None)
        if value is None or value in known:
            continue
        folded = value.strip().casefold()
        match = next((k for k in known if k.casefold() == folded), None)
        if match is not None:
            changes[name] = match
    return dataclasses.replace(filters, **changes) if changes else filters


def _day(value: str, name: str) -> date:
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise InputError(f"{name}: {value[:40]!r} is not a date (YYYY-MM-DD)") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InputError(f"{name}: {day.isoformat()} is outside {FIRST_DAY.isoformat()} to "
                         f"{LAST_DAY.isoformat()}")
    return day


def check_range(start: date | None, end: date | None) -> None:
    """Refuse a range that ends before it starts, or that spans more than MAX_DAYS days."""
    if start and end:
        if end < start:
            raise InputError("to: the range ends before it starts")
        if (end - start).days > MAX_DAYS:
            raise InputError(f"to: a range of at most {MAX_DAYS} days")


def _text(value: str | None, name: str) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > MAX_TEXT or any(ord(c) < 32 for c in value):
        raise InputError(f"{name}: not a usable name")
    return value


def parse_filters(query: Mapping[str, str], *, default_by: str = "district",
                  allowed_by: tuple[str, ...] = GROUPS + TIME_GROUPS) -> Filters:
    """Check a request's query (by, from, to, district, service, office, official) or raise InputError."""
    by = (query.get("by") or default_by).strip()
    if by not in allowed_by:
        raise InputError(f"by: {by[:40]!r} is not one of {', '.join(allowed_by)}")
    start = _day(query["from"], "from") if query.get("from", "").strip() else None
    end = _day(query["to"], "to") if query.get("to", "").strip() else None
    check_range(start, end)
    names = {n: _text(query.get(n), n) for n in GROUPS}
    return Filters(by=by, start=start, end=end, **names)


def default_range(filters: Filters, today: date, days: int = 30) -> Filters:
    """Fill in a missing range for time charts: the last `days` days up to today.

    The filled range is held to the same bounds as a given one (check_range): `from` long ago
    with no `to` is refused, not drawn day by day up to today.
    """
    end = filters.end or today
    if filters.by == "week":  # whole weeks: this one and the ones before it
        start = filters.start or week_start(end) - timedelta(weeks=max(1, days // 7) - 1)
    else:
        start = filters.start or end - timedelta(days=days - 1)
    check_range(start, end)
    return Filters(filters.by, start, end, filters.district, filters.service, filters.office,
                   filters.official)


def local_day(moment: datetime, zone: tzinfo) -> date:
    """Return the local date of an aware moment."""
    return moment.astimezone(zone).date()

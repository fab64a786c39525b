"""Data integrity per office: are citizens' numbers real, reachable and their own? Pure, no I/O.

An office that enters wrong or made-up numbers shows it in what the calls find:

- `invalid`: the network says the number does not exist (Q.850 causes 1, 3, 28);
- `unreachable`: every try failed (busy, no answer...) and the transaction closed unreachable;
- `not_me`: the person answering said they made no such visit;
- `repeated`: the transaction's number is on `repeat_visits` or more visits within
  `window_days` days (an office recycling a handful of numbers).

Each office's share of each is set against the rest of its district and the rest of the
province, with 95% Wilson intervals. A share is flagged only where the one-sided Fisher exact
test finds it higher than chance allows, after Holm's step-down correction over every
(office, measure, reference) test at once: on clean data the chance that even one office is
flagged is at most `ALPHA` (5%). Each flag says why, in words.

Numbers shared by several offices and numbers that behave like a staff member's or an agent's
(many visits, services and officials) are listed as numbers to check, with the rule they met;
they are evidence, not flags of an office.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ivr.results import wilson

__all__ = ["INVALID_CAUSES", "MEASURES", "Flag", "IntegrityReport", "NumberFinding",
           "NumberRules", "OfficeCounts", "OfficeRow", "Visit", "check", "number_patterns"]

INVALID_CAUSES = (1, 3, 28)  # Q.850: unallocated number, no route, invalid number format
MEASURES = {  # measure -> (denominator field, words for a flag)
    "invalid": ("dialled", "numbers the network says do not exist"),
    "unreachable": ("dialled", "citizens who could not be reached"),
    "not_me": ("dialled", "people who said \"not me\" (they made no such visit)"),
    "repeated": ("transactions", "transactions on a number used for many visits in a short time"),
}


@dataclass(slots=True)
class OfficeCounts:
    """One office's transactions and what the calls found (the store counts these)."""

    office: str
    district: str
    transactions: int = 0  # entered
    dialled: int = 0  # with at least one call: the denominator of invalid/unreachable/not_me
    invalid: int = 0
    unreachable: int = 0
    not_me: int = 0
    repeated: int = 0  # filled in from number_patterns()


@dataclass(frozen=True, slots=True)
class Visit:
    """One transaction's number and where it was entered (for the number patterns)."""

    mobile: str
    office: str
    district: str
    service: str
    official: str
    at: datetime


@dataclass(frozen=True, slots=True)
class NumberRules:
    """When a number is worth a look (stated in docs/ACCOUNTABILITY.md)."""

    window_days: float = 7.0
    repeat_visits: int = 4  # visits on one number within window_days
    shared_offices: int = 3  # offices one number was entered at
    staff_visits: int = 10  # a staff-like number: this many visits,
    staff_services: int = 3  # ... services
    staff_officials: int = 3  # ... and officials


@dataclass(frozen=True, slots=True)
class NumberFinding:
    """A number to check: why, and the offices it was entered at (visits per office)."""

    mobile: str
    rule: str  # repeated | shared | staff_like
    reason: str
    offices: dict[str, int]


@dataclass(frozen=True, slots=True)
class Flag:
    """A share higher than chance allows, and why in words."""

    office: str
    measure: str
    reference: str  # "district <name>" or "province"
    p_value: float
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"office": self.office, "measure": self.measure, "reference": self.reference,
                "p_value": float(f"{self.p_value:.3g}"), "reason": self.reason}


def _share(x: int, n: int) -> dict[str, Any]:
    low, high = wilson(x, n)
    return {"count": x, "of": n, "value": round(x / n, 4) if n else None,
            "low": round(low, 4), "high": round(high, 4)}


@dataclass(slots=True)
class OfficeRow:
    """One office's shares against its district's and the province's, and its flags."""

    counts: OfficeCounts
    shares: dict[str, dict[str, Any]] = field(default_factory=dict)  # measure -> office/district/province
    flags: list[Flag] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        c = self.counts
        return {"office": c.office, "district": c.district, "transactions": c.transactions,
                "dialled": c.dialled, "shares": self.shares,
                "flags": [f.as_dict() for f in self.flags]}


@dataclass(frozen=True, slots=True)
class IntegrityReport:
    """Every office's row, the flags, and the numbers to check."""

    offices: list[OfficeRow]
    flags: list[Flag]
    numbers: list[NumberFinding]
    alpha: float
    tests: int  # how many tests the false-flag control covered

    def as_dict(self, *, show_number: Any = None) -> dict[str, Any]:
        """Return the report as JSON; show_number(mobile) -> text masks numbers (None: as stored)."""
        shown = show_number or (lambda m: m)
        return {"alpha": self.alpha, "tests": self.tests,
                "method": "one-sided Fisher exact test, Holm step-down over all tests "
                          "(family-wise false-flag rate <= alpha)",
                "offices": [o.as_dict() for o in self.offices],
                "flags": [f.as_dict() for f in self.flags],
                "numbers": [{"mobile": shown(n.mobile), "rule": n.rule, "reason": n.reason,
                             "offices": n.offices} for n in self.numbers]}


def _bursts(times: Sequence[datetime], window: timedelta, least: int) -> list[bool]:
    """Mark each visit (times sorted) that lies in some window holding at least `least` visits."""
    marked = [False] * len(times)
    k = 0
    for j in range(len(times)):
        k = max(k, j)
        while k + 1 < len(times) and times[k + 1] - times[j] <= window:
            k += 1
        if k - j + 1 >= least:
            for i in range(j, k + 1):
                marked[i] = True
    return marked


def number_patterns(visits: Iterable[Visit], rules: NumberRules = NumberRules()
                    ) -> tuple[dict[str, int], list[NumberFinding]]:
    """Return each office's transactions on repeated numbers, and the numbers to check.

    Only numbers with two visits or more matter; the store may pass those alone.
    """
    by_number: dict[str, list[Visit]] = defaultdict(list)
    for v in visits:
        by_number[v.mobile].append(v)
    repeated: dict[str, int] = defaultdict(int)
    found: list[NumberFinding] = []
    window = timedelta(days=rules.window_days)
    for mobile, vs in sorted(by_number.items()):
        if len(vs) < 2:
            continue
        vs.sort(key=lambda v: v.at)
        offices: dict[str, int] = defaultdict(int)
        for v in vs:
            offices[v.office] += 1
        marks = _bursts([v.at for v in vs], window, rules.repeat_visits)
        if any(marks):
            for v, m in zip(vs, marks, strict=True):
                if m:
                    repeated[v.office] += 1
            found.append(NumberFinding(
                mobile, "repeated",
                f"{sum(marks)} visits within {rules.window_days:g} days on one number "
                f"(rule: {rules.repeat_visits} or more)", dict(offices)))
        if len(offices) >= rules.shared_offices:
            found.append(NumberFinding(
                mobile, "shared", f"entered at {len(offices)} offices "
                f"(rule: {rules.shared_offices} or more)", dict(offices)))
        services = {v.service for v in vs}
        officials = {(v.office, v.official) for v in vs if v.official}
        if (len(vs) >= rules.staff_visits and len(services) >= rules.staff_services
                and len(officials) >= rules.staff_officials):
            found.append(NumberFinding(
                mobile, "staff_like", f"{len(vs)} visits, {len(services)} services, "
                f"{len(officials)} officials: behaves like a staff member's or an agent's number",
                dict(offices)))
    return dict(repeated), found


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def check(offices: Sequence[OfficeCounts], numbers: Sequence[NumberFinding] = (),
          alpha: float = 0.05) -> IntegrityReport:
    """Set each office against the rest of its district and of the province; flag beyond chance.

    Holm's correction runs over every (office, measure, reference) test together, so the
    chance of any false flag on clean data is at most alpha.
    """
    province: dict[str, int] = defaultdict(int)
    district: dict[tuple[str, str], int] = defaultdict(int)
    fields = {*MEASURES, "dialled", "transactions"}
    for c in offices:
        for f in fields:
            province[f] += getattr(c, f)
            district[(c.district, f)] += getattr(c, f)
    rows = [OfficeRow(c) for c in offices]
    tests: list[tuple[int, str, str, int, int, int, int]] = []
    for i, row in enumerate(rows):
        c = row.counts
        for measure, (denom, _) in MEASURES.items():
            x, n = getattr(c, measure), getattr(c, denom)
            dx, dn = district[(c.district, measure)], district[(c.district, denom)]
            px, pn = province[measure], province[denom]
            row.shares[measure] = {"office": _share(x, n), "district": _share(dx, dn),
                                   "province": _share(px, pn)}
            for ref, rx, rn in ((f"district {c.district}", dx - x, dn - n),
                                ("province", px - x, pn - n)):
                if n > 0 and rn > 0:
                    tests.append((i, measure, ref, x, n, rx, rn))
    # here, not at import: the store (and the classic AGI script) never needs numpy or scipy
    from ivr.accountability.stats import excess_ps, holm

    ps = excess_ps([t[3] for t in tests], [t[4] for t in tests], [t[5] for t in tests],
                   [t[6] for t in tests])
    flags = []
    for (i, measure, ref, x, n, rx, rn), p, sig in zip(tests, ps, holm(ps, alpha), strict=True):
        if sig:
            words = MEASURES[measure][1]
            reason = (f"{words}: {_pct(x / n)} ({x} of {n}) against {_pct(rx / rn)} in the "
                      f"rest of the {ref} (one-sided Fisher p = {p:.2g}, significant after "
                      f"Holm's correction over {len(tests)} tests at {alpha:g})")
            flag = Flag(rows[i].counts.office, measure, ref, p, reason)
            rows[i].flags.append(flag)
            flags.append(flag)
    return IntegrityReport(rows, flags, list(numbers), alpha, len(tests))

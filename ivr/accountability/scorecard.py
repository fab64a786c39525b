"""Fair scorecards per office or official, and alerts on a rising bribe-report rate. Pure, no I/O.

A league table of raw rates is unfair: an official with 3 answers, all bad, lands at the
bottom by luck. So each unit's rate is shrunk towards its group by empirical Bayes: the
group's rates are fitted as Beta(a, b) by marginal maximum likelihood of the beta-binomial
(ivr.accountability.stats), and each unit's figure is its posterior mean with a 95%
equal-tailed credible interval. A rank is given only where a unit's interval overlaps no
other's (stats.separated_ranks); otherwise the range of ranks it could hold.

Units with fewer than `min_n` answers show no figure at all (as on the results pages: a lone
complainant must not be picked out), and are not ranked. A unit is marked "extreme on few
answers" when its raw rate lies outside its own credible interval and it has fewer answers
than the prior's weight a + b (so the group's evidence outweighs its own): its raw figure
rests on too few answers to be believed.

`bribe_alerts` compares each office's bribe-report rate this week with last week's by the
one-sided Fisher exact test, Holm-corrected over all offices: in a week when no office's rate
truly rose, the chance of any alert at all is at most ALPHA (5%).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ivr.accountability.stats import (
    ALPHA,
    BetaPrior,
    excess_p,
    fit_beta_binomial,
    holm,
    posteriors,
    separated_ranks,
)

__all__ = ["Alert", "ScoreRow", "Unit", "bribe_alerts", "scorecard", "trend"]


@dataclass(frozen=True, slots=True)
class Unit:
    """One office's or official's counts on one measure: x "yes" out of n answers.

    x and n may be effective counts (a weighted sample at Kish's effective size).
    """

    name: str
    group: str  # the district (offices) or office (officials) it belongs to
    x: float
    n: float
    answers: int  # unweighted answers, for suppression


@dataclass(slots=True)
class ScoreRow:
    """One unit's shrunk figure, interval and rank (None where intervals overlap)."""

    name: str
    group: str
    answers: int
    raw: float | None
    value: float | None
    low: float | None
    high: float | None
    rank: int | None = None
    rank_range: tuple[int, int] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def suppressed(self) -> bool:
        return self.value is None

    def as_dict(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 4)
        return {"name": self.name, "group": self.group, "answers": self.answers,
                "raw": r(self.raw), "value": r(self.value), "low": r(self.low),
                "high": r(self.high), "rank": self.rank,
                "rank_range": list(self.rank_range) if self.rank_range else None,
                "suppressed": self.suppressed, "notes": self.notes}


def scorecard(units: Sequence[Unit], min_n: int, *, higher_is_better: bool = True,
              prior: BetaPrior | None = None) -> tuple[list[ScoreRow], BetaPrior]:
    """Return each unit's shrunk row (in the given order) and the fitted prior.

    The prior is fitted on every unit given (pass the whole province's units, then show the
    ones a role may see); pass `prior` to reuse one.
    """
    if prior is None:
        prior = fit_beta_binomial([u.x for u in units], [u.n for u in units])
    rows = []
    usable = [u for u in units if u.answers >= max(min_n, 1) and u.n > 0]
    posts = dict(zip((id(u) for u in usable),
                     posteriors([u.x for u in usable], [u.n for u in usable], prior), strict=True))
    for u in units:
        post = posts.get(id(u))
        if post is None:
            rows.append(ScoreRow(u.name, u.group, u.answers, None, None, None, None,
                                 notes=[f"fewer than {min_n} answers: no figure, no rank"]))
            continue
        raw = u.x / u.n
        row = ScoreRow(u.name, u.group, u.answers, raw, post.mean, post.low, post.high)
        if not post.low <= raw <= post.high and u.n < prior.a + prior.b:
            row.notes.append(
                f"extreme on few answers: the raw {100 * raw:.0f}% on {u.answers} answers is "
                f"outside its own credible interval and is shrunk to {100 * post.mean:.0f}% "
                f"towards the group's {100 * prior.mean:.0f}%")
        rows.append(row)
    shown = [r for r in rows if not r.suppressed]
    sign = 1.0 if higher_is_better else -1.0
    intervals = [(min(sign * r.low, sign * r.high), max(sign * r.low, sign * r.high))  # type: ignore[operator]
                 for r in shown]
    for r, (rank, best, worst) in zip(shown, separated_ranks(intervals), strict=True):
        r.rank, r.rank_range = rank, (best, worst)
        if rank is None:
            r.notes.append(f"not ranked: its interval overlaps others' (could be {best} to {worst})")
    return rows, prior


@dataclass(frozen=True, slots=True)
class Alert:
    """An office whose bribe-report rate rose beyond chance this week."""

    office: str
    last: tuple[int, int]  # (yes, answers) last week
    this: tuple[int, int]
    p_value: float
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"office": self.office, "last_week": {"yes": self.last[0], "answers": self.last[1]},
                "this_week": {"yes": self.this[0], "answers": self.this[1]},
                "p_value": float(f"{self.p_value:.3g}"), "reason": self.reason}


def bribe_alerts(last: Mapping[str, tuple[int, int]], this: Mapping[str, tuple[int, int]],
                 alpha: float = ALPHA) -> list[Alert]:
    """Return the offices whose bribe-report rate rose beyond chance from last week to this.

    Each office: one-sided Fisher exact test of this week's yes/answers against last week's;
    Holm over all offices with answers in both weeks, so the family-wise false-alarm rate is
    at most alpha per week.
    """
    names = sorted(o for o in this if o in last and this[o][1] > 0 and last[o][1] > 0)
    ps = [excess_p(this[o][0], this[o][1], last[o][0], last[o][1]) for o in names]
    out = []
    for o, p, sig in zip(names, ps, holm(ps, alpha), strict=True):
        if sig:
            (x1, n1), (x2, n2) = last[o], this[o]
            out.append(Alert(o, (x1, n1), (x2, n2), p,
                             f"bribe reports rose from {100 * x1 / n1:.1f}% ({x1} of {n1}) to "
                             f"{100 * x2 / n2:.1f}% ({x2} of {n2}); one-sided Fisher p = {p:.2g}, "
                             f"beyond chance after Holm's correction over {len(names)} offices"))
    return out


def trend(weeks: Sequence[tuple[str, Sequence[Unit]]], min_n: int, *,
          higher_is_better: bool = True) -> list[dict[str, Any]]:
    """Return each week's shrunk rows (the prior fitted on that week's units), oldest first."""
    out = []
    for week, units in weeks:
        rows, prior = scorecard(units, min_n, higher_is_better=higher_is_better)
        out.append({"week": week, "group_mean": round(prior.mean, 4),
                    "rows": [r.as_dict() for r in rows]})
    return out

"""Accountability figures as the pages, the API, the monthly report and the CLI show them.

Pure composition, no I/O: the store's counts and sums (ivr/store/accountability.py) go in,
JSON-ready dicts come out, through the rules of `integrity`, `scorecard` and
`ivr.results.estimate`. Figures are computed over the whole province (or a department's
services) so that every office is set against the same references, then cut to the scope
the caller may see (`district`). Citizens' numbers are masked.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from ivr import phone
from ivr.accountability.integrity import NumberRules, OfficeCounts, Visit, check, number_patterns
from ivr.accountability.scorecard import Unit, bribe_alerts, scorecard
from ivr.accountability.stats import ALPHA
from ivr.cases import CaseAction
from ivr.results import estimate, kish_n

__all__ = ["MEASURES", "alerts_view", "integrity_view", "monthly_view", "scorecard_view",
           "trend_view", "units_of", "watch_view"]

MEASURES = ("satisfaction", "bribe")
RULES = NumberRules()


def integrity_view(counts: list[OfficeCounts], visits: Iterable[Visit], *,
                   district: str | None = None, rules: NumberRules = RULES,
                   alpha: float = ALPHA) -> dict[str, Any]:
    """Return the integrity report (every office tested), cut to one district if given."""
    repeated, numbers = number_patterns(visits, rules)
    for c in counts:
        c.repeated = repeated.get(c.office, 0)
    out = check(counts, numbers, alpha).as_dict(show_number=phone.mask)
    out["rules"] = {"window_days": rules.window_days, "repeat_visits": rules.repeat_visits,
                    "shared_offices": rules.shared_offices, "staff_visits": rules.staff_visits,
                    "staff_services": rules.staff_services,
                    "staff_officials": rules.staff_officials}
    if district is not None:
        mine = {o["office"] for o in out["offices"] if o["district"] == district}
        out["offices"] = [o for o in out["offices"] if o["office"] in mine]
        out["flags"] = [f for f in out["flags"] if f["office"] in mine]
        out["numbers"] = [n for n in out["numbers"] if mine & set(n["offices"])]
        for n in out["numbers"]:  # other districts' offices are not the officer's to see
            n["offices"] = {o: k for o, k in n["offices"].items() if o in mine}
    return out


def units_of(rows: Sequence[Mapping[str, Any]], by: str, measure: str) -> list[Unit]:
    """Turn the store's sums per office or official into effective counts for one measure.

    A weighted share p at Kish's effective size n_eff counts as p * n_eff of n_eff.
    """
    units = []
    for r in rows:
        if measure == "satisfaction":
            w, w2, yes, answers = r["rated_w"], r["rated_w2"], r["satisfied_w"], r["rated"]
        elif measure == "bribe":
            w, w2, yes, answers = r["bribe_w"], r["bribe_w2"], r["bribe_yes_w"], r["bribe_n"]
        else:
            raise ValueError(f"measure {measure!r}")
        n = kish_n(w or 0.0, w2 or 0.0)
        x = min(n, max(0.0, (yes or 0.0) / w * n)) if w else 0.0
        name = r["office"] if by == "office" else r["official"]
        group = r["district"] if by == "office" else r["office"]
        units.append(Unit(name, group, x, n, int(answers or 0)))
    return units


def scorecard_view(rows: Sequence[Mapping[str, Any]], by: str, measure: str, min_n: int, *,
                   district: str | None = None) -> dict[str, Any]:
    """Return the fair scorecard of offices or officials on one measure, cut to a district."""
    units = units_of(rows, by, measure)
    shown, prior = scorecard(units, min_n, higher_is_better=measure == "satisfaction")
    out = []
    for r, src in zip(shown, rows, strict=True):
        if district is not None and src["district"] != district:
            continue
        d = r.as_dict()
        d["district"] = src["district"]
        if by == "official":
            d["office"] = src["office"]
        d["stands_out"] = (None if r.low is None or r.high is None else
                           "above" if r.low > prior.mean else
                           "below" if r.high < prior.mean else None)
        out.append(d)
    return {"by": by, "measure": measure, "min_responses": min_n,
            "method": "empirical Bayes: beta-binomial prior fitted by marginal maximum "
                      "likelihood; posterior mean, 95% equal-tailed credible interval; "
                      "a rank only where the interval overlaps no other",
            "group_mean": round(prior.mean, 4), "prior": {"a": round(prior.a, 4),
                                                          "b": round(prior.b, 4)},
            "rows": out}


def trend_view(rows: Sequence[Mapping[str, Any]], by: str, measure: str, min_n: int, *,
               district: str | None = None) -> dict[str, Any]:
    """Return the scorecard week by week (each week's prior fitted on that week's units)."""
    weeks: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in rows:
        weeks[r["week"]].append(r)
    out = []
    for week in sorted(weeks):
        view = scorecard_view(weeks[week], by, measure, min_n, district=district)
        out.append({"week": week, "group_mean": view["group_mean"], "rows": view["rows"]})
    return {"by": by, "measure": measure, "min_responses": min_n, "weeks": out}


def alerts_view(weekly: Sequence[Mapping[str, Any]], week: date, *,
                district: str | None = None, alpha: float = ALPHA) -> dict[str, Any]:
    """Return the offices whose bribe-report rate rose beyond chance in `week` (a Monday)."""
    def counts(monday: date) -> dict[str, tuple[int, int]]:
        out = {}
        for r in weekly:
            if r["week"] == monday.isoformat() and r["n"]:
                n = int(r["n"])
                out[r["office"]] = (round((r["yes_w"] or 0.0) / r["w"] * n) if r["w"] else 0, n)
        return out
    alerts = bribe_alerts(counts(week - timedelta(days=7)), counts(week), alpha)
    home = {r["office"]: r["district"] for r in weekly}
    shown = [a.as_dict() | {"district": home.get(a.office)} for a in alerts
             if district is None or home.get(a.office) == district]
    return {"week": week.isoformat(), "alpha": alpha,
            "method": "one-sided Fisher exact test of this week against last week, Holm over "
                      "all offices: in a week with no true rise, any alert at all has "
                      f"probability <= {alpha:g}",
            "alerts": shown}


def watch_view(weekly: Sequence[Mapping[str, Any]], monday: date,
               overdue: Mapping[str, Mapping[str, int]], *, district: str | None = None,
               alpha: float = ALPHA) -> dict[str, Any]:
    """Return what the live overview lists beside today's figures, in one scope.

    `weekly` is the store's weekly_bribes over the three weeks ending with `monday`'s week;
    the alerts are this week's (so far) and last week's, newest first, each week tested as
    its own family (at most `alpha` chance of any false alarm per week). `overdue` is the
    store's overdue_by_district, already cut to the scope; the total sums it.
    """
    alerts = []
    for week in (monday, monday - timedelta(days=7)):
        view = alerts_view(weekly, week, district=district, alpha=alpha)
        alerts += [a | {"week": view["week"]} for a in view["alerts"]]
    keys = ("overdue", "at_department", "at_oversight")
    districts = [{"district": name, **{k: int(counts.get(k, 0)) for k in keys}}
                 for name, counts in sorted(overdue.items()) if counts.get("overdue")]
    total = {k: sum(int(counts.get(k, 0)) for counts in overdue.values()) for k in keys}
    return {"week": monday.isoformat(), "alpha": alpha, "alerts": alerts,
            "overdue": {"total": total, "districts": districts}}


def _district_figures(r: Mapping[str, Any], min_n: int) -> dict[str, Any]:
    sat = estimate(int(r["rated"]), r["satisfied_w"], r["rated_w"], r["rated_w2"], min_n)
    bribe = estimate(int(r["bribe_n"]), r["bribe_yes_w"], r["bribe_w"], r["bribe_w2"], min_n)
    return {"transactions": r["transactions"], "contacted": r["contacted"],
            "responses": r["responses"], "satisfaction": sat.as_dict(),
            "bribe_rate": bribe.as_dict(),
            "actions": {a.value: int(r[a.value]) for a in CaseAction}}


def monthly_view(month: str, rows: Sequence[Mapping[str, Any]], integrity: Mapping[str, Any],
                 offices: Mapping[str, Any], overdue: Mapping[str, Mapping[str, int]],
                 min_n: int, district: str | None = None) -> dict[str, Any]:
    """Return the monthly district report: per district and for the province (or the district).

    `integrity` is integrity_view's output, `offices` scorecard_view's (satisfaction, by
    office); offices "stand out" only where their credible interval lies wholly above or
    below the group's mean.
    """
    total: dict[str, Any] = defaultdict(float)
    districts = []
    flags_by: dict[str, int] = defaultdict(int)
    home = {o["office"]: o["district"] for o in integrity.get("offices", [])}
    for f in integrity.get("flags", []):
        flags_by[home.get(f["office"], "")] += 1
    for r in rows:
        for k, v in r.items():
            if k != "district":
                total[k] += v
        d = _district_figures(r, min_n)
        d["district"] = r["district"]
        d["integrity_flags"] = flags_by.get(r["district"], 0)
        d["overdue_cases"] = overdue.get(r["district"], {}).get("overdue", 0)
        districts.append(d)
    whole: dict[str, Any] = {k: 0 for k in ("transactions", "contacted", "responses", "rated",
                                            "satisfied_w", "rated_w", "rated_w2", "bribe_n",
                                            "bribe_yes_w", "bribe_w", "bribe_w2",
                                            *(a.value for a in CaseAction))}
    whole.update(total)
    summary = _district_figures(whole, min_n)
    for k in ("transactions", "contacted", "responses"):
        summary[k] = int(summary[k])
    summary["actions"] = {k: int(v) for k, v in summary["actions"].items()}
    summary["integrity_flags"] = sum(d["integrity_flags"] for d in districts)
    summary["overdue_cases"] = sum(d["overdue_cases"] for d in districts)
    stand = [{"office": o["name"], "district": o["district"], "stands_out": o["stands_out"],
              "satisfaction": o["value"], "low": o["low"], "high": o["high"]}
             for o in offices.get("rows", []) if o.get("stands_out")]
    return {"month": month, "district": district, "scope": district or "province",
            "min_responses": min_n, "total": summary, "districts": districts,
            "flags": list(integrity.get("flags", [])), "offices_standing_out": stand}

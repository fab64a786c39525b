"""Service, results: the one road from the store's sums to every figure shown.

/results, its CSV/XLSX exports, /api/v1/results, the live overview and `rabta report` all
call these functions: the trigger-kept sums (ivr/store/results.py) in, the same weighting,
intervals and small-group suppression (ivr/results.py) out. So one group has one figure,
whichever page, file or command shows it, and nobody with a shell gets round the rule that
a group with fewer than `min_responses` answers shows none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from ivr import results
from ivr.reports import NO_GROUP, TOTAL, ReportRow
from ivr.results import Filters, GroupSums, ResultRow, Scope
from ivr.store import SQLiteStore

__all__ = ["Figures", "choices", "figures", "hourly", "hours", "live", "overview", "report"]


@dataclass(frozen=True, slots=True)
class Figures:
    """One results view: a row per group (ranked unless over time) and the total of them all."""

    filters: Filters
    min_responses: int
    weighted: bool  # sampling weights changed the figures
    rows: list[ResultRow]
    total: ResultRow


async def figures(store: SQLiteStore, filters: Filters, scope: Scope, min_n: int) -> Figures:
    """Read the sums by the filters' grouping within a scope and turn them into figures.

    For by=day|week the filters must carry a range (ivr.results.default_range): every day or
    week of it gets a row, none or not.
    """
    groups = await store.result_groups(filters, scope)
    over_time = filters.by in results.TIME_GROUPS
    if over_time:
        assert filters.start is not None and filters.end is not None
        groups = results.timeline(groups, filters.by, filters.start, filters.end)
    rows, total = results.summarize(groups, min_n, ranked=not over_time)
    return Figures(filters, min_n, results.weighted(groups), rows, total)


async def choices(store: SQLiteStore, filters: Filters, scope: Scope
                  ) -> tuple[Filters, dict[str, list[str]]]:
    """Return the filters as the data writes them (matched case-insensitively) and the choices
    of each filter within the scope: districts, services and, within a district, offices."""
    known = await store.filter_choices(scope)
    filters = results.canonical(filters, known)
    if filters.district is not None or scope.district is not None:
        known = await store.filter_choices(scope, filters.district)
        filters = results.canonical(filters, known)
    return filters, known


# The overview's shares are of the visits of yesterday and today: a visit is called hours
# later, so this morning's answers are mostly about last evening's visits.
OVERVIEW_SPAN = timedelta(days=1)


async def overview(store: SQLiteStore, day: date, start: datetime, end: datetime, scope: Scope,
                   min_n: int) -> dict[str, Any]:
    """Return one local day's live figures: its visits and calls, and the recent visits' shares.

    The satisfaction and bribe figures are those /results gives for the visits of the day
    before and the day itself (from=figures_from, to=figures_to, the total): the same sums,
    the same suppression; a citizen called back counts once.
    """
    since = day - OVERVIEW_SPAN
    counts = await store.overview_counts(day, start, end, scope, since=since)
    row = results.row_of("TOTAL", counts.pop("sums"), min_n)
    return {"day": day.isoformat(), **counts, "min_responses": min_n,
            "figures_from": since.isoformat(), "figures_to": day.isoformat(),
            "satisfaction": row.satisfaction.as_dict(),
            "mean_rating": None if row.mean_rating is None else round(row.mean_rating, 3),
            "bribe_rate": row.bribe.as_dict()}


def hourly(rows: list[tuple[str, int, int]], day: date, zone: tzinfo) -> dict[str, list[int]]:
    """Fold (UTC hour, calls, answered) into 24 local hours of `day` and of the day before."""
    out = {k: [0] * 24 for k in ("calls", "answered", "calls_yesterday", "answered_yesterday")}
    for hour, calls, answered in rows:
        local = datetime.strptime(hour, "%Y-%m-%dT%H").replace(tzinfo=UTC).astimezone(zone)
        suffix = "" if local.date() == day else "_yesterday" if local.date() < day else None
        if suffix is None:
            continue
        out["calls" + suffix][local.hour] += calls
        out["answered" + suffix][local.hour] += answered
    return out


async def hours(store: SQLiteStore, day: date, zone: tzinfo, scope: Scope
                ) -> dict[str, list[int]]:
    """Return calls and answered calls by local hour, today against yesterday, in a scope."""
    start = datetime.combine(day - timedelta(days=1), time(), zone)
    end = datetime.combine(day + timedelta(days=1), time(), zone)
    return hourly(await store.calls_by_hour(start, end, scope), day, zone)


async def live(store: SQLiteStore, day: date, scope: Scope, min_n: int) -> dict[str, Any]:
    """Return the overview's row per district: today's calls, and the shares of the visits of
    yesterday and today as /results?by=district gives them for that range (the same
    suppression, so one figure everywhere)."""
    since = day - OVERVIEW_SPAN
    counts = await store.calls_by_district(day, scope)
    sums = dict(await store.result_groups(Filters(by="district", start=since, end=day), scope))
    names = sorted(set(counts) | set(sums), key=lambda g: (g.casefold(), g))
    rows, _ = results.summarize([(g, sums.get(g, GroupSums())) for g in names], min_n,
                                ranked=False)
    districts = [{"district": r.group, **counts.get(r.group, {"calls": 0, "answered": 0,
                                                             "completed": 0}),
                  "responses": r.responses, "satisfaction": r.satisfaction.as_dict(),
                  "bribe_rate": r.bribe.as_dict()} for r in rows]
    return {"districts": districts}


async def report(store: SQLiteStore, by: str, min_n: int, scope: Scope | None = None
                 ) -> list[ReportRow]:
    """Return `rabta report`'s rows: per group, how far its transactions got and its figures.

    The figures are those /results shows by the same grouping (every group with transactions
    is a row; one without answers shows none), then the TOTAL row.
    """
    scope = scope or Scope()
    counts = await store.transaction_counts(by, scope)
    sums = dict(await store.result_groups(Filters(by=by), scope))
    names = sorted(set(counts) | set(sums), key=lambda g: (g.casefold(), g))
    rows, total = results.summarize([(g, sums.get(g, GroupSums())) for g in names], min_n)
    out = []
    grand: dict[str, int] = {}
    for name, row in zip(names, rows, strict=True):
        c = counts.get(name, {})
        for k, v in c.items():
            grand[k] = grand.get(k, 0) + v
        out.append(ReportRow.of(name or NO_GROUP, c, row))
    out.append(ReportRow.of(TOTAL, grand, total))
    return out

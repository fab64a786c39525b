"""Accountability, reading: the one module of the package that awaits the store.

It asks the store (ivr/store/accountability.py) for counts and sums over a period, passes
them through the pure figures (ivr.accountability.figures), and returns what the web pages,
the JSON API and `rabta report monthly` show, all the same way. Scope: `services` (a
department) is applied in SQL, `district` (a district officer) to the computed rows, so that
every office is still set against its whole district and the province.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from ivr import results
from ivr.accountability import digest, figures
from ivr.accountability.deadlines import Level, parse_deadlines
from ivr.accounts import describe_scope
from ivr.errors import InputError

if TYPE_CHECKING:
    from ivr.config import Settings
    from ivr.store import SQLiteStore

__all__ = ["Period", "alerts", "apply_deadlines", "digests", "escalated", "integrity", "month_period",
           "monthly", "period", "scorecard", "trend", "watch"]

MAX_DAYS = 366


class Period:
    """Local days first..last and the UTC moments [start, end) they span."""

    def __init__(self, first: date, last: date, zone: tzinfo) -> None:
        self.first, self.last = first, last
        self.start = datetime.combine(first, time(), zone)
        self.end = datetime.combine(last + timedelta(days=1), time(), zone)

    def as_dict(self) -> dict[str, str]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}


def query_day(text: str, name: str) -> date:
    """A date from a query, within the dates every results page accepts (2000-2099)."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{name}: {text[:40]!r} is not a date (YYYY-MM-DD)") from None
    if not results.FIRST_DAY <= day <= results.LAST_DAY:
        raise InputError(f"{name}: {day.isoformat()} is outside {results.FIRST_DAY.isoformat()} "
                         f"to {results.LAST_DAY.isoformat()}")
    return day


def period(query: dict[str, str], today: date, zone: tzinfo, days: int = 28) -> Period:
    """Return the period a request asks for (from, to), by default the last `days` days."""
    last = query_day(query["to"], "to") if query.get("to", "").strip() else today
    first = (query_day(query["from"], "from") if query.get("from", "").strip()
             else last - timedelta(days=days - 1))
    if last < first:
        raise InputError("to: the range ends before it starts")
    if (last - first).days >= MAX_DAYS:
        raise InputError(f"to: a range of at most {MAX_DAYS} days")
    return Period(first, last, zone)


def month_period(month: str, zone: tzinfo) -> Period:
    """Return the period of a month written YYYY-MM, or raise InputError."""
    m = re.fullmatch(r"(\d{4})-(\d{2})", month.strip())
    if not m or not 1 <= int(m[2]) <= 12 or int(m[1]) < 2000:
        raise InputError(f"month: {month[:20]!r} is not a month (YYYY-MM, e.g. 2026-11)")
    first = date(int(m[1]), int(m[2]), 1)
    nxt = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return Period(first, nxt - timedelta(days=1), zone)


async def integrity(store: SQLiteStore, p: Period, *, services: Sequence[str] | None = None,
                    district: str | None = None) -> dict[str, Any]:
    """Return the integrity report of a period in a scope."""
    counts = await store.integrity_counts(p.start, p.end, services=services)
    visits = await store.repeated_visits(p.start, p.end, services=services)
    out = figures.integrity_view(counts, visits, district=district)
    out["period"] = p.as_dict()
    return out


def _choice(value: str | None, allowed: tuple[str, ...], name: str) -> str:
    value = (value or allowed[0]).strip()
    if value not in allowed:
        raise InputError(f"{name}: {value[:40]!r} is not one of {', '.join(allowed)}")
    return value


async def scorecard(store: SQLiteStore, settings: Settings, p: Period, by: str | None,
                    measure: str | None, *, services: Sequence[str] | None = None,
                    district: str | None = None) -> dict[str, Any]:
    """Return the fair scorecard of a period (by office|official, satisfaction|bribe)."""
    by = _choice(by, ("office", "official"), "by")
    measure = _choice(measure, figures.MEASURES, "measure")
    rows = await store.scorecard_sums(by, p.first, p.last, services=services)
    out = figures.scorecard_view(rows, by, measure, settings.min_responses, district=district)
    out["period"] = p.as_dict()
    return out


async def trend(store: SQLiteStore, settings: Settings, p: Period, by: str | None,
                measure: str | None, *, services: Sequence[str] | None = None,
                district: str | None = None) -> dict[str, Any]:
    """Return the weekly trend of the fair scorecard over a period."""
    by = _choice(by, ("office", "official"), "by")
    measure = _choice(measure, figures.MEASURES, "measure")
    rows = await store.weekly_sums(by, p.first, p.last, services=services)
    out = figures.trend_view(rows, by, measure, settings.min_responses, district=district)
    out["period"] = p.as_dict()
    return out


async def alerts(store: SQLiteStore, week: date, *, services: Sequence[str] | None = None,
                 district: str | None = None) -> dict[str, Any]:
    """Return the bribe-rate alerts of the week starting on `week`'s Monday."""
    monday = week - timedelta(days=week.weekday())
    rows = await store.weekly_bribes(monday - timedelta(days=7), monday + timedelta(days=6),
                                     services=services)
    return figures.alerts_view(rows, monday, district=district)


async def watch(store: SQLiteStore, settings: Settings, today: date, now: datetime, *,
                services: Sequence[str] | None = None, district: str | None = None
                ) -> dict[str, Any]:
    """Return the live overview's watch list: this week's and last week's bribe-rate alerts
    and the overdue cases in a scope (the deadlines applied at `now` first)."""
    monday = today - timedelta(days=today.weekday())
    rows = await store.weekly_bribes(monday - timedelta(days=14), monday + timedelta(days=6),
                                     services=services)
    await apply_deadlines(store, settings, now)
    overdue = await store.overdue_by_district(services=services, district=district)
    return figures.watch_view(rows, monday, overdue, district=district)


async def _week_alerts(store: SQLiteStore, through: date, scope: results.Scope
                       ) -> dict[str, Any]:
    """The alerts of `through`'s week over the visits up to the end of `through`."""
    monday = through - timedelta(days=through.weekday())
    rows = await store.weekly_bribes(monday - timedelta(days=7), through,
                                     services=scope.services)
    return figures.alerts_view(rows, monday, district=scope.district)


async def digests(store: SQLiteStore, settings: Settings, day: date, now: datetime
                  ) -> list[digest.Digest]:
    """Return the daily digest of `day` for every enabled official who sees results (the
    deadlines applied at `now` first); the store is read once per distinct scope."""
    await apply_deadlines(store, settings, now)
    read: dict[results.Scope, dict[str, Any]] = {}
    out = []
    for user in await store.users():
        scope = results.scope_of(user.role, user.scope)
        if user.disabled or scope is None:
            continue
        if scope not in read:
            read[scope] = {
                "alerts_through_day": await _week_alerts(store, day, scope),
                "alerts_day_before": await _week_alerts(store, day - timedelta(days=1), scope),
                "overdue": await store.overdue_by_district(services=scope.services,
                                                           district=scope.district),
                "waiting": await store.actions_by_district(services=scope.services,
                                                           district=scope.district)}
        out.append(digest.build(user.username, user.role.value,
                                describe_scope(user.role, user.scope), day, now, **read[scope]))
    return out


async def apply_deadlines(store: SQLiteStore, settings: Settings, now: datetime
                          ) -> list[dict[str, Any]]:
    """Escalate every overdue report one level now (config: case_deadlines)."""
    default, per = parse_deadlines(settings.case_deadlines)
    return await store.apply_deadlines(now, default, per)


async def escalated(store: SQLiteStore, settings: Settings, level: Level, now: datetime, *,
                    services: Sequence[str] | None = None, district: str | None = None
                    ) -> list[dict[str, Any]]:
    """Apply the deadlines at `now`, then return the open reports now at `level`."""
    await apply_deadlines(store, settings, now)
    return await store.escalated_reports(level, services=services, district=district)


async def monthly(store: SQLiteStore, settings: Settings, month: str, zone: tzinfo,
                  now: datetime, *, services: Sequence[str] | None = None,
                  district: str | None = None) -> dict[str, Any]:
    """Return the monthly district report (per district and for the province or district)."""
    p = month_period(month, zone)
    await apply_deadlines(store, settings, now)
    rows = await store.monthly_figures(p.start, p.end, p.first, p.last, district=district,
                                       services=services)
    integ = await integrity(store, p, services=services, district=district)
    offices = await scorecard(store, settings, p, "office", "satisfaction", services=services,
                              district=district)
    overdue = await store.overdue_by_district(services=services, district=district)
    out = figures.monthly_view(month, rows, integ, offices, overdue, settings.min_responses,
                               district)
    out["period"] = p.as_dict()
    return out

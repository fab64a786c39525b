"""Web, accountability: data integrity, fair scorecards, bribe-rate alerts, escalated cases and
the monthly district report, as pages, JSON and downloads. Beside the road, after the answers.

    GET /accountability                       the page: integrity flags, scorecard, alerts,
                                              the cases escalated to the caller's level
    GET /api/v1/accountability/integrity      ?from&to (default: the last 28 days)
    GET /api/v1/accountability/scorecard      ?from&to&by=office|official&measure=satisfaction|bribe
    GET /api/v1/accountability/trend          the scorecard week by week (same parameters)
    GET /api/v1/accountability/alerts         ?week=YYYY-MM-DD (default: this week)
    GET /api/v1/accountability/escalated      open reports escalated to the caller's level
    GET /export/integrity.csv                 every office's shares and flags
    GET /reports/monthly                      ?month=YYYY-MM[&district=][&format=html|pdf]
    GET /api/v1/reports/monthly               the JSON behind it
    GET /api/v1/accountability/arms           every experiment; ?experiment=NAME: its arms'
                                              results with intervals, differences, balance
    GET /export/arms.csv?experiment=NAME      one row per transaction, for causal analysis:
                                              oversight only (single responses)

Who sees what: as on the results pages (ivr.results.scope_of): oversight everything, a
department its services, a district officer its district; other roles 403, office API keys
403, nobody signed in 302 to /login (pages) or 401 (API). Escalated cases are listed for the
level they were escalated to only: department (level 1) or oversight (level 2); a district
officer's own overdue cases have left their list. Reading the escalated list or the monthly
report first applies the deadline rule at the app's `now` (ivr.accountability.deadlines).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from ivr import results
from ivr.accountability import arms, reading, report
from ivr.accountability.deadlines import Level
from ivr.accounts import Area, Role, User, describe_scope
from ivr.errors import InputError
from ivr.web.common import SETTINGS, STORE, identity, now, render, require

_LEVEL_OF = {Role.DEPARTMENT: Level.DEPARTMENT, Role.OVERSIGHT: Level.OVERSIGHT}


def _viewer(request: web.Request) -> tuple[User, results.Scope]:
    """Return the signed-in official and their results scope, or refuse (the edge's one guard)."""
    user = require(request, Area.RESULTS, what="see accountability figures")
    scope = results.scope_of(user.role, user.scope)
    assert scope is not None  # Area.RESULTS: a role with a scope
    return user, scope


def _zone(request: web.Request) -> ZoneInfo:
    return ZoneInfo(request.app[SETTINGS].timezone)


def _today(request: web.Request) -> date:
    return results.local_day(now(request), _zone(request))


def _period(request: web.Request) -> reading.Period:
    return reading.period(dict(request.query), _today(request), _zone(request))


def _week(request: web.Request) -> date:
    raw = request.query.get("week", "").strip()
    if not raw:
        return _today(request)
    return reading.query_day(raw, "week")


async def _integrity(request: web.Request, scope: results.Scope) -> dict[str, Any]:
    return await reading.integrity(request.app[STORE], _period(request),
                                   services=scope.services, district=scope.district)


async def _scorecard(request: web.Request, scope: results.Scope) -> dict[str, Any]:
    return await reading.scorecard(request.app[STORE], request.app[SETTINGS], _period(request),
                                   request.query.get("by"), request.query.get("measure"),
                                   services=scope.services, district=scope.district)


async def _alerts(request: web.Request, scope: results.Scope) -> dict[str, Any]:
    return await reading.alerts(request.app[STORE], _week(request), services=scope.services,
                                district=scope.district)


async def _escalated(request: web.Request, user: User, scope: results.Scope
                     ) -> list[dict[str, Any]]:
    level = _LEVEL_OF.get(user.role)
    if level is None:  # a district officer: their overdue cases went up, not to them
        await reading.apply_deadlines(request.app[STORE], request.app[SETTINGS], now(request))
        return []
    rows = await reading.escalated(request.app[STORE], request.app[SETTINGS], level,
                                   now(request), services=scope.services, district=scope.district)
    return [{k: v for k, v in r.items() if k != "mobile"} for r in rows]


async def deadlines_overdue(request: web.Request, services: Sequence[str] | None,
                            district: str | None) -> dict[str, dict[str, int]]:
    """Apply the deadlines now; return per district the overdue (escalated) open reports."""
    await reading.apply_deadlines(request.app[STORE], request.app[SETTINGS], now(request))
    return await request.app[STORE].overdue_by_district(services=services, district=district)


async def integrity_api(request: web.Request) -> web.Response:
    _, scope = _viewer(request)
    return web.json_response(await _integrity(request, scope))


async def scorecard_api(request: web.Request) -> web.Response:
    _, scope = _viewer(request)
    return web.json_response(await _scorecard(request, scope))


async def trend_api(request: web.Request) -> web.Response:
    _, scope = _viewer(request)
    data = await reading.trend(request.app[STORE], request.app[SETTINGS], _period(request),
                               request.query.get("by"), request.query.get("measure"),
                               services=scope.services, district=scope.district)
    return web.json_response(data)


async def alerts_api(request: web.Request) -> web.Response:
    _, scope = _viewer(request)
    return web.json_response(await _alerts(request, scope))


async def escalated_api(request: web.Request) -> web.Response:
    user, scope = _viewer(request)
    return web.json_response({"role": user.role.value,
                              "reports": await _escalated(request, user, scope)})


async def page(request: web.Request) -> web.Response:
    """The accountability page: integrity, scorecard, alerts and escalated cases in scope."""
    user, scope = _viewer(request)
    who = identity(request)
    assert who is not None and who.session is not None
    return render(request, "accountability.html", user=user,
                  scope=describe_scope(user.role, user.scope),
                  integrity=await _integrity(request, scope),
                  scorecard=await _scorecard(request, scope), alerts=await _alerts(request, scope),
                  escalated=await _escalated(request, user, scope), pct=report.pct,
                  csrf_token=who.session.csrf_token, query=dict(request.query))


async def integrity_csv(request: web.Request) -> web.Response:
    """Every office's shares (office, district, province, with intervals) and its flags."""
    _, scope = _viewer(request)
    data = await _integrity(request, scope)
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["office", "district", "transactions", "dialled", "measure", "count", "of",
                "share", "low", "high", "district_share", "province_share", "flags"])
    for o in data["offices"]:
        for measure, s in o["shares"].items():
            reasons = "; ".join(f["reason"] for f in o["flags"] if f["measure"] == measure)
            w.writerow([o["office"], o["district"], o["transactions"], o["dialled"], measure,
                        s["office"]["count"], s["office"]["of"], s["office"]["value"],
                        s["office"]["low"], s["office"]["high"], s["district"]["value"],
                        s["province"]["value"], reasons])
    return web.Response(body=out.getvalue().encode(), content_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="integrity.csv"',
                                 "Cache-Control": "private, no-store"})


async def _monthly(request: web.Request) -> dict[str, Any]:
    _, scope = _viewer(request)
    month = request.query.get("month", "").strip() or _today(request).strftime("%Y-%m")
    district = scope.district or results.parse_filters(
        {"district": request.query.get("district", "")}).district
    return await reading.monthly(request.app[STORE], request.app[SETTINGS], month,
                                 _zone(request), now(request), services=scope.services,
                                 district=district)


async def monthly_api(request: web.Request) -> web.Response:
    return web.json_response(await _monthly(request))


async def monthly_download(request: web.Request) -> web.Response:
    """The monthly report as HTML (shown) or PDF (downloaded)."""
    fmt = request.query.get("format", "html").strip()
    if fmt not in ("html", "pdf"):
        raise InputError(f"format: {fmt[:20]!r} is not html or pdf")
    data = await _monthly(request)
    if fmt == "html":
        return web.Response(text=report.to_html(data), content_type="text/html",
                            headers={"Cache-Control": "private, no-store"})
    name = f"rabta-{data['month']}-{data['scope']}.pdf".replace(" ", "_")
    return web.Response(body=report.to_pdf(data), content_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="{name}"',
                                 "Cache-Control": "private, no-store"})


async def arms_api(request: web.Request) -> web.Response:
    """Every experiment, or one experiment's results per arm (scope applies to the counts)."""
    _, scope = _viewer(request)
    store = request.app[STORE]
    name = request.query.get("experiment", "").strip()
    if not name:
        return web.json_response({"experiments": await store.experiments()})
    arms_, counts = await store.arm_counts(name, services=scope.services,
                                           district=scope.district)
    return web.json_response({"experiment": name, **arms.compare(arms_, counts)})


async def arms_csv(request: web.Request) -> web.Response:
    """One row per transaction of an experiment (no numbers, no names): oversight only."""
    user, _ = _viewer(request)
    if not results.may_export_responses(user.role):
        raise web.HTTPForbidden(text="only oversight may export single responses")
    name = request.query.get("experiment", "").strip()
    await request.app[STORE].arm_counts(name)  # InputError (400) if there is no such one
    rows = await request.app[STORE].arm_rows(name)
    out = io.StringIO()
    w = csv.writer(out)
    columns = ["transaction_id", "arm", "visited_at", "district", "service", "office",
               "official", "status", "attempts", "selection_probability", "contacted",
               "rating", "bribe"]
    w.writerow(columns)
    for r in rows:
        w.writerow([r[c] for c in columns])
    return web.Response(body=out.getvalue().encode(), content_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="arms-{name}.csv"',
                                 "Cache-Control": "private, no-store"})


ROUTES = [
    ("GET", "/accountability", page),
    ("GET", "/api/v1/accountability/integrity", integrity_api),
    ("GET", "/api/v1/accountability/scorecard", scorecard_api),
    ("GET", "/api/v1/accountability/trend", trend_api),
    ("GET", "/api/v1/accountability/alerts", alerts_api),
    ("GET", "/api/v1/accountability/escalated", escalated_api),
    ("GET", "/export/integrity.csv", integrity_csv),
    ("GET", "/reports/monthly", monthly_download),
    ("GET", "/api/v1/reports/monthly", monthly_api),
    ("GET", "/api/v1/accountability/arms", arms_api),
    ("GET", "/export/arms.csv", arms_csv),
]


def setup(app: web.Application) -> None:
    """Add the accountability pages, API and downloads."""
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)


def openapi_parts() -> dict[str, Any]:
    """Return the accountability API's OpenAPI paths (merged into the intake API's document)."""
    err = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    refusals = {"400": {"description": "a parameter that is not usable (the reason)", **err},
                "401": {"description": "not signed in", **err},
                "403": {"description": "an office API key or a role that sees no results",
                        **err}}
    security: list[dict[str, list[str]]] = [{"session": []}]

    def q(name: str, description: str, **schema: Any) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "description": description,
                "schema": {"type": "string", **schema}}
    period = [q("from", "first local day, YYYY-MM-DD (default: 27 days before `to`)",
                format="date"),
              q("to", "last local day, YYYY-MM-DD (default: today)", format="date")]

    def get(op: str, summary: str, params: list[dict[str, Any]]) -> dict[str, Any]:
        return {"get": {"summary": summary, "operationId": op, "security": security,
                        "parameters": params, "responses": {"200": {
                            "description": "see docs/API.md and docs/ACCOUNTABILITY.md",
                            "content": {"application/json": {"schema": {"type": "object"}}}},
                            **refusals}}}
    return {
        "/api/v1/accountability/integrity": get(
            "getIntegrity", "Data integrity per office, against its district and the province, "
            "flagged beyond chance (Holm, family-wise 5%)", period),
        "/api/v1/accountability/scorecard": get(
            "getScorecard", "Fair scorecard: shrunk rates, credible intervals, ranks only where "
            "intervals separate", [*period, q("by", "office | official",
                                              enum=["office", "official"]),
                                   q("measure", "satisfaction | bribe",
                                     enum=["satisfaction", "bribe"])]),
        "/api/v1/accountability/trend": get(
            "getTrend", "The fair scorecard week by week",
            [*period, q("by", "office | official", enum=["office", "official"]),
             q("measure", "satisfaction | bribe", enum=["satisfaction", "bribe"])]),
        "/api/v1/accountability/alerts": get(
            "getAlerts", "Offices whose bribe-report rate rose beyond chance this week",
            [q("week", "a day of the week, YYYY-MM-DD (default: today)", format="date")]),
        "/api/v1/accountability/escalated": get(
            "getEscalated", "Open bribe reports escalated to the caller's level", []),
        "/api/v1/accountability/arms": get(
            "getArms", "Experiments, or one experiment's results per arm with intervals",
            [q("experiment", "the experiment's name")]),
        "/api/v1/reports/monthly": get(
            "getMonthlyReport", "The monthly district report",
            [q("month", "YYYY-MM (default: this month)"),
             q("district", "one district (a district officer: always their own)")]),
    }

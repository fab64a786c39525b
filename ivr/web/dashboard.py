"""Web, dashboard: results and the live overview for officials, the end of the road, by HTTP.

    GET  /results                  tables and SVG charts, by district|service|office|official|
                                   day|week, filters from, to, district, service, office, official
    GET  /overview                 today's figures, kept live by /static/overview.js over SSE;
                                   below them, as of the page's loading, this week's and last
                                   week's bribe-rate alerts and the overdue cases in scope,
                                   and the official's latest daily digest (ivr.services.digests)
    GET  /api/v1/results           the JSON behind /results (same parameters)
    GET  /api/v1/overview          the JSON behind /overview
    GET  /api/v1/overview/stream   server-sent events: a fresh overview whenever it changes
    GET  /export/results.csv|xlsx  what /results shows (same parameters)
    GET  /export/responses.csv|xlsx  one row per answered transaction, numbers masked
    POST /export/responses         the same with numbers shown (reveal=1): oversight only,
                                   written to the audit log as a reveal

Signed-in officials only (office API keys are for intake): oversight sees everything, a
department its services, a district officer its district; other roles get 403. Every figure
for a group below `min_responses` answers is withheld (ivr.results). Every export is audited.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Coroutine
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web
from markupsafe import Markup

from ivr import phone, results
from ivr.accountability import reading
from ivr.accounts import Area, describe_scope
from ivr.reports import FIGURE_COLUMNS, figure_cells
from ivr.results import Filters, ResultRow, Scope
from ivr.services import digests
from ivr.services.results import choices, figures, hours, live, overview
from ivr.store.sms import SmsStore
from ivr.web import charts, exports, i18n, words
from ivr.web.common import (
    PAGE_HEADERS,
    SETTINGS,
    STORE,
    SURVEYS,
    Identity,
    form_text,
    identity,
    now,
    refuse,
    render,
    require,
)
from ivr.web.i18n import N_

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
SHUTDOWN = web.AppKey("dashboard_shutdown", asyncio.Event)
# Today's figures per scope, shared by every open overview of that scope for half an interval,
# so a room full of officials watching costs the store one query set, not one each.
_Cached = dict[tuple[Scope, date], tuple[float, dict[str, Any]]]
OVERVIEW_CACHE: web.AppKey[_Cached] = web.AppKey("overview_cache")
# Slower readings per scope, kept longer than the overview's figures: the cases waiting for
# action (counted over every bribe report) once a minute, the calls by hour (a scan of two
# days' attempts) every 15 s: an hourly chart needs no fresher reading.
SLOW_CACHE: web.AppKey[dict[tuple[str, Scope, date], tuple[float, Any]]] = web.AppKey("slow")
WAITING_TTL = 60.0
HOURS_TTL = 15.0
# The overview page runs one script of ours and opens one event stream back to us; nothing else.
_LIVE_HEADERS = {**PAGE_HEADERS,
                 "Content-Security-Policy": "default-src 'none'; style-src 'self'; "
                                            "script-src 'self'; connect-src 'self'; font-src 'self'; "
                                            "form-action 'self'; frame-ancestors 'none'; "
                                            "base-uri 'none'"}
_RESPONSE_COLUMNS = ["office", "ref", "district", "service", "official", "visited_at", "mobile",
                     "status", "weight", "rating", "bribe", "rating_label", "bribe_label"]
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# ---------------------------------------------------------------------------- who may see


def _viewer(request: web.Request) -> tuple[Identity, Scope]:
    """Return the signed-in official and their scope, or refuse (the edge's one guard)."""
    user = require(request, Area.RESULTS, what="see results")
    who = identity(request)
    scope = results.scope_of(user.role, user.scope)
    assert who is not None and scope is not None  # Area.RESULTS: a role with a scope
    return who, scope


def _zone(request: web.Request) -> tzinfo:
    return ZoneInfo(request.app[SETTINGS].timezone)


def _today(request: web.Request) -> date:
    return results.local_day(now(request), _zone(request))


def _bounds(day_from: date | None, day_to: date | None, zone: tzinfo
            ) -> tuple[datetime | None, datetime | None]:
    """Return the UTC moments [start, end) of local days from..to inclusive."""
    start = datetime.combine(day_from, time(), zone) if day_from else None
    end = datetime.combine(day_to + timedelta(days=1), time(), zone) if day_to else None
    return start, end


def _filters(request: web.Request) -> Filters:
    filters = results.parse_filters(request.query)
    if filters.by in results.TIME_GROUPS:
        days = 30 if filters.by == "day" else 7 * 12
        filters = results.default_range(filters, _today(request), days)
    return filters


async def _known(request: web.Request, filters: Filters, scope: Scope
                 ) -> tuple[Filters, dict[str, list[str]]]:
    """Return the filters matched case-insensitively to the data, and each filter's choices."""
    return await choices(request.app[STORE], filters, scope)


# ---------------------------------------------------------------------------- results


async def load_results(request: web.Request, filters: Filters, scope: Scope) -> dict[str, Any]:
    """Read and compute what /results shows: rows, total, drill-down links, weighting."""
    got = await figures(request.app[STORE], filters, scope, request.app[SETTINGS].min_responses)
    drill = results.DRILL.get(filters.by)
    links = {r.group: "/results?" + urlencode(filters.query(by=drill, **{filters.by: r.group}))
             for r in got.rows} if drill else {}
    return {"by": filters.by, "filters": filters.query(), "min_responses": got.min_responses,
            "weighted": got.weighted, "rows": got.rows, "total": got.total, "links": links}


def _results_json(data: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for r in data["rows"]:
        d = r.as_dict()
        d["drill_down"] = data["links"].get(r.group)
        rows.append(d)
    return {**{k: data[k] for k in ("by", "filters", "min_responses", "weighted")},
            "rows": rows, "total": data["total"].as_dict()}


async def results_api(request: web.Request) -> web.Response:
    """Return results by group as JSON."""
    _, scope = _viewer(request)
    filters, _ = await _known(request, _filters(request), scope)
    data = await load_results(request, filters, scope)
    return web.json_response(_results_json(data))


def _page(request: web.Request, template: str, headers: dict[str, str] | None = None,
          **context: Any) -> web.Response:
    return render(request, template, headers=headers, **context)


async def results_page(request: web.Request) -> web.Response:
    """Show results as a table and charts, with filters and drill-down links."""
    who, scope = _viewer(request)
    filters, known = await _known(request, _filters(request), scope)
    data = await load_results(request, filters, scope)
    min_n = data["min_responses"]
    rows: list[ResultRow] = data["rows"]
    said = core_words(request)
    if filters.by in results.TIME_GROUPS:
        labels = [r.group[5:] for r in rows]
        chart = charts.lines(said["over_time"] % {"by": _t(request, filters.by)},
                             labels, [(said["satisfied"], "#2b6cb0",
                                       [r.satisfaction for r in rows]),
                                      (said["bribe"], "#c53030", [r.bribe for r in rows])])
        svgs = [Markup(chart)]
    else:
        few = _t(request, N_("fewer than %(n)s answers: withheld")) % {"n": min_n}
        withheld = _t(request, N_("withheld, so the total cannot give a smaller group away"))
        svgs = [Markup(charts.bars(said["satisfied"], [(r.group, r.satisfaction)
                                                       for r in rows], min_n, few=few,
                                   withheld=withheld)),
                Markup(charts.bars(said["bribe"], [(r.group, r.bribe) for r in rows], min_n,
                                   colour="#c53030", few=few, withheld=withheld))]
    crumbs = _breadcrumbs(filters)
    export = urlencode(filters.query())
    user = who.user
    assert user is not None and who.session is not None
    return _page(request, "results.html", user=user, scope=describe_scope(user.role, user.scope),
                 data=data, filters=filters, svgs=svgs, crumbs=crumbs, export=export, said=said,
                 groupings=results.GROUPS + results.TIME_GROUPS, known=known,
                 csrf_token=who.session.csrf_token, may_reveal=results.may_reveal(user.role))


def _t(request: web.Request, message: str) -> str:
    return i18n.gettext(request, message)


def core_words(request: web.Request) -> dict[str, str]:
    """Return what the figures mean in the survey's own words and the official's language:
    "Satisfied: Rating 4, good or 5, excellent" (labels from the default survey, whose core
    questions every survey shares)."""
    survey = words.survey_of(request.app[SURVEYS], "default", "")

    def key(question: str, value: str) -> str:
        return words.say_answer(lambda m: _t(request, m), value,
                                words.answer_label(survey, question, value))

    rating = _t(request, words.question_label(survey, "rating"))
    bribe = _t(request, words.question_label(survey, "bribe"))
    return {"satisfied": _t(request, N_("Satisfied: %(q)s %(a)s or %(b)s")) % {
                "q": rating, "a": key("rating", "4"), "b": key("rating", "5")},
            "bribe": _t(request, N_("Reported a bribe: %(q)s %(a)s")) % {
                "q": bribe, "a": key("bribe", "1")},
            "over_time": _t(request, N_("Per %(by)s: satisfaction and bribe reports (95%% "
                                     "intervals)"))}


def _breadcrumbs(filters: Filters) -> list[tuple[str, str]]:
    """Return (label, link) from the province down to the current level."""
    base = {k: v for k, v in filters.query().items() if k in ("from", "to")}
    crumbs = [("Province", "/results?" + urlencode({**base, "by": "district"}))]
    if filters.service:
        crumbs.append((f"service: {filters.service}", "/results?" + urlencode(
            {**base, "by": "district", "service": filters.service})))
        base["service"] = filters.service
    if filters.district:
        base["district"] = filters.district
        crumbs.append((filters.district, "/results?" + urlencode({**base, "by": "office"})))
    if filters.office:
        base["office"] = filters.office
        crumbs.append((filters.office, "/results?" + urlencode({**base, "by": "official"})))
    return crumbs


# ---------------------------------------------------------------------------- overview


async def overview_data(request: web.Request, scope: Scope) -> dict[str, Any]:
    """Return today's live figures within a scope (satisfaction withheld below the minimum)."""
    settings = request.app[SETTINGS]
    min_n = settings.min_responses
    today = _today(request)
    cache, clock = request.app[OVERVIEW_CACHE], asyncio.get_running_loop().time()
    hit = cache.get((scope, today))
    if hit is not None and clock - hit[0] < settings.overview_interval / 2:
        return hit[1]
    start, end = _bounds(today, today, _zone(request))
    assert start is not None and end is not None
    store = request.app[STORE]
    data = await overview(store, today, start, end, scope, min_n)
    if settings.sms_url:
        data.update(await SmsStore(store).day_counts(
            start, end, services=None if scope.services is None else list(scope.services),
            district=scope.district))
    data.update(await live(store, today, scope, min_n))
    data["hours"] = await _slow(request, ("hours", scope, today), HOURS_TTL, clock,
                                hours(store, today, _zone(request), scope))
    services = list(scope.services) if scope.services is not None else None
    data["cases_waiting"] = await _slow(request, ("waiting", scope, today), WAITING_TTL, clock,
                                        store.cases_waiting(services=services,
                                                            district=scope.district))
    if len(cache) > 1000:
        cache.clear()
    cache[(scope, today)] = (clock, data)
    return data


async def _slow(request: web.Request, key: tuple[str, Scope, date], ttl: float, clock: float,
                reading: Coroutine[Any, Any, Any]) -> Any:
    """Return a reading kept for `ttl` seconds per key (the coroutine is closed unawaited when
    the kept one is fresh)."""
    cache = request.app[SLOW_CACHE]
    hit = cache.get(key)
    if hit is not None and clock - hit[0] < ttl:
        reading.close()
        return hit[1]
    value = await reading
    if len(cache) > 2000:
        cache.clear()
    cache[key] = (clock, value)
    return value


def hours_svg(request: web.Request, data: dict[str, Any]) -> str:
    """Draw today's calls and answered calls by hour against yesterday's, in the official's
    language (the page shows it first; the event stream sends it fresh with each change)."""
    h = data["hours"]
    return charts.hours(
        _t(request, N_("Calls by hour, today against yesterday (%(zone)s)"))
        % {"zone": str(_zone(request))},
        [(_t(request, N_("calls today")), "#2b6cb0", h["calls"]),
         (_t(request, N_("answered today")), "#2f855a", h["answered"])],
        [(_t(request, N_("calls yesterday")), "#4a5568", h["calls_yesterday"]),
         (_t(request, N_("answered yesterday")), "#975a16", h["answered_yesterday"])],
        hour_word=_t(request, N_("hour")))


async def overview_api(request: web.Request) -> web.Response:
    """Return today's figures as JSON."""
    _, scope = _viewer(request)
    return web.json_response(await overview_data(request, scope))


async def overview_page(request: web.Request) -> web.Response:
    """Show today's figures; the page's script keeps them live from the event stream."""
    who, scope = _viewer(request)
    user = who.user
    assert user is not None and who.session is not None
    watch = await reading.watch(request.app[STORE], request.app[SETTINGS], _today(request),
                                now(request), services=scope.services, district=scope.district)
    mine = await asyncio.to_thread(digests.latest, request.app[SETTINGS].home, user.username)
    data = await overview_data(request, scope)
    return _page(request, "overview.html", _LIVE_HEADERS, user=user,
                 scope=describe_scope(user.role, user.scope), data=data, watch=watch,
                 digest=mine, chart=Markup(hours_svg(request, data)),
                 csrf_token=who.session.csrf_token)


async def overview_stream(request: web.Request) -> web.StreamResponse:
    """Send the overview as server-sent events: at once, then whenever a figure changes."""
    who, scope = _viewer(request)
    assert who.session is not None
    store, settings = request.app[STORE], request.app[SETTINGS]
    stop = request.app[SHUTDOWN]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    last, quiet = "", 0.0
    try:
        while not stop.is_set():
            if await store.session(who.session.token_hash, now(request)) is None:
                await response.write(b"event: signed_out\ndata: {}\n\n")
                break  # signed out or expired: the stream ends with the session
            data = await overview_data(request, scope)
            plain = json.dumps(data, sort_keys=True)
            if plain != last:
                # with the chart drawn here, in this official's language (the page swaps it in)
                body = json.dumps({**data, "hours_svg": hours_svg(request, data)}, sort_keys=True)
                await response.write(f"event: overview\ndata: {body}\n\n".encode())
                last, quiet = plain, 0.0
            elif quiet >= 15:
                await response.write(b": still here\n\n")  # keeps proxies from closing it
                quiet = 0.0
            try:
                await asyncio.wait_for(stop.wait(), settings.overview_interval)
            except TimeoutError:
                quiet += settings.overview_interval
    except ConnectionResetError:
        log.debug("overview stream of %s closed by the browser", who.actor)
    return response


# ---------------------------------------------------------------------------- exports


def result_table(data: dict[str, Any]) -> list[list[Any]]:
    """Return what /results shows as rows of cells (header first, the total last)."""
    out: list[list[Any]] = [[data["by"], *FIGURE_COLUMNS]]
    for r in [*data["rows"], data["total"]]:
        out.append([r.group, *figure_cells(r)])  # the cells `rabta report --format csv` writes
    return out


_csv = exports.csv_bytes
_xlsx = exports.xlsx_bytes


def _download(body: bytes, fmt: str, name: str) -> web.Response:
    content_type = "text/csv; charset=utf-8" if fmt == "csv" else _XLSX
    return web.Response(body=body, headers={
        "Content-Type": content_type, "Cache-Control": "no-store",
        "Content-Disposition": f'attachment; filename="{name}.{fmt}"',
        "X-Content-Type-Options": "nosniff"})


async def export_results(request: web.Request) -> web.Response:
    """Download what /results shows, as CSV or XLSX; audited."""
    who, scope = _viewer(request)
    fmt = request.path.rpartition(".")[2]
    filters, _ = await _known(request, _filters(request), scope)
    table = result_table(await load_results(request, filters, scope))
    body = _csv(table) if fmt == "csv" else await asyncio.to_thread(_xlsx, "results", table)
    await request.app[STORE].audit(who.actor, "export", {
        "what": "results", "format": fmt, "filters": filters.query(), "rows": len(table) - 1},
        now(request))
    return _download(body, fmt, f"rabta-results-by-{filters.by}")


async def _response_rows(request: web.Request, scope: Scope, filters: Filters, reveal: bool,
                         start: datetime | None, end: datetime | None
                         ) -> AsyncIterator[list[Any]]:
    limit = request.app[SETTINGS].export_max_rows
    book = request.app[SURVEYS]

    def label(survey: Any, question: str, value: str | None) -> str:
        said = words.answer_label(survey, question, value) if value is not None else None
        return _t(request, said) if said else ""

    async for r in request.app[STORE].responses(filters, scope, start, end, limit):
        survey = words.survey_of(book, None, r["service"])
        yield [r["office"], r["ref"], r["district"], r["service"], r["official"], r["visited_at"],
               r["mobile"] if reveal else phone.mask(r["mobile"]), r["status"],
               round(1 / r["selection_probability"], 4), r["rating"], r["bribe"],
               label(survey, "rating", r["rating"]), label(survey, "bribe", r["bribe"])]


async def export_responses(request: web.Request) -> web.StreamResponse:
    """Download one row per answered transaction (oversight only); POST with reveal=1 shows numbers."""
    who, scope = _viewer(request)
    user = who.user
    assert user is not None
    if not results.may_export_responses(user.role):
        refuse(request, web.HTTPForbidden, f"role {user.role.value} may export results, not "
                                           f"single responses (they would undo small-cell "
                                           f"suppression)")
    if request.method == "POST":
        form = await form_text(request)
        fmt = form.get("format", "csv")
        reveal = form.get("reveal") == "1"
        query = {k: v for k, v in form.items() if k not in ("csrf_token", "reveal", "format")}
    else:
        fmt, reveal, query = request.path.rpartition(".")[2], False, dict(request.query)
    if fmt not in ("csv", "xlsx"):
        refuse(request, web.HTTPBadRequest, "format: csv or xlsx")
    if reveal and not results.may_reveal(user.role):  # pragma: no cover - only oversight exports
        raise web.HTTPForbidden(text="your role may not see phone numbers")
    filters, _ = await _known(request, results.parse_filters(query), scope)
    # Everything that can refuse the request is checked before the first byte is sent: once
    # streaming, an error could only cut the file short.
    start, end = _bounds(filters.start, filters.end, _zone(request))
    store, when = request.app[STORE], now(request)
    if reveal:
        await store.audit(who.actor, "reveal", {"what": "phone numbers in a response export",
                                                "filters": filters.query()}, when)
    name = f"rabta-responses{'-with-numbers' if reveal else ''}"
    rows = [_RESPONSE_COLUMNS]
    if fmt == "xlsx":
        rows += [r async for r in _response_rows(request, scope, filters, reveal, start, end)]
        body = await asyncio.to_thread(_xlsx, "responses", rows)
        await store.audit(who.actor, "export", {"what": "responses", "format": fmt,
                                                "filters": filters.query(), "rows": len(rows) - 1,
                                                "revealed": reveal}, when)
        return _download(body, fmt, name)
    response = web.StreamResponse(headers={
        "Content-Type": "text/csv; charset=utf-8", "Cache-Control": "no-store",
        "Content-Disposition": f'attachment; filename="{name}.csv"'})
    await response.prepare(request)
    await response.write(_csv(rows))
    count, chunk = 0, []
    try:
        async for r in _response_rows(request, scope, filters, reveal, start, end):
            chunk.append(r)
            count += 1
            if len(chunk) >= 2000:
                await response.write(_csv(chunk).removeprefix(b"\xef\xbb\xbf"))
                chunk = []
        if chunk:
            await response.write(_csv(chunk).removeprefix(b"\xef\xbb\xbf"))
    except ConnectionResetError:  # the official closed the download: nothing left to answer
        log.info("response export by %s stopped by the browser after %d rows", who.actor, count)
        return response
    await store.audit(who.actor, "export", {"what": "responses", "format": fmt,
                                            "filters": filters.query(), "rows": count,
                                            "revealed": reveal}, when)
    await response.write_eof()
    return response


# ---------------------------------------------------------------------------- wiring


async def _on_startup(app: web.Application) -> None:
    zone = ZoneInfo(app[SETTINGS].timezone)
    offset = datetime.now(zone).utcoffset() or timedelta()
    if await app[STORE].set_results_offset(int(offset.total_seconds() // 60)):
        log.info("results: local day is now UTC%+d min; sums rebuilt",
                 int(offset.total_seconds() // 60))


async def _on_shutdown(app: web.Application) -> None:
    app[SHUTDOWN].set()  # open event streams end, so shutdown need not wait for them


def setup(app: web.Application) -> None:
    """Add the dashboard's pages, API, event stream and exports."""
    app[SHUTDOWN] = asyncio.Event()
    app[OVERVIEW_CACHE] = {}
    app[SLOW_CACHE] = {}
    app.on_startup.append(_on_startup)
    app.on_shutdown.append(_on_shutdown)
    app.router.add_get("/results", results_page)
    app.router.add_get("/overview", overview_page)
    app.router.add_get("/api/v1/results", results_api)
    app.router.add_get("/api/v1/overview", overview_api)
    app.router.add_get("/api/v1/overview/stream", overview_stream)
    for fmt in ("csv", "xlsx"):
        app.router.add_get(f"/export/results.{fmt}", export_results)
        app.router.add_get(f"/export/responses.{fmt}", export_responses)
    app.router.add_post("/export/responses", export_responses)


__all__ = ["load_results", "overview_data", "result_table", "setup"]


# ---------------------------------------------------------------------------- OpenAPI


def _query(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": {"type": "string", **schema}}


_DAYS = (f"; {results.FIRST_DAY.isoformat()} to {results.LAST_DAY.isoformat()}, a range of "
         f"at most {results.MAX_DAYS} days (for by=day|week also up to today when `to` is "
         f"left out)")
_FILTERS = [
    _query("from", "first local day of the visits, YYYY-MM-DD" + _DAYS, format="date"),
    _query("to", "last local day of the visits (included), YYYY-MM-DD" + _DAYS, format="date"),
    *[_query(n, f"only this {n}", maxLength=results.MAX_TEXT) for n in results.GROUPS],
]


def _ok(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{schema}"}}}}


def openapi_parts() -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the dashboard API's OpenAPI paths and schemas (merged into the intake API's)."""
    err = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    refusals = {"400": {"description": "a filter is wrong (the message names it), e.g. a date "
                                       "out of range", **err},
                "401": {"description": "not signed in", **err},
                "403": {"description": "an office API key, or a role that sees no results",
                        **err}}
    security: list[dict[str, list[str]]] = [{"session": []}]
    estimate = {"type": "object", "description": "a share with its 95% Wilson interval; "
                                                 "all null when suppressed", "properties": {
        "n": {"type": "integer"}, "value": {"type": "number", "nullable": True},
        "low": {"type": "number", "nullable": True}, "high": {"type": "number", "nullable": True},
        "suppressed": {"type": "boolean"}}}
    row = {"type": "object", "properties": {
        "group": {"type": "string"}, "responses": {"type": "integer"},
        "rank": {"type": "integer", "nullable": True,
                 "description": "by satisfaction, best 1; null below min_responses"},
        "suppressed": {"type": "boolean"},
        "satisfaction": {"$ref": "#/components/schemas/Estimate"},
        "mean_rating": {"type": "number", "nullable": True},
        "bribe_rate": {"$ref": "#/components/schemas/Estimate"},
        "drill_down": {"type": "string", "nullable": True,
                       "description": "the results page one level down"}}}
    paths = {
        "/api/v1/results": {"get": {
            "summary": "Results by group or over time, within the caller's scope",
            "operationId": "getResults", "security": security,
            "parameters": [_query("by", "the grouping", enum=[*results.GROUPS,
                                                              *results.TIME_GROUPS]), *_FILTERS],
            "responses": {"200": _ok("Results", "rows, then the total"), **refusals}}},
        "/api/v1/overview": {"get": {
            "summary": "Today's live figures, within the caller's scope",
            "operationId": "getOverview", "security": security,
            "responses": {"200": _ok("Overview", "today's figures"), **refusals}}},
        "/api/v1/overview/stream": {"get": {
            "summary": "Server-sent events: `overview` (an Overview) at once and on every "
                       "change; `signed_out` when the session ends",
            "operationId": "streamOverview", "security": security,
            "responses": {"200": {"description": "an event stream",
                                  "content": {"text/event-stream": {"schema": {
                                      "type": "string"}}}}, **refusals}}},
    }
    schemas = {
        "Estimate": estimate,
        "ResultRow": row,
        "Results": {"type": "object", "properties": {
            "by": {"type": "string"}, "filters": {"type": "object"},
            "min_responses": {"type": "integer"},
            "weighted": {"type": "boolean",
                         "description": "true when sampling weights (1/p) changed the figures"},
            "rows": {"type": "array", "items": {"$ref": "#/components/schemas/ResultRow"}},
            "total": {"$ref": "#/components/schemas/ResultRow"}}},
        "Overview": {"type": "object", "properties": {
            "day": {"type": "string", "format": "date"},
            **{k: {"type": "string", "format": "date",
                   "description": "the shares are of the visits of figures_from..figures_to, "
                                  "as /api/v1/results gives them for that range"}
               for k in ("figures_from", "figures_to")},
            **{k: {"type": "integer"} for k in ("transactions", "calls", "answered",
                                                 "completed", "in_progress", "min_responses")},
            "satisfaction": {"$ref": "#/components/schemas/Estimate"},
            "mean_rating": {"type": "number", "nullable": True},
            "bribe_rate": {"$ref": "#/components/schemas/Estimate"}}},
    }
    return paths, schemas

"""Dashboard pages, API, exports and the live stream: scoping, suppression, drill-down, audit."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import timedelta
from typing import Any

import openpyxl
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from results_support import Visit, many, survey
from web_support import PASSWORD, Clock, add_user, signed_in, start_client

from ivr.accounts import Role
from ivr.config import Settings
from ivr.results import wilson
from ivr.store import SQLiteStore
from ivr.web import assets

pytest_plugins = ["web_fixtures"]

Client = TestClient[Any, Any]
MULTAN = dict(district="Multan", office="DC Office Multan")
FSD = dict(district="Faisalabad", office="DC Office Faisalabad")


async def _data(store: SQLiteStore, clock: Clock) -> None:
    """Lahore: 12 Domicile (9 satisfied, 3 bribes), 10 Pension; Multan: 3 Domicile;
    Sialkot: 11 Health; Faisalabad: 14 Pension (7 satisfied), 16 Health."""
    await survey(store, many(9, rating="5", bribe="2") + many(3, rating="2", bribe="1")
                 + many(10, service="Pension", official="Sana", rating="4")
                 + many(3, **MULTAN, rating="1", bribe="1")
                 + many(11, district="Sialkot", office="DC Office Sialkot", service="Health")
                 + many(7, **FSD, service="Pension", rating="5")
                 + many(7, **FSD, service="Pension", rating="3")
                 + many(16, **FSD, service="Health", rating="5"),
                 clock())


async def _as(client: Client, store: SQLiteStore, role: Role, name: str | None = None) -> str:
    await add_user(store, name or role.value, role)
    return await signed_in(client, name or role.value)


async def _results(client: Client, **query: str) -> dict[str, Any]:
    response = await client.get("/api/v1/results", params=query)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def test_each_role_sees_only_its_own_results(client: Client, store: SQLiteStore,
                                                   clock: Clock, web_settings: Settings) -> None:
    await _data(store, clock)
    await _as(client, store, Role.OVERSIGHT)
    assert [r["group"] for r in (await _results(client))["rows"]] == [
        "Faisalabad", "Lahore", "Multan", "Sialkot"]
    async with start_client(store, web_settings, clock) as c:
        await _as(c, store, Role.DISTRICT)  # Lahore
        body = await _results(c, by="service")
        assert [r["group"] for r in body["rows"]] == ["Domicile", "Pension"]
        assert [r["group"] for r in (await _results(c, district="Multan"))["rows"]] == []
    async with start_client(store, web_settings, clock) as c:
        await _as(c, store, Role.DEPARTMENT)  # Domicile, Pension
        body = await _results(c)
        assert [r["group"] for r in body["rows"]] == ["Faisalabad", "Lahore", "Multan"]
        assert body["total"]["responses"] == 39
        page = await (await c.get("/results")).text()
        assert "Sialkot" not in page and "Lahore" in page


async def test_figures_intervals_and_suppression(client: Client, store: SQLiteStore,
                                                 clock: Clock) -> None:
    await _data(store, clock)
    await _as(client, store, Role.OVERSIGHT)
    body = await _results(client)
    rows = {r["group"]: r for r in body["rows"]}
    lahore, multan = rows["Lahore"], rows["Multan"]
    assert lahore["responses"] == 22 and lahore["satisfaction"]["value"] == round(19 / 22, 4)
    assert lahore["satisfaction"]["low"] < lahore["satisfaction"]["value"] < lahore[
        "satisfaction"]["high"]
    low, high = wilson(3, 22)  # unweighted: the effective n is n
    assert lahore["bribe_rate"] == {"n": 22, "value": round(3 / 22, 4), "low": round(low, 4),
                                    "high": round(high, 4), "suppressed": False}
    assert multan["suppressed"] and multan["rank"] is None
    assert multan["satisfaction"]["value"] is None and multan["bribe_rate"]["value"] is None
    assert multan["mean_rating"] is None
    # Sialkot (11), the smallest other, is withheld with Multan (3): or the total would tell
    assert {g: r["rank"] for g, r in rows.items()} == {"Faisalabad": 2, "Lahore": 1,
                                                       "Multan": None, "Sialkot": None}
    assert rows["Sialkot"]["suppressed"] and rows["Sialkot"]["responses"] == 11
    assert body["min_responses"] == 10 and body["weighted"] is False
    page = await (await client.get("/results")).text()
    assert "fewer than 10 answers: withheld" in page  # Multan
    assert "withheld, so the total cannot give a smaller group away" in page  # Sialkot
    assert "<td>11</td>" in page
    assert "86% (" in page  # Lahore's satisfaction with its interval


async def test_drill_down_from_province_to_official(client: Client, store: SQLiteStore,
                                                    clock: Clock) -> None:
    await _data(store, clock)
    await _as(client, store, Role.OVERSIGHT)
    body = await _results(client, **{"from": "2024-05-01", "to": "2024-05-01"})
    lahore = next(r for r in body["rows"] if r["group"] == "Lahore")
    link = lahore["drill_down"]
    assert link == "/results?by=office&from=2024-05-01&to=2024-05-01&district=Lahore"
    page = await client.get(link)
    html = await page.text()
    table = html[html.index("<table"):]  # the filter lists every district; the table not
    assert "by=official" in table and "DC Office Lahore" in table and "Sialkot" not in table
    offices = await _results(client, by="office", district="Lahore")
    office_link = offices["rows"][0]["drill_down"]
    assert "by=official" in office_link and "office=DC+Office+Lahore" in office_link
    officials = await _results(client, by="official", district="Lahore",
                               office="DC Office Lahore")
    assert [r["group"] for r in officials["rows"]] == ["Bilal", "Sana"]
    assert officials["rows"][0]["drill_down"] is None  # the bottom
    crumbs = await (await client.get(office_link)).text()
    assert 'href="/results?by=district">Province</a>' in crumbs
    assert 'href="/results?district=Lahore&amp;by=office">Lahore</a>' in crumbs
    services = await _results(client, by="service")
    assert services["rows"][0]["drill_down"].startswith("/results?by=district&service=")


async def test_over_time_per_day_and_week(client: Client, store: SQLiteStore,
                                          clock: Clock) -> None:
    await _data(store, clock)
    await _as(client, store, Role.OVERSIGHT)
    days = await _results(client, by="day", **{"from": "2024-04-29", "to": "2024-05-02"})
    assert [(r["group"], r["responses"]) for r in days["rows"]] == [
        ("2024-04-29", 0), ("2024-04-30", 0), ("2024-05-01", 66), ("2024-05-02", 0)]
    weeks = await _results(client, by="week")  # default: the last 12 weeks to today
    assert len(weeks["rows"]) == 12 and weeks["rows"][-1]["group"] == "2024-04-29"
    assert weeks["rows"][-1]["responses"] == 66
    assert weeks["rows"][-1]["rank"] is None  # dates are not ranked
    page = await client.get("/results", params={"by": "day"})
    assert page.status == 200 and "<polyline" in await page.text()


async def test_bad_filters_are_a_clean_400(client: Client, store: SQLiteStore) -> None:
    await _as(client, store, Role.OVERSIGHT)
    response = await client.get("/api/v1/results", params={"by": "mobile"})
    assert response.status == 400
    assert (await response.json())["error"].startswith("by:")
    assert (await client.get("/results", params={"from": "soon"})).status == 400


async def test_results_page_draws_charts_inline(client: Client, store: SQLiteStore,
                                                clock: Clock) -> None:
    await _data(store, clock)
    await _as(client, store, Role.DISTRICT)
    page = await client.get("/results", params={"by": "service"})
    html = await page.text()
    assert html.count("<svg") == 2 and "<rect" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "script" not in html  # the results page runs no script at all
    assert "Export single responses" not in html  # only oversight may


def _csv_rows(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


async def test_results_exports_hold_what_the_page_shows_and_are_audited(
        client: Client, store: SQLiteStore, clock: Clock) -> None:
    await _data(store, clock)
    await _as(client, store, Role.DEPARTMENT)
    response = await client.get("/export/results.csv", params={"by": "district"})
    assert response.status == 200
    assert "attachment" in response.headers["Content-Disposition"]
    rows = _csv_rows(await response.read())
    assert rows[0][:4] == ["district", "responses", "rank", "satisfaction"]
    table = {r[0]: r for r in rows[1:]}
    assert set(table) == {"Faisalabad", "Lahore", "Multan", "TOTAL"}
    assert table["Lahore"][3] == str(round(19 / 22, 4))
    assert table["Multan"][3] == "" and table["Multan"][-1] == "1"  # withheld, marked so
    assert table["Faisalabad"][3] == ""  # withheld too: TOTAL minus Lahore would be Multan
    xlsx = await client.get("/export/results.xlsx", params={"by": "district"})
    assert xlsx.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = openpyxl.load_workbook(io.BytesIO(await xlsx.read())).active
    assert sheet is not None
    cells = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert cells[0][0] == "district" and cells[2][0] == "Lahore"
    assert cells[2][3] == round(19 / 22, 4) and cells[3][3] is None
    entries = [e for e in await store.audit_entries() if e["action"] == "export"]
    assert [(e["detail"]["what"], e["detail"]["format"]) for e in entries] == [
        ("results", "xlsx"), ("results", "csv")]
    assert entries[1]["actor"] == "user:department"


async def test_response_exports_mask_numbers_unless_revealed(
        client: Client, store: SQLiteStore, clock: Clock) -> None:
    await _data(store, clock)
    csrf = await _as(client, store, Role.OVERSIGHT)
    masked = _csv_rows(await (await client.get("/export/responses.csv",
                                               params={"district": "Multan"})).read())
    assert masked[0] == ["office", "ref", "district", "service", "official", "visited_at",
                         "mobile", "status", "weight", "rating", "bribe", "rating_label",
                         "bribe_label"]
    assert masked[1][11:] == ["very poor", "yes"]  # the survey's own words beside the keys
    assert len(masked) == 4  # the 3 Multan answers, a header: oversight sees single rows
    assert all("*" in r[6] for r in masked[1:]) and masked[1][9:11] == ["1", "1"]
    xlsx = await client.get("/export/responses.xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(await xlsx.read())).active
    assert sheet is not None
    cells = list(sheet.iter_rows(values_only=True))
    assert len(cells) == 67 and all("*" in str(r[6]) for r in cells[1:])
    refused = await client.post("/export/responses", data={"reveal": "1", "format": "csv"})
    assert refused.status == 403  # no CSRF token
    shown = await client.post("/export/responses", data={"csrf_token": csrf, "reveal": "1",
                                                         "format": "csv", "district": "Multan"})
    rows = _csv_rows(await shown.read())
    assert len(rows) == 4 and all(r[6].startswith("+92300") and "*" not in r[6]
                                  for r in rows[1:])
    actions = [(e["action"], e["detail"].get("revealed")) for e in await store.audit_entries()]
    assert actions[:2] == [("export", True), ("reveal", None)]
    assert ("export", False) in actions
    for e in await store.audit_entries():
        assert "+92300" not in json.dumps(e)  # the log names what was revealed, not the numbers


async def test_overview_counts_today(client: Client, store: SQLiteStore, clock: Clock) -> None:
    await _as(client, store, Role.DISTRICT)
    await survey(store, many(10, visited_at=clock() - timedelta(hours=2), rating="4", bribe="1")
                 + many(2, **MULTAN, visited_at=clock() - timedelta(hours=2)), clock())
    body = await (await client.get("/api/v1/overview")).json()
    assert body["day"] == "2024-05-02"
    assert {k: body[k] for k in ("transactions", "calls", "answered", "completed")} == {
        "transactions": 10, "calls": 10, "answered": 10, "completed": 10}
    assert body["satisfaction"]["value"] == 1.0 and body["bribe_rate"]["value"] == 1.0
    page = await client.get("/overview")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    html = await page.text()
    assert 'data-field="completed">10<' in html and assets.url("overview.js") in html
    script = await client.get(assets.url("overview.js"))
    assert script.status == 200 and "EventSource" in await script.text()


async def _next_event(response: ClientResponse, timeout: float = 5.0) -> tuple[str, dict[str, Any]]:
    """Read one server-sent event (skipping keep-alive comments)."""
    event, data = "", ""
    while True:
        line = (await asyncio.wait_for(response.content.readline(), timeout)).decode()
        if line.startswith("event: "):
            event = line[7:].strip()
        elif line.startswith("data: "):
            data = line[6:].strip()
        elif line == "\n" and event:
            return event, json.loads(data)


async def test_the_stream_sends_a_new_figure_after_an_answer_is_stored(
        store: SQLiteStore, web_settings: Settings, clock: Clock) -> None:
    async with start_client(store, web_settings, clock, overview_interval=0.05) as c:
        await _as(c, store, Role.OVERSIGHT)
        response = await c.get("/api/v1/overview/stream")
        assert response.headers["Content-Type"] == "text/event-stream"
        event, first = await _next_event(response)
        assert event == "overview" and first["completed"] == 0
        await survey(store, [Visit(visited_at=clock() - timedelta(hours=1))], clock())
        event, second = await _next_event(response)
        assert event == "overview" and second["completed"] == 1 and second["calls"] == 1
        # signing out ends the stream
        [token_hash] = await _sessions(store)
        await store.delete_session(token_hash)
        event, _ = await _next_event(response)
        assert event == "signed_out"
        response.close()


async def _sessions(store: SQLiteStore) -> list[str]:
    async with store._db.execute("SELECT token_hash FROM sessions") as cur:
        return [r[0] for r in await cur.fetchall()]


async def test_weighted_results_say_so(client: Client, store: SQLiteStore, clock: Clock) -> None:
    # 10 sampled at 1 in 4 (all satisfied), 10 taken whole (none satisfied): weighted 40/50
    await survey(store, many(10, rating="5") + many(10, rating="1"), clock(),
                 probabilities={i: 0.25 for i in range(10)})
    await _as(client, store, Role.OVERSIGHT)
    body = await _results(client)
    assert body["weighted"] is True
    sat = body["rows"][0]["satisfaction"]
    assert sat["value"] == 0.8 and sat["n"] == 20
    low, high = wilson(0.8 * 50 * 50 / 170, 50 * 50 / 170)  # Kish: 50^2 / (10*16 + 10*1)
    assert (sat["low"], sat["high"]) == (round(low, 4), round(high, 4))
    assert "weighted by 1/selection probability" in await (await client.get("/results")).text()


async def test_every_api_route_is_in_the_openapi_document(client: Client) -> None:
    doc = await (await client.get("/api/v1/openapi.json")).json()
    routes = {(r.method.lower(), r.resource.canonical) for r in client.app.router.routes()
              if r.resource is not None and r.resource.canonical.startswith("/api/v1/")
              and r.method != "HEAD" and not r.resource.canonical.endswith("openapi.json")}
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert routes <= documented
    results_op = doc["paths"]["/api/v1/results"]["get"]
    assert {p["name"] for p in results_op["parameters"]} == {
        "by", "from", "to", "district", "service", "office", "official"}
    assert set(doc["components"]["schemas"]["Overview"]["properties"]) >= {
        "transactions", "calls", "answered", "completed", "satisfaction", "bribe_rate"}


async def test_overviews_of_one_scope_share_one_reading_for_half_an_interval(
        store: SQLiteStore, web_settings: Settings, clock: Clock) -> None:
    async with start_client(store, web_settings, clock, overview_interval=3600.0) as c:
        await _as(c, store, Role.OVERSIGHT)
        first = await (await c.get("/api/v1/overview")).json()
        await survey(store, [Visit(visited_at=clock() - timedelta(hours=1))], clock())
        again = await (await c.get("/api/v1/overview")).json()
        assert again == first  # read once, shared
    async with start_client(store, web_settings, clock) as c:  # a new app reads afresh
        await _as(c, store, Role.OVERSIGHT, "other")
        assert (await (await c.get("/api/v1/overview")).json())["completed"] == 1


async def test_the_app_sets_the_local_day_from_the_timezone_at_start(
        store: SQLiteStore, web_settings: Settings, clock: Clock) -> None:
    late = clock().replace(hour=20)  # 01:00 the next day in Karachi
    await survey(store, [Visit(visited_at=late)], clock())
    assert await store.set_results_offset(0)  # as if it had run in UTC
    async with start_client(store, web_settings, clock) as c:  # Asia/Karachi: UTC+5
        await _as(c, store, Role.OVERSIGHT)
        days = await _results(c, by="day", **{"from": "2024-05-02", "to": "2024-05-03"})
        assert [(r["group"], r["responses"]) for r in days["rows"]] == [("2024-05-02", 0),
                                                                       ("2024-05-03", 1)]


async def test_filters_are_choices_from_the_data_matched_case_insensitively(
        client: Client, store: SQLiteStore, clock: Clock, web_settings: Settings) -> None:
    await _data(store, clock)
    await _as(client, store, Role.OVERSIGHT)
    exact = await _results(client, by="office", district="Lahore")
    typed = await _results(client, by="office", district="  lahore ")
    assert typed["rows"] == exact["rows"] and [r["group"] for r in typed["rows"]] == [
        "DC Office Lahore"]
    assert typed["filters"]["district"] == "Lahore"  # written as the data writes it
    assert (await _results(client, service="PENSION"))["total"]["responses"] == 24
    html = await (await client.get("/results", params={"district": "lahore"})).text()
    select = html[html.index('<select id="district"'):]
    select = select[:select.index("</select>")]
    assert '<option value="Lahore" selected>' in select
    assert all(f'value="{d}"' in select for d in ("Faisalabad", "Multan", "Sialkot"))
    assert '<select id="office"' in html and 'value="DC Office Lahore"' in html
    async with start_client(store, web_settings, clock) as c:
        await _as(c, store, Role.DEPARTMENT)  # Domicile, Pension: never Health's Sialkot
        page = await (await c.get("/results")).text()
        service = page[page.index('<select id="service"'):]
        assert "Health" not in service[:service.index("</select>")] and "Sialkot" not in page


async def test_results_with_no_answers_say_what_to_do(client: Client, store: SQLiteStore,
                                                      clock: Clock) -> None:
    await _as(client, store, Role.OVERSIGHT)
    html = await (await client.get("/results")).text()
    assert 'id="empty"' in html and "Widen the dates" in html
    days = await (await client.get("/results", params={"by": "day"})).text()
    table = days.split("<table")[1].split("</table>")[0]
    assert "none: no answers" in table and "fewer than" not in table  # none, not withheld


async def test_overview_draws_hours_districts_and_cases_waiting(
        client: Client, store: SQLiteStore, clock: Clock) -> None:
    await _as(client, store, Role.OVERSIGHT)
    await survey(store, many(10, visited_at=clock() - timedelta(hours=2), rating="4", bribe="1")
                 + many(2, **MULTAN, visited_at=clock() - timedelta(hours=2)), clock())
    body = await (await client.get("/api/v1/overview")).json()
    hours = body["hours"]
    assert {k: len(v) for k, v in hours.items()} == dict.fromkeys(
        ("calls", "answered", "calls_yesterday", "answered_yesterday"), 24)
    assert sum(hours["calls"]) == body["calls"] == 12 and sum(hours["calls_yesterday"]) == 0
    assert hours["calls"].index(12) == clock().hour + 5  # Asia/Karachi is UTC+5
    districts = {d["district"]: d for d in body["districts"]}
    assert (districts["Lahore"]["calls"], districts["Multan"]["calls"]) == (10, 2)
    assert districts["Multan"]["satisfaction"]["suppressed"]  # 2 answers: none shown
    # and Lahore with it, as /results withholds it for the same days: one figure everywhere
    same = {r["group"]: r for r in (await _results(client, **{
        "from": body["figures_from"], "to": body["figures_to"]}))["rows"]}
    assert {g: d["satisfaction"] for g, d in districts.items()} == {
        g: r["satisfaction"] for g, r in same.items()}
    assert districts["Lahore"]["satisfaction"]["suppressed"]
    assert body["cases_waiting"] == {"new": 10, "under_review": 0}
    html = await (await client.get("/overview")).text()
    assert 'id="district-table"' in html and "<svg" in html and 'data-waiting="new">10<' in html
    assert 'id="empty" hidden' in html or 'id="empty"' not in html


async def test_sign_in_lands_on_the_roles_own_page(client: Client, store: SQLiteStore) -> None:

    for role, landing in ((Role.DISTRICT, "/overview"), (Role.SUPERVISOR, "/prompts"),
                          (Role.TELEPHONY, "/")):
        await add_user(store, role.value, role)
        form = await (await client.get("/login")).text()
        token = form.split('name="csrf_token" value="')[1].split('"')[0]
        response = await client.post("/login", data={"csrf_token": token, "username": role.value,
                                                     "password": PASSWORD},
                                     allow_redirects=False)
        assert response.status == 303 and response.headers["Location"] == landing, role


async def test_the_overviews_districts_and_cases_stay_within_the_scope(
        client: Client, store: SQLiteStore, clock: Clock) -> None:
    await _as(client, store, Role.DISTRICT)  # Lahore
    await survey(store, many(3, visited_at=clock() - timedelta(hours=2), bribe="1")
                 + many(4, **MULTAN, visited_at=clock() - timedelta(hours=2), bribe="1"),
                 clock())
    body = await (await client.get("/api/v1/overview")).json()
    assert [d["district"] for d in body["districts"]] == ["Lahore"]
    assert sum(body["hours"]["calls"]) == 3 and body["cases_waiting"]["new"] == 3


async def test_the_new_parts_speak_urdu(client: Client, store: SQLiteStore, clock: Clock) -> None:
    await _data(store, clock)
    await _as(client, store, Role.OVERSIGHT)
    client.session.cookie_jar.update_cookies({"rabta_lang": "ur"})
    overview = await (await client.get("/overview")).text()
    assert "ضلع وار" in overview and "گھنٹہ وار کالیں" in overview  # districts, the chart
    results = await (await client.get("/results")).text()
    assert "مطمئن: درجہ بندی 4, اچھی یا 5, بہترین" in results  # the survey's words in the chart
    assert '<option value="">سب</option>' in results
    rows = _csv_rows(await (await client.get("/export/responses.csv",
                                             params={"district": "Multan"})).read())
    assert rows[1][11:] == ["بہت خراب", "ہاں"]  # labels in the official's language

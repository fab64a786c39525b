"""The live overview's watch list: this week's and last week's bribe-rate alerts and the
overdue cases, by role (a district officer sees their district's only, a department its
services'), in the official's language; and the pure composition behind it."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from casedata import seed
from watchdata import seed_weeks
from web_support import NOW, Clock, add_user, signed_in, start_client

from ivr.accountability.figures import watch_view
from ivr.accounts import Role
from ivr.config import Settings
from ivr.store import SQLiteStore
from ivr.web.i18n import COOKIE

pytest_plugins = ["web_fixtures"]

LATER = NOW + timedelta(days=8)  # Friday of the next week: the seeded reports are overdue
# (casedata's and every "yes" of watchdata's, which are reports too)


def _weekly(office: str, district: str, week: str, yes: int, n: int) -> dict[str, Any]:
    return {"office": office, "district": district, "week": week, "n": n, "w": float(n),
            "yes_w": float(yes)}


def test_watch_view_lists_both_weeks_newest_first_and_sums_the_overdue() -> None:
    rows = [_weekly("A", "Lahore", "2024-04-15", 1, 50), _weekly("A", "Lahore", "2024-04-22", 25, 50),
            _weekly("A", "Lahore", "2024-04-29", 26, 50),
            _weekly("B", "Multan", "2024-04-22", 1, 50), _weekly("B", "Multan", "2024-04-29", 30, 50)]
    overdue = {"Lahore": {"overdue": 2, "at_department": 1, "at_oversight": 1},
               "Multan": {"overdue": 0, "at_department": 0, "at_oversight": 0}}
    view = watch_view(rows, date(2024, 4, 29), overdue)
    assert [(a["office"], a["week"]) for a in view["alerts"]] == [("B", "2024-04-29"),
                                                                  ("A", "2024-04-22")]
    assert view["alpha"] == 0.05 and "Fisher" in view["alerts"][0]["reason"]
    assert view["overdue"]["districts"] == [{"district": "Lahore", "overdue": 2,
                                             "at_department": 1, "at_oversight": 1}]
    assert view["overdue"]["total"] == {"overdue": 2, "at_department": 1, "at_oversight": 1}
    mine = watch_view(rows, date(2024, 4, 29), {}, district="Lahore")
    assert [a["office"] for a in mine["alerts"]] == ["A"]


def _rows(html: str, cls: str) -> list[str]:
    return re.findall(rf'<tr class="{cls}"><td>(?:<bdi[^>]*>)?([^<]+)', html)


@pytest.mark.parametrize(("role", "scope", "alerts", "overdue"), [
    (Role.OVERSIGHT, (), ["DC Office Lahore", "DC Office Multan"],
     ["Lahore", "Multan", "Sialkot"]),
    (Role.DEPARTMENT, ("Domicile", "Pension"), ["DC Office Lahore"],
     ["Lahore", "Multan", "Sialkot"]),
    (Role.DEPARTMENT, ("Police",), ["DC Office Multan"], ["Multan", "Sialkot"]),
    (Role.DISTRICT, ("Lahore",), ["DC Office Lahore"], ["Lahore"]),
    (Role.DISTRICT, ("Multan",), ["DC Office Multan"], ["Multan"]),
    (Role.DISTRICT, ("Gujrat",), [], []),
])
async def test_the_overview_lists_alerts_and_overdue_cases_in_scope(
        store: SQLiteStore, web_settings: Settings, role: Role, scope: tuple[str, ...],
        alerts: list[str], overdue: list[str]) -> None:
    await seed(store, web_settings.rootfs, NOW)
    await seed_weeks(store, NOW)
    async with start_client(store, web_settings, Clock(LATER), session_hours=2000,
                            session_idle_minutes=10**6) as client:
        await add_user(store, "who", role, scope)
        await signed_in(client, "who")
        page = await client.get("/overview")
        assert page.status == 200
        html = await page.text()
    assert _rows(html, "alert") == alerts
    assert _rows(html, "overdue-district") == overdue
    if alerts:
        assert "2024-04-29" in html and "at most 5%" in html
        assert re.search(r"\(2\d of 4\d\)", html), re.findall(r"rose from[^<]*", html)
    else:
        assert 'id="no-alerts"' in html
    if not overdue:
        assert 'id="no-overdue"' in html
    for other in {"DC Office Lahore", "DC Office Multan"} - set(alerts):
        assert other not in html


async def test_nothing_overdue_before_the_deadline_and_no_alert_on_a_quiet_week(
        store: SQLiteStore, web_settings: Settings) -> None:
    await seed(store, web_settings.rootfs, NOW)
    async with start_client(store, web_settings, Clock(NOW)) as client:
        await add_user(store, "o", Role.OVERSIGHT)
        await signed_in(client, "o")
        html = await (await client.get("/overview")).text()
    assert 'id="no-alerts"' in html and 'id="no-overdue"' in html


async def test_the_watch_list_speaks_urdu(store: SQLiteStore, web_settings: Settings) -> None:
    await seed(store, web_settings.rootfs, NOW)
    await seed_weeks(store, NOW)
    async with start_client(store, web_settings, Clock(LATER), session_hours=2000,
                            session_idle_minutes=10**6) as client:
        await add_user(store, "d", Role.DISTRICT, ("Lahore",))
        await signed_in(client, "d")
        client.session.cookie_jar.update_cookies({COOKIE: "ur"})
        html = await (await client.get("/overview")).text()
    assert "رشوت کی شرح کے انتباہ" in html and "مدت سے متجاوز کیس" in html
    assert "یک طرفہ فشر" in html and "bribe reports rose" not in html

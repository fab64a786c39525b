"""Accountability in the store and on the web: escalation by deadline, the escalated lists by
role, integrity counts from real rows, and the monthly report (JSON, HTML, and a PDF read back
with pdftotext carrying the same figures)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from casedata import Report, seed
from storehelpers import sql
from web_support import NOW, Clock, add_user, signed_in, start_client

from ivr.accountability.deadlines import Deadline, Level
from ivr.accountability.report import interval, pct
from ivr.accounts import Role
from ivr.cases import CaseAction, CaseStatus
from ivr.config import Settings
from ivr.models import Transaction
from ivr.store import SQLiteStore
from ivr.store.sqlite import ts

pytest_plugins = ["web_fixtures"]
pytestmark = pytest.mark.both_backends  # the store tests run on SQLite and PostgreSQL

Client = TestClient[Any, Any]
RULE = Deadline(7, 30)


@pytest.fixture
async def reports(store: SQLiteStore, web_settings: Settings) -> list[Report]:
    return await seed(store, web_settings.rootfs, NOW)


async def test_overdue_reports_escalate_one_level_at_a_time_with_an_audit_trail(
        store: SQLiteStore, reports: list[Report]) -> None:
    assert await store.apply_deadlines(NOW + timedelta(days=6), RULE, {}) == []
    done = await store.apply_deadlines(NOW + timedelta(days=8), RULE, {})
    assert len(done) == 5 and {d["to"] for d in done} == {"department"}
    assert await store.apply_deadlines(NOW + timedelta(days=9), RULE, {}) == []  # once only
    dept = await store.escalated_reports(Level.DEPARTMENT, services=["Domicile", "Pension"])
    assert {r["district"] for r in dept} == {"Lahore", "Multan"} and len(dept) == 3
    assert await store.escalated_reports(Level.OVERSIGHT) == []
    audit = [e for e in await store.audit_entries() if e["action"] == "case_escalated"]
    assert len(audit) == 5 and audit[0]["actor"] == "system:deadlines"
    # one acted on in time for the next step: it leaves every list
    await store.change_case(reports[0].id, "user:a", CaseStatus.UNDER_REVIEW, None, None, "", NOW)
    await store.change_case(reports[0].id, "user:a", CaseStatus.ACTION_TAKEN,
                            CaseAction.WARNING, None, "", NOW)
    done = await store.apply_deadlines(NOW + timedelta(days=16), RULE, {})
    assert len(done) == 4 and {d["to"] for d in done} == {"oversight"}
    top = await store.escalated_reports(Level.OVERSIGHT)
    assert len(top) == 4 and [t["level"] for t in top[0]["trail"]] == [1, 2]
    assert await store.escalated_reports(Level.DEPARTMENT) == []
    overdue = await store.overdue_by_district()
    assert overdue["Lahore"] == {"overdue": 1, "at_department": 0, "at_oversight": 1}


async def test_a_department_with_its_own_deadline(store: SQLiteStore,
                                                  reports: list[Report]) -> None:
    done = await store.apply_deadlines(NOW + timedelta(days=3), RULE, {"Police": Deadline(2, 5)})
    assert sorted(d["transaction_id"] for d in done) == sorted(
        r.id for r in reports if r.bribe and r.service == "Police")


async def _not_me(store: SQLiteStore, office: str, n: int, not_me: int) -> None:
    txs = [Transaction(office=office, ref=f"{office}-{i}", name="", mobile=f"+92300{i:07d}",
                       service="Domicile", district="Lahore", official="x",
                       visited_at=NOW - timedelta(days=1)) for i in range(n)]
    await store.add_transactions(txs, NOW)
    for i, tx in enumerate(txs):
        stored = await store.transaction(office, tx.ref)
        assert stored is not None
        await sql(store, "INSERT INTO attempts (transaction_id, number, started_at, ended_at, "
                         "outcome, cause) VALUES (?, ?, ?, ?, ?, ?)",
                  (stored.id, tx.mobile, ts(NOW), ts(NOW), "failed" if i == 0 else "answered",
                   1 if i == 0 else 16))
        reason = "not_me" if i < not_me else None
        await sql(store, "UPDATE transactions SET attempts = 1, status = ?, closed_reason = ? "
                         "WHERE id = ?", ("unreachable" if reason else "completed", reason,
                                          stored.id))


async def test_integrity_counts_from_the_rows(store: SQLiteStore) -> None:
    await _not_me(store, "A", 40, 12)
    await _not_me(store, "B", 40, 1)
    counts = {c.office: c for c in await store.integrity_counts(NOW - timedelta(days=5), NOW)}
    a = counts["A"]
    assert (a.transactions, a.dialled, a.invalid, a.unreachable, a.not_me) == (40, 40, 1, 0, 12)
    assert counts["B"].not_me == 1


async def _as(client: Client, store: SQLiteStore, name: str, role: Role) -> None:
    await add_user(store, name, role)
    await signed_in(client, name)


@pytest.mark.parametrize(("role", "days", "seen"), [
    (Role.DISTRICT, 8, 0), (Role.DEPARTMENT, 8, 3), (Role.OVERSIGHT, 8, 0),
    (Role.DISTRICT, 16, 0), (Role.DEPARTMENT, 16, 0), (Role.OVERSIGHT, 16, 5),
])
async def test_an_overdue_case_is_listed_for_the_next_levels_role_only(
        store: SQLiteStore, web_settings: Settings, reports: list[Report], role: Role,
        days: int, seen: int) -> None:
    clock = Clock(NOW + timedelta(days=6))
    async with start_client(store, web_settings, clock, session_hours=2000,
                            session_idle_minutes=10**6) as client:
        await _as(client, store, "who", role)
        first = await client.get("/api/v1/accountability/escalated")
        assert (await first.json())["reports"] == []  # not yet due
        clock.at = NOW + timedelta(days=8)  # to the department
        await client.get("/api/v1/accountability/escalated")
        clock.at = NOW + timedelta(days=days)  # and, at 16 days, on to oversight
        body = await (await client.get("/api/v1/accountability/escalated")).json()
        assert len(body["reports"]) == seen
        page = await client.get("/accountability")
        assert page.status == 200
        assert (await page.text()).count('class="overdue"') == seen


async def test_the_actions_report_counts_overdue_cases(
        store: SQLiteStore, web_settings: Settings, reports: list[Report]) -> None:
    async with start_client(store, web_settings, Clock(NOW + timedelta(days=8))) as client:
        await _as(client, store, "o", Role.OVERSIGHT)
        body = await (await client.get("/api/v1/reports/actions")).json()
        lahore = next(r for r in body["districts"] if r["district"] == "Lahore")
        assert lahore["overdue"] == 2 and body["total"]["overdue"] == 5


async def test_bad_input_is_a_clear_400(client: Client, store: SQLiteStore) -> None:
    await _as(client, store, "o", Role.OVERSIGHT)
    for url, says in [("/api/v1/reports/monthly?month=2026-13", "month"),
                      ("/api/v1/accountability/scorecard?by=desk", "by"),
                      ("/api/v1/accountability/integrity?from=2026-02-30", "from"),
                      ("/api/v1/accountability/alerts?week=soon", "week"),
                      ("/reports/monthly?format=docx", "format")]:
        response = await client.get(url)
        assert response.status == 400, url
        assert says in await response.text()


def _pdftotext(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout


def _figures(body: dict[str, Any]) -> list[str]:
    """Every figure of the JSON that the PDF prints, formatted as the report formats them."""
    out = []
    rows = [*body["districts"], body["total"]]
    for d in rows:
        out += [str(d["transactions"]), str(d["contacted"]), str(d["responses"]),
                pct(d["satisfaction"]["value"]), pct(d["bribe_rate"]["value"]),
                str(sum(d["actions"].values())), str(d["overdue_cases"])]
        if d["satisfaction"]["value"] is not None:
            out.append(interval(d["satisfaction"]))
    return out


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed "
                    "(make system installs it)")
async def test_the_monthly_pdf_carries_the_json_figures(
        store: SQLiteStore, web_settings: Settings, reports: list[Report], tmp_path: Path) -> None:
    from resultsdata import made_up
    await made_up(store, NOW)
    async with start_client(store, web_settings, Clock(NOW + timedelta(days=8))) as client:
        await _as(client, store, "o", Role.OVERSIGHT)
        body = await (await client.get("/api/v1/reports/monthly?month=2024-04")).json()
        assert body["total"]["transactions"] > 500 and len(body["districts"]) >= 5
        assert any(d["satisfaction"]["value"] is None for d in body["districts"])  # withheld
        pdf = await client.get("/reports/monthly?month=2024-04&format=pdf")
        assert pdf.status == 200 and pdf.content_type == "application/pdf"
        (tmp_path / "m.pdf").write_bytes(await pdf.read())
        html = await (await client.get("/reports/monthly?month=2024-04")).text()
    text = await asyncio.to_thread(_pdftotext, tmp_path / "m.pdf")
    lines = {d["district"]: next(line for line in text.splitlines()
                                 if line.strip().startswith(d["district"]))
             for d in body["districts"]}
    for d in body["districts"]:
        for figure in _figures({"districts": [d], "total": d})[:7]:
            assert figure in lines[d["district"]].split(), (d["district"], figure)
    for figure in _figures(body):
        assert figure in text and figure in html, figure


async def test_a_district_officer_gets_the_report_of_their_district_only(
        store: SQLiteStore, web_settings: Settings, reports: list[Report]) -> None:
    async with start_client(store, web_settings, Clock(NOW)) as client:
        await _as(client, store, "d", Role.DISTRICT)  # scope: Lahore
        body = await (await client.get(
            "/api/v1/reports/monthly?month=2024-05&district=Multan")).json()
        assert body["district"] == "Lahore"
        assert [d["district"] for d in body["districts"]] == ["Lahore"]
        assert body["total"]["transactions"] == 3


async def test_scorecard_and_weekly_trend_from_the_stored_answers(
        store: SQLiteStore, web_settings: Settings) -> None:
    from resultsdata import made_up
    await made_up(store, NOW)
    async with start_client(store, web_settings, Clock(NOW)) as client:
        await _as(client, store, "o", Role.OVERSIGHT)
        card = await (await client.get(
            "/api/v1/accountability/scorecard?by=office&measure=satisfaction")).json()
        shown = [r for r in card["rows"] if not r["suppressed"]]
        assert shown and all(r["low"] <= r["value"] <= r["high"] for r in shown)
        for a in shown:  # no rank where intervals overlap
            for b in shown:
                if a is not b and not (a["high"] < b["low"] or b["high"] < a["low"]):
                    assert a["rank"] is None and b["rank"] is None
        trend = await (await client.get(
            "/api/v1/accountability/trend?by=office&measure=bribe")).json()
        assert len(trend["weeks"]) >= 4
        assert trend["weeks"] == sorted(trend["weeks"], key=lambda w: w["week"])
        await _as(client, store, "d", Role.DISTRICT)  # Lahore only
        card = await (await client.get("/api/v1/accountability/scorecard")).json()
        assert {r["district"] for r in card["rows"]} == {"Lahore"}

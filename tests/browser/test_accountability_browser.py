"""The accountability page in real headless Chromium: a bribe report left unreviewed past its
deadline escalates to the department, and appears on the department's page only (not the
district officer's, whose case it was, nor oversight's, the level above)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from browser_support import Site, sign_in, start_site, stop_site
from playwright.sync_api import Page

# The browser tests' department oversees Police: MUL-202 and SKT-301 are its reports.
SEEN = {"department": {"MUL-202", "SKT-301"}, "district": set(), "oversight": set()}


@pytest.fixture(scope="module")
def overdue_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    s, proc = start_site(tmp_path_factory.mktemp("rabta-acct"))
    try:
        # The reports were made nine days ago: past the 7 days allowed for review.
        long_ago = (datetime.now(UTC) - timedelta(days=9)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        with sqlite3.connect(s.home / "rabta.db") as db:
            db.execute("UPDATE answers SET answered_at = ?", (long_ago,))
        yield s
    finally:
        stop_site(proc)


@pytest.mark.parametrize("username", ["district", "department", "oversight"])
def test_an_overdue_case_appears_for_the_next_levels_role_only(
        page: Page, overdue_site: Site, username: str) -> None:
    site = overdue_site
    sign_in(page, site, username)
    page.click("nav >> text=Accountability")
    page.wait_for_url(f"{site.url}/accountability")
    rows = page.locator("#escalated tr.overdue")
    ids = {a.removeprefix("#") for a in rows.locator("td:nth-child(1)").all_inner_texts()}
    expected = {str(site.report(ref).id) for ref in SEEN[username]}
    assert ids == expected
    if expected:
        assert set(rows.locator("td:nth-child(6)").all_inner_texts()) == {"review"}
        page.click(f"#escalated a[href='/cases/{min(expected)}']")  # on to the case itself
        page.wait_for_url(f"{site.url}/cases/{min(expected)}")
    else:
        assert "None." in page.locator("#escalated").inner_text()
    if username == "oversight":  # the escalations are in the audit trail
        page.goto(f"{site.url}/audit?action=case_escalated")
        assert page.locator("body").inner_text().count("system:deadlines") >= 2

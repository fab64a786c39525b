"""The results and overview pages in real headless Chromium: a CSV downloaded by clicking its
link holds the rows the page shows, and each role sees only its own scope (or the 403 page).

The store holds tests/casedata.py's reports and tests/resultsdata.py's KNOWN answers.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import Site, sign_in, start_site, stop_site
from playwright.sync_api import Page
from resultsdata import KNOWN

# username -> (groups by service, groups by district) it may see
SCOPED = {"oversight": ({"Domicile", "Pension", "Police", "Health"}, {"Lahore", "Multan", "Sialkot"}),
          "department": ({"Police"}, {"Multan", "Sialkot"}),  # Police
          "district": ({"Domicile", "Pension", "Health"}, {"Lahore"})}  # Lahore
REFUSED = ("supervisor", "telephony", "dataentry")
TILES = ("transactions", "calls", "answered", "completed")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    s, proc = start_site(tmp_path_factory.mktemp("rabta-results"), results="known")
    try:
        yield s
    finally:
        stop_site(proc)


def groups(page: Page) -> set[str]:
    """Return the group names of the results table on the page (not the total)."""
    cells = page.locator("table tbody tr:not(.total) td:first-child").all_inner_texts()
    return {c.strip() for c in cells}


def test_export_a_csv_and_find_the_rows(page: Page, site: Site, tmp_path: Path) -> None:
    sign_in(page, site, "oversight")
    page.goto(f"{site.url}/results")
    page.select_option("#by", "district")
    page.select_option("#service", "Health")  # a choice from the data
    with page.expect_navigation():
        page.click("form.filters button[type=submit]")
    assert groups(page) == {"Lahore", "Multan"}
    with page.expect_download() as info:
        page.click("a:text-is('CSV')")
    download = info.value
    assert download.suggested_filename == "rabta-results-by-district.csv"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    by_group = {r["district"]: r for r in rows}
    assert set(by_group) == {"Lahore", "Multan", "TOTAL"}, rows
    for g in (g for g in KNOWN if g.service == "Health"):
        row = by_group[g.district]
        assert int(row["responses"]) == len(g.ratings), row
        assert float(row["satisfaction"]) == pytest.approx(g.satisfied, abs=1e-4), row
        assert float(row["bribe_rate"]) == 0.0 and row["suppressed"] == "0", row
    assert int(by_group["TOTAL"]["responses"]) == 23
    assert by_group["Lahore"]["rank"] == "1" and by_group["Multan"]["rank"] == "2"
    # the page showed the same: Lahore 75% satisfied of 12
    lahore = page.locator("table tbody tr", has_text="Lahore").inner_text()
    assert "12" in lahore and "75%" in lahore, lahore


@pytest.mark.parametrize("username", [*SCOPED, *REFUSED])
def test_results_show_only_the_roles_scope(page: Page, site: Site, username: str) -> None:
    sign_in(page, site, username)
    by_service = page.goto(f"{site.url}/results?by=service")
    assert by_service is not None
    if username in REFUSED:
        assert by_service.status == 403, by_service.status
        assert "Results" not in page.locator("h2").all_inner_texts()
        for path in ("/overview", "/api/v1/results", "/api/v1/overview",
                     "/export/results.csv"):
            response = page.request.get(site.url + path)
            assert response.status == 403, (path, response.status)
        return
    services, districts = SCOPED[username]
    assert by_service.status == 200
    assert groups(page) == services
    page.goto(f"{site.url}/results?by=district")
    assert groups(page) == districts
    text = page.locator("table").inner_text()
    for other in {"Lahore", "Multan", "Sialkot", "Health", "Police"} - services - districts:
        assert other not in text, other
    # the downloads and the JSON behind the page keep the same scope
    exported = page.request.get(f"{site.url}/export/results.csv?by=service")
    assert exported.status == 200
    rows = list(csv.DictReader(io.StringIO(exported.body().decode("utf-8-sig"))))
    assert {r["service"] for r in rows} == services | {"TOTAL"}
    api = json.loads(page.request.get(f"{site.url}/api/v1/results?by=district").text())
    assert {r["group"] for r in api["rows"]} == districts


def _tiles(page: Page) -> dict[str, int]:
    return {f: int(page.inner_text(f"#overview [data-field={f}]")) for f in TILES}


def test_overview_shows_only_the_roles_scope(page: Page, site: Site) -> None:
    seen: dict[str, dict[str, int]] = {}
    day = ""
    for username in SCOPED:
        page.context.clear_cookies()
        sign_in(page, site, username)
        response = page.goto(f"{site.url}/overview")
        assert response is not None and response.status == 200
        seen[username] = _tiles(page)
        api = json.loads(page.request.get(f"{site.url}/api/v1/overview").text())
        assert seen[username] == {f: api[f] for f in TILES}, (username, api)
        day = api["day"]
    if day == site.day:  # the KNOWN answers were given today (unless midnight just passed)
        everyone, police, lahore = seen["oversight"], seen["department"], seen["district"]
        assert everyone["completed"] >= sum(len(g.ratings) for g in KNOWN), everyone
        assert police["completed"] >= 12 and lahore["completed"] >= 12, seen
        # what the others may not see is missing from their tiles
        assert police["completed"] <= everyone["completed"] - 12 - 11, seen  # no Health
        assert lahore["completed"] <= everyone["completed"] - 11 - 12, seen  # no Multan

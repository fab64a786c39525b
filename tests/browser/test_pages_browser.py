"""Every dashboard page in real headless Chromium, in English and in Urdu, at phone (360 px) and
desktop (1366 px) widths: the page says its language and direction (`dir="rtl"` in Urdu), the
served Naskh font is the one that renders Urdu, nothing scrolls sideways outside a table's own
box, there is one <main>, and axe-core (npm's axe-core, injected into the page) finds no serious
or critical violation.

axe-core comes from tests/browser/axe (`npm ci --prefix tests/browser/axe`, `make browser` does
it); without it these tests fail, never skip.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import Site, sign_in, start_site, stop_site
from playwright.sync_api import Browser, Page

AXE = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = (360, 1366)
LANGS = ("en", "ur")
URDU_LETTERS = "آابپتٹثجچحخدڈذرڑزژسشصضطظعغفقکگلمنںوہھءیے"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    s, proc = start_site(tmp_path_factory.mktemp("rabta-pages"), cases=True, results="known")
    try:
        yield s
    finally:
        stop_site(proc)


def pages(site: Site) -> list[str]:
    case = site.report("MUL-201").id
    return ["/", "/overview", "/results", "/results?by=day", "/results?district=lahore",
            "/results?from=2024-01-01&to=2024-01-02", "/cases", f"/cases/{case}",
            "/reports/actions", "/audit", "/prompts", "/accountability", "/sms/replies",
            "/accounts", "/account/password", "/no-such-page"]


def _open(browser: Browser, site: Site, width: int, lang: str) -> Page:
    context = browser.new_context(viewport={"width": width, "height": 800}, bypass_csp=True)
    page = context.new_page()
    sign_in(page, site, "oversight")
    assert page.url == f"{site.url}/overview"  # sign-in lands on the overview
    page.goto(f"{site.url}/language?to={lang}&next=/")
    return page


def _sideways(page: Page) -> list[str]:
    """Return what sticks out sideways beyond the viewport, outside a .scroll box."""
    result: list[str] = page.evaluate("""() => {
      const out = [];
      const w = document.documentElement.clientWidth;
      if (document.documentElement.scrollWidth > w + 1)
        out.push('page scrolls: ' + document.documentElement.scrollWidth + ' > ' + w);
      for (const el of document.querySelectorAll('body *')) {
        if (el.closest('.scroll')) continue;
        const r = el.getBoundingClientRect();
        if (r.width && (r.right > w + 1 || r.left < -1))
          out.push(el.tagName + '.' + el.className + ' ' + Math.round(r.left) + '..' + Math.round(r.right));
      }
      return out.slice(0, 5);
    }""")
    return result


def _axe(page: Page) -> list[dict[str, Any]]:
    if not AXE.is_file():
        pytest.fail(f"{AXE} missing: run `npm ci --prefix tests/browser/axe` (make browser does it)")
    page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate("""async () => {
      const r = await axe.run(document, {resultTypes: ['violations']});
      return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
        .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
    }""")
    return found


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_fits_speaks_its_language_and_passes_axe(browser: Browser, site: Site,
                                                          width: int, lang: str) -> None:
    page = _open(browser, site, width, lang)
    problems: dict[str, Any] = {}
    for path in pages(site):
        page.goto(f"{site.url}{path}")
        page.wait_for_load_state("load")
        html = page.locator("html")
        assert html.get_attribute("lang") == lang, path
        assert html.get_attribute("dir") == ("rtl" if lang == "ur" else "ltr"), path
        assert page.locator("main").count() == 1, path
        assert page.locator("nav").count() == 1, path  # one navigation bar
        if sideways := _sideways(page):
            problems[f"{path} sideways"] = sideways
        if violations := _axe(page):
            problems[f"{path} axe"] = violations
    page.context.close()
    assert problems == {}, json.dumps(problems, indent=1, ensure_ascii=False)


def test_the_urdu_interface_renders_right_to_left_in_the_served_naskh(browser: Browser,
                                                                       site: Site) -> None:
    page = _open(browser, site, 1366, "ur")
    page.goto(f"{site.url}/results")
    assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"
    assert "نتائج" in page.locator("h2").inner_text()
    # Every Urdu letter, ہ (U+06C1) among them, in a box whose only font is ours: the font
    # loads, and the browser finds every letter in it (no fallback, no missing-glyph box).
    loaded = page.evaluate("""async (letters) => {
      const probe = document.createElement('span');
      probe.lang = 'ur'; probe.style.fontFamily = '"Rabta Naskh"'; probe.textContent = letters;
      document.querySelector('main').append(probe);
      await document.fonts.load('16px "Rabta Naskh"', letters);
      await document.fonts.ready;
      return [...document.fonts].filter(f => f.family.includes('Rabta Naskh'))
        .map(f => f.status);
    }""", URDU_LETTERS + "\u06c1")
    assert loaded == ["loaded"]
    assert page.evaluate("""(letters) => document.fonts.check('16px "Rabta Naskh"', letters)""",
                         URDU_LETTERS)
    page.context.close()


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("width", WIDTHS)
def test_the_helpful_states_fit_and_pass_axe(browser: Browser, site: Site, width: int,
                                             lang: str) -> None:
    """The states officials meet after acting or finding nothing: a notice after a change,
    only the allowed next steps, an empty result, the live overview's chart and table after
    the stream has redrawn them; each fits the width and passes axe, in each language."""
    page = _open(browser, site, width, lang)
    problems: dict[str, Any] = {}

    def check(what: str) -> None:
        if sideways := _sideways(page):
            problems[f"{what} sideways"] = sideways
        if violations := _axe(page):
            problems[f"{what} axe"] = violations

    # a case: only the steps the rules allow, then a note saved, then its notice
    report = site.report("LHR-102")  # new
    page.goto(f"{site.url}/cases/{report.id}")
    offered = page.eval_on_selector_all("#to option", "os => os.map(o => o.value)")
    assert offered == ["new", "under_review"], offered  # never a skip to action_taken
    assert page.locator("#action").count() == 0
    page.fill("#note", f"checked at {width} px in {lang}")
    page.click("#save")
    page.wait_for_selector("#notice")  # after the redirect back to the case
    assert page.url == f"{site.url}/cases/{report.id}"
    notice = page.locator("#notice")
    assert notice.get_attribute("role") == "status" and notice.is_visible()
    assert page.locator("#case-form input[name=csrf_token]").count() == 1  # CSRF intact
    check("case with notice")
    # the survey's own words in the answers table, in the page's language
    rating = page.locator("#answers tr[data-question=rating] td").nth(1).inner_text()
    assert rating.startswith("2, ") and rating != "2", rating
    # nothing found: a state that says what to do
    page.goto(f"{site.url}/results?from=2024-01-01&to=2024-01-02")
    assert page.locator("#empty").is_visible()
    # the overview once the stream has redrawn it
    page.goto(f"{site.url}/overview")
    before = page.locator("#district-table tbody tr").count()
    updated = page.locator("#overview").get_attribute("data-updated") or ""
    page.wait_for_function("(w) => document.getElementById('status').textContent.startsWith(w)",
                           arg=updated, timeout=15000)
    assert page.locator("#hours-chart svg").count() == 1
    assert page.locator("#district-table tbody tr").count() == before
    check("overview, live")
    page.context.close()
    assert problems == {}, json.dumps(problems, indent=1, ensure_ascii=False)

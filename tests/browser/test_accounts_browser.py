"""Accounts in real headless Chromium at phone (360 px) and desktop (1366 px) widths: the
oversight admin adds an account with a scope typo, sees "did you mean Lahore?", fixes it; the
new official signs in and changes their password; a reset link sets another one and ends the
official's session. On every new page (list, refusal, account, own password, reset), axe-core
finds no serious or critical violation and nothing scrolls sideways outside a table's box.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from browser_support import PASSWORD, Site, sign_in, start_site, stop_site
from playwright.sync_api import Browser, Page, expect
from test_pages_browser import _axe, _sideways

FIRST = "first password here"
CHOSEN = "my own passphrase now"
RESET = "reset passphrase chosen"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    s, proc = start_site(tmp_path_factory.mktemp("rabta-accounts"), results="known")
    try:
        yield s
    finally:
        stop_site(proc)


def _context_page(browser: Browser, width: int, lang: str = "en") -> Page:
    context = browser.new_context(viewport={"width": width, "height": 800}, bypass_csp=True)
    page = context.new_page()
    if lang != "en":
        page.context.add_cookies([{"name": "rabta_lang", "value": lang,
                                   "url": "http://127.0.0.1"}])
    return page


def _clean(page: Page, what: str) -> None:
    assert _sideways(page) == [], what
    assert _axe(page) == [], what


def _sign_in_as(page: Page, site: Site, username: str, password: str) -> None:
    page.goto(f"{site.url}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("main button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)  # each role lands on its own page


@pytest.mark.parametrize("width", [360, 1366])
def test_admin_adds_an_official_who_changes_their_password(browser: Browser, site: Site,
                                                           width: int) -> None:
    name = f"officer{width}"
    admin = _context_page(browser, width)
    sign_in(admin, site, "oversight")
    admin.click("nav >> text=Accounts")
    admin.wait_for_url(f"{site.url}/accounts")
    _clean(admin, "/accounts")

    admin.fill("#username", name)
    admin.select_option("#role", "district")
    admin.fill("#district", "Lahroe")
    admin.fill("#password", FIRST)
    admin.click("form[action='/accounts'] button[type=submit]")
    refusal = admin.locator("#refusal")
    expect(refusal).to_contain_text("Did you mean Lahore?")
    expect(admin.locator("#district")).to_have_value("Lahroe")  # kept for fixing
    _clean(admin, "/accounts with a refusal")

    admin.fill("#district", "Lahore")
    admin.fill("#password", FIRST)  # never sent back: typed again
    admin.click("form[action='/accounts'] button[type=submit]")
    admin.wait_for_url(re.compile(r"/accounts/\d+\?done=added$"))
    expect(admin.locator("[role=status]")).to_contain_text("The account was added.")
    expect(admin.locator("main dl")).to_contain_text("Lahore")
    _clean(admin, "/accounts/{id}")

    official = _context_page(browser, width)
    _sign_in_as(official, site, name, FIRST)
    official.click("text=My account")  # the navigation bar, from whichever page sign-in opened
    official.click("main >> text=Change your password")
    official.wait_for_url(f"{site.url}/account/password")
    _clean(official, "/account/password")
    official.fill("#current", FIRST)
    official.fill("#new", CHOSEN)
    official.fill("#again", CHOSEN)
    official.click("main button[type=submit]")
    expect(official.locator("[role=status]")).to_contain_text("Your password is changed.")
    _clean(official, "/account/password after the change")

    # the admin sees the sign-in and the change in the account's history, then makes a link
    admin.reload()
    expect(admin.locator("#history")).to_contain_text("password_change")
    expect(admin.locator("main dl")).not_to_contain_text("never")  # a last sign-in now
    admin.click("text=Make a password reset link")
    link = admin.locator("#reset-link code").inner_text()
    assert link.startswith(f"{site.url}/reset?token=")
    _clean(admin, "/accounts/{id} with a reset link")

    stranger = _context_page(browser, width, lang="ur")  # the official, on another phone
    stranger.goto(link)
    assert stranger.locator("html").get_attribute("dir") == "rtl"
    _clean(stranger, "/reset in Urdu")
    stranger.fill("#new", RESET)
    stranger.fill("#again", RESET)
    stranger.click("main button[type=submit]")
    expect(stranger.locator("[role=status]")).to_be_visible()
    stranger.goto(link)  # used: the link is dead now
    expect(stranger.locator("[role=alert]")).to_be_visible()

    official.goto(f"{site.url}/")  # the reset ended the official's session
    assert official.url == f"{site.url}/login"
    _sign_in_as(official, site, name, RESET)
    for p in (admin, official, stranger):
        p.context.close()


def test_only_the_oversight_admin_sees_the_accounts_page(browser: Browser, site: Site) -> None:
    page = _context_page(browser, 1366)
    sign_in(page, site, "district")
    assert page.locator("nav >> text=Accounts").count() == 0
    response = page.goto(f"{site.url}/accounts")
    assert response is not None and response.status == 403
    assert PASSWORD not in page.content()
    page.context.close()

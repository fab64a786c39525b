"""Browser tier: real headless Chromium (Debian's `chromium` package) driven by Playwright,
against a real `rabta web` process on a free port with a temp store and sample reports.

Playwright's own browser builds cannot be downloaded here, so Chromium is Debian's, launched
by path. If it is missing or cannot start, these tests FAIL loudly: they never skip.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from browser_support import Site, launch, start_site, stop_site
from playwright.sync_api import Browser, Page, Playwright, sync_playwright


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "browser" in str(item.path):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    s, proc = start_site(tmp_path_factory.mktemp("rabta-web"))
    try:
        yield s
    finally:
        stop_site(proc)


# Module scope, not session: Playwright's sync API keeps an event loop running in this thread
# while it is open, and the async tests that run after this tier need the thread back.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    b = launch(playwright)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    p = context.new_page()
    try:
        yield p
    finally:
        context.close()

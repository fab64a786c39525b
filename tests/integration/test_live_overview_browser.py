"""The live overview in real headless Chromium while a real call completes.

An oversight official signs in to the dashboard and opens /overview; only then does the engine
call a scripted citizen of the carrier simulator, who answers the survey over real SIP and
DTMF. The page's "completed" tile goes from 0 to 1 by itself: no reload, no navigation (a
marker set on `window` before the call is still there afterwards).
"""

from __future__ import annotations

import asyncio
import secrets

from aiohttp import web
from chromium import LAUNCH_ARGS, chromium_path
from playwright.async_api import async_playwright, expect
from support import SURVEY_ANSWERS, SURVEY_KEYS, Citizen, install_phonebook, transactions_for

from ivr.accounts import Role, hash_password
from ivr.config import Settings
from ivr.engine import Engine
from ivr.store import SQLiteStore
from ivr.web.app import create_app
from ivr.web.common import utcnow

PASSWORD = "overview browser password"
CALL_TIMEOUT_MS = 120_000  # the survey takes about 15 s; this bounds a hang, not the test


def tile(field: str) -> str:
    """Return the selector of one overview tile's figure."""
    return f"#overview [data-field={field}]"


async def test_overview_page_counts_a_real_call_without_reload(node_settings: Settings,
                                                                store: SQLiteStore) -> None:
    citizens = [Citizen("03008891001", "answer", SURVEY_KEYS)]
    install_phonebook(node_settings, citizens)
    txs = transactions_for(citizens, "overview-browser")
    await store.add_transactions(txs, txs[0].visited_at)
    await store.add_user("watcher", hash_password(PASSWORD), Role.OVERSIGHT, (), utcnow())
    engine = Engine(node_settings, store)
    await engine.start()
    runner = web.AppRunner(create_app(node_settings, store, engine))
    dialer: asyncio.Task[None] | None = None
    marker = secrets.token_hex(8)
    try:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=chromium_path(), headless=True,
                                              args=LAUNCH_ARGS)
            try:
                page = await browser.new_page()
                await page.goto(f"{url}/login")
                await page.fill("#username", "watcher")
                await page.fill("#password", PASSWORD)
                await page.click("button[type=submit]")
                await page.wait_for_url(f"{url}/overview")  # sign-in lands on the overview
                await page.goto(f"{url}/overview")
                # the script has received the stream's first event: the page is live
                await expect(page.locator("#status")).to_contain_text("Live: updated",
                                                                      timeout=30_000)
                before = {f: await page.inner_text(tile(f))
                          for f in ("transactions", "calls", "answered", "completed")}
                navigations: list[str] = []
                page.on("framenavigated",
                        lambda frame: navigations.append(frame.url)
                        if frame == page.main_frame else None)
                await page.evaluate("(m) => { window.rabtaMarker = m; }", marker)
                # the call starts only now, with the page open
                dialer = asyncio.create_task(engine.dialer.run(until_idle=True))
                # polled by Playwright (a string predicate would need the CSP's 'unsafe-eval')
                await expect(page.locator(tile("completed"))).to_have_text(
                    "1", timeout=CALL_TIMEOUT_MS)
                after = {f: await page.inner_text(tile(f)) for f in before}
                survived = await page.evaluate("() => window.rabtaMarker")
                status = await page.inner_text("#status")
            finally:
                await browser.close()
        await asyncio.wait_for(dialer, 120)
    finally:
        if dialer is not None and not dialer.done():
            dialer.cancel()
        await runner.cleanup()
        await engine.close()
    # (the visit, 3 h ago, may fall on the local yesterday: then today counts no transaction)
    assert before["transactions"] == after["transactions"] in ("0", "1")
    assert [before[f] for f in ("calls", "answered", "completed")] == ["0", "0", "0"], before
    assert [after[f] for f in ("calls", "answered", "completed")] == ["1", "1", "1"], after
    assert survived == marker, "the page was reloaded"
    assert navigations == [], navigations
    assert status.startswith("Live: updated"), status
    assert await store.answers_for_attempt(1) == SURVEY_ANSWERS

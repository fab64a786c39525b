"""Closing the loop with the citizen: a bribe report made on a real call through the carrier
simulator becomes a case; an official sets "action taken" in headless Chromium; the outcome
SMS, in Urdu, arrives at Kannel's fake SMSC, and its delivery shows on the case page; a few
seconds later (followup_delay_days, tiny here) the follow-up call goes through the carrier
simulator, the citizen presses 1 ("resolved"), and the case page says "resolved, says the
citizen". The engine's own dialer and SMS sender do the work (real PBX, real Kannel, real
Chromium). The follow-up is dialled although the citizen was surveyed minutes before (the
cooldown): its claim is exempt (scheduler.policy.at_dial).
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web
from chromium import LAUNCH_ARGS, chromium_path
from playwright.async_api import async_playwright
from support import Citizen, carrier_cdr_counts, install_phonebook, wait_carrier_idle

from ivr import phone
from ivr.accounts import Role, hash_password
from ivr.config import Settings, replace
from ivr.engine import Engine
from ivr.models import Transaction
from ivr.sms import text as smstext
from ivr.store import SQLiteStore
from ivr.store.sms import SmsStore
from ivr.web.app import create_app

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kannel import PASSWORD as KANNEL_PASSWORD
from kannel import USER, Kannel, free_port

SECRET = "loopTestSecret0123456789"
CITIZEN = "03017780001"
PASSWORD = "integration password"
FOLLOWUP_DELAY_S = 5.0


async def wait_for(what: str, check: object, timeout: float = 60.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        got = await check()  # type: ignore[operator]
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def test_action_taken_in_the_browser_reaches_the_citizen_by_sms(
        node_settings: Settings, store: SQLiteStore, tmp_path: Path) -> None:
    port = free_port()
    kannel = Kannel(tmp_path / "kannel", inbound_url=f"http://127.0.0.1:{port}/sms/kannel/"
                                                     f"inbound?secret={SECRET}&from=%p")
    settings = replace(node_settings, sms_url=kannel.sendsms_url, sms_username=USER,
                       sms_password=KANNEL_PASSWORD, sms_secret=SECRET,
                       sms_callback_url=f"http://127.0.0.1:{port}", sms_interval=0.2,
                       sms_retry_delay=0.5, sms_per_second=50.0,
                       followup_delay_days=FOLLOWUP_DELAY_S / 86400)
    # The citizen confirms the visit, rates it 2, says a bribe was asked for (1), of 1,000 to
    # 10,000 rupees (2), by the patwari or a clerk (1), and records no complaint (2).
    install_phonebook(settings, [Citizen(CITIZEN, "answer", "s1s2s1s2s1s2")])
    now = datetime.now(UTC)
    visited = now - timedelta(hours=3)
    await store.add_transactions([Transaction(
        office="Tehsil Office Lahore", ref="loop-1", name="", mobile=phone.normalize(CITIZEN),
        service="land_revenue", district="Lahore", official="Patwari A", visited_at=visited,
        language="ur")], now)
    tx = await store.transaction("Tehsil Office Lahore", "loop-1")
    assert tx is not None and tx.id is not None
    await store.add_user("boss", hash_password(PASSWORD), Role.OVERSIGHT, (), now)
    sms = SmsStore(store)

    await asyncio.to_thread(kannel.start)
    engine = Engine(settings, store)
    runner = web.AppRunner(create_app(settings, store, engine))
    try:
        await engine.start()
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await asyncio.wait_for(engine.dialer.run(until_idle=True), 300)
        wait_carrier_idle(settings)
        answers = {a["question"]: a["value"] for a in await store.answer_rows(
            (await store.attempts_of(tx.id))[0]["id"])}
        assert answers["bribe"] == "1", answers  # a bribe report, made on the phone
        # The report's case number goes by SMS (with the thanks).
        await wait_for("the case number SMS", lambda: _state_in(sms, tx.id, "case",
                                                                  ("sent", "delivered")))

        url = f"http://127.0.0.1:{port}"
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=chromium_path(), headless=True,
                                              args=LAUNCH_ARGS)
            try:
                page = await browser.new_page()
                await page.goto(f"{url}/login")
                await page.fill("#username", "boss")
                await page.fill("#password", PASSWORD)
                await page.click("button[type=submit]")
                await page.wait_for_url(f"{url}/overview")  # sign-in lands on the overview
                await page.goto(f"{url}/cases/{tx.id}")
                await page.select_option("#to", "under_review")
                await page.click("#save")
                await page.wait_for_load_state()
                await page.select_option("#to", "action_taken")
                await page.select_option("#action", "suspension")
                await page.click("#save")
                await page.wait_for_load_state()
                await wait_for("the outcome SMS delivered", lambda: _state_in(
                    sms, tx.id, "outcome", ("delivered",)))
                await page.goto(f"{url}/cases/{tx.id}")
                sms_table = await page.locator("#sms").inner_text()
                planned = await page.locator("#followup").inner_text()

                # The follow-up call: the citizen listens, then presses 1 (resolved).
                install_phonebook(settings, [Citizen(CITIZEN, "answer", "s1")])
                calls_before = carrier_cdr_counts(settings)
                await asyncio.wait_for(engine.dialer.run(until_idle=True), 120)
                wait_carrier_idle(settings)
                followup_calls = carrier_cdr_counts(settings) - calls_before
                await page.goto(f"{url}/cases/{tx.id}")
                answer = await page.locator("#followup-answer").inner_text()
            finally:
                await browser.close()
    finally:
        await runner.cleanup()
        await engine.close()
        await asyncio.to_thread(kannel.stop)

    templates = smstext.load_templates()
    expected = templates.text("outcome", "ur", {
        "case": str(tx.id), "action": templates.action_name("suspension", "ur")})
    to = phone.digits(phone.normalize(CITIZEN))
    got = [r.text for r in kannel.received() if r.to == to]
    assert expected in got, got  # arrived intact, decoded from UCS-2
    assert got.count(expected) == 1
    assert "outcome" in sms_table and "delivered" in sms_table
    assert "Planned for" in planned
    assert answer == "resolved, says the citizen"
    followup = await store.bribe_report(tx.id)
    assert followup is not None and followup["followup"]["status"] == "completed"
    assert sum(followup_calls.values()) == 1, followup_calls  # one call, through the carrier
    # The follow-up has no SMS of its own (no notice, no thanks).
    assert await sms.messages_of(followup["followup"]["id"]) == []


async def _state_in(sms: SmsStore, tx: int, kind: str, states: tuple[str, ...]) -> bool:
    return any(m["kind"] == kind and m["state"] in states for m in await sms.messages_of(tx))

"""Click-to-call through the real PBX: the official's own phone rings first, then the citizen.

Both are phone-book entries of the carrier simulator: the official answers after 2 s of
ringing and stays on the line; the citizen answers and hangs up 3 s later. The call is placed
the way an official places it: signed in to the dashboard in real headless Chromium, on the
report's page, "Call this citizen".
"""

from __future__ import annotations

import asyncio
import csv
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web
from casedata import seed
from chromium import LAUNCH_ARGS, chromium_path
from playwright.async_api import async_playwright
from support import Citizen, install_phonebook, wait_carrier_idle

from ivr import phone
from ivr.accounts import Role, hash_password
from ivr.config import Settings
from ivr.engine import Engine
from ivr.lab import rootfs
from ivr.store import SQLiteStore
from ivr.web.app import create_app

OFFICIAL = "03007770001"
PASSWORD = "integration password"


def carrier_cdrs(settings: Settings) -> list[list[str]]:
    """Return the carrier simulator's CDR rows (dst is column 2, start column 9)."""
    carrier = rootfs.node_for(settings).carrier
    path = carrier.host_path(f"{carrier.log_dir}/cdr-csv/Master.csv")
    return list(csv.reader(path.read_text().splitlines())) if path.exists() else []


async def test_official_is_rung_first_then_the_citizen(node_settings: Settings, tmp_path: Path,
                                                       store: SQLiteStore) -> None:
    reports = await seed(store, tmp_path, datetime.now(UTC))  # recordings: not in the rootfs
    report = reports[0]
    install_phonebook(node_settings, [
        Citizen(OFFICIAL, "answer", ring_s="2"),  # the official picks up and stays
        Citizen(report.mobile, "answer", ring_s="1", hangup_s="3"),  # the citizen talks 3 s
    ])
    await store.add_user("boss", hash_password(PASSWORD), Role.OVERSIGHT, (),
                         datetime.now(UTC))
    await store.set_user_phone("boss", phone.normalize(OFFICIAL))
    cdrs_before = len(carrier_cdrs(node_settings))
    engine = Engine(node_settings, store)
    await engine.start()
    runner = web.AppRunner(create_app(node_settings, store, engine))
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
                await page.fill("#username", "boss")
                await page.fill("#password", PASSWORD)
                await page.click("button[type=submit]")
                await page.wait_for_url(f"{url}/overview")  # sign-in lands on the overview
                await page.goto(f"{url}/cases/{report.id}")
                await page.click("#call")
                await page.wait_for_selector("p.notice")
                notice = await page.locator("p.notice").inner_text()
                html = await page.content()
            finally:
                await browser.close()
        assert "Calling your phone (+92300*****01)" in notice, notice
        assert report.mobile not in html and report.mobile[3:] not in html
        (call,) = await store.direct_calls_of(report.id)
        await asyncio.wait_for(engine.direct_calls.ended[call["id"]].wait(), 90)
    finally:
        await runner.cleanup()
        await engine.close()
    row = await store.direct_call(call["id"])
    assert row is not None
    assert (row["caller"], row["official_phone"], row["official_outcome"],
            row["citizen_status"]) == ("boss", phone.normalize(OFFICIAL), "answered", "ANSWER")
    assert row["ended_at"] is not None and row["ended_at"] > row["started_at"]
    # The carrier writes a leg's CDR when its own channel ends, which may trail our hangup.
    await asyncio.to_thread(wait_carrier_idle, node_settings)
    new = carrier_cdrs(node_settings)[cdrs_before:]
    by_dst = {r[2]: r for r in new if len(r) > 11}
    official, citizen = phone.digits(phone.normalize(OFFICIAL)), phone.digits(report.mobile)
    assert set(by_dst) == {official, citizen}, new
    # start (column 9) and answer (10): the official answered before the citizen was dialled
    assert by_dst[official][10] and by_dst[official][10] <= by_dst[citizen][9], new
    assert by_dst[official][9] < by_dst[citizen][9], new
    assert by_dst[citizen][14] == "ANSWERED" and by_dst[official][14] == "ANSWERED", new
    audit = [e for e in await store.audit_entries() if e["action"] == "call"]
    assert [e["detail"] for e in audit] == [{"transaction": report.id, "direct_call": call["id"]}]

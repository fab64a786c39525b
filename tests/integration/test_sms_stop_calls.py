"""STOP by SMS, then the campaign: the real PBX and carrier simulator, and a real Kannel.

A citizen sends STOP through Kannel's fake SMSC before the calls start. Then a real engine
(dialer + FastAGI + its SMS sender) works through that citizen's transaction and another
citizen's. The carrier simulator's CDRs show no call to the one who said STOP, and the fake
SMSC's log shows no SMS to them; the other citizen is called and gets the notice.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from support import (
    Citizen,
    carrier_cdr_counts,
    install_phonebook,
    run_until_idle,
    transactions_for,
    wait_carrier_idle,
)

from ivr import phone
from ivr.config import Settings, replace
from ivr.store import SQLiteStore
from ivr.web.app import create_app

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kannel import PASSWORD, USER, Kannel, free_port

SECRET = "stopTestSecret0123456789"


@pytest.fixture
async def sms_node(node_settings: Settings, store: SQLiteStore, tmp_path: Path
                   ) -> AsyncIterator[tuple[Settings, Kannel]]:
    port = free_port()
    kannel = Kannel(tmp_path / "kannel", inbound_url=f"http://127.0.0.1:{port}/sms/kannel/"
                                                     f"inbound?secret={SECRET}&from=%p")
    settings = replace(node_settings, sms_url=kannel.sendsms_url, sms_username=USER,
                       sms_password=PASSWORD, sms_secret=SECRET,
                       sms_callback_url=f"http://127.0.0.1:{port}", sms_interval=0.2,
                       sms_retry_delay=0.5, sms_per_second=50.0)
    runner = web.AppRunner(create_app(settings, store))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.to_thread(kannel.start)
    try:
        yield settings, kannel
    finally:
        await asyncio.to_thread(kannel.stop)
        await runner.cleanup()


async def test_after_stop_no_call_and_no_sms_reach_the_citizen(
        sms_node: tuple[Settings, Kannel], store: SQLiteStore) -> None:
    settings, kannel = sms_node
    stopper, other = Citizen("03017770001", "answer", "s1s5s2"), Citizen("03017770002", "answer",
                                                                         "s1s5s2")
    install_phonebook(settings, [stopper, other])
    txs = transactions_for([stopper, other], "smsstop")
    await store.add_transactions(txs, txs[0].visited_at)
    await asyncio.to_thread(kannel.send_mo, phone.digits(txs[0].mobile), "STOP")
    for _ in range(100):
        if await store.dnc_list():
            break
        await asyncio.sleep(0.1)
    assert [d["number"] for d in await store.dnc_list()] == [txs[0].mobile]

    before = carrier_cdr_counts(settings)
    await run_until_idle(settings, store)  # the engine's SMS sender runs alongside
    wait_carrier_idle(settings)
    after = carrier_cdr_counts(settings)
    got = await asyncio.to_thread(kannel.wait_received, 1, 20.0)

    a, b = phone.digits(txs[0].mobile), phone.digits(txs[1].mobile)
    assert after[a] - before[a] == 0  # the carrier never heard a call to the STOP number
    assert after[b] - before[b] == 1
    results = {r["ref"]: r for r in await store.results()}
    assert results[txs[0].ref]["status"] == "opted_out"
    assert results[txs[1].ref]["status"] == "completed"
    assert a not in {g.to for g in got}  # the fake SMSC's log: nothing to the STOP number
    assert b in {g.to for g in got}  # the other citizen's notice went

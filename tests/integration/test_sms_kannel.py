"""SMS through a real Kannel: bearerbox and smsbox from Debian, the fake SMSC from
kannel-extras, all started here (tests/kannel.py) on free loopback ports; Rabta's web on
another, for Kannel's delivery reports and citizens' messages. No Asterisk: no lock needed.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web

from ivr.config import Settings, load_settings
from ivr.models import Transaction
from ivr.sms import text as smstext
from ivr.sms.gateway import Outgoing
from ivr.sms.sender import SmsSender
from ivr.store import SQLiteStore, open_store
from ivr.store.sms import SmsStore
from ivr.web.app import create_app

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kannel import Kannel, free_port

if not shutil.which("bearerbox", path="/usr/sbin") or not Path(
        "/usr/lib/kannel/test/fakesmsc").exists():
    pytest.fail("Kannel is not installed: apt-get install kannel kannel-extras (make system)",
                pytrace=False)

SECRET = "kannelTestSecret0123456789"
NUMBER = "+923001234567"


@dataclass
class Rig:
    settings: Settings
    store: SQLiteStore
    sms: SmsStore
    sender: SmsSender
    kannel: Kannel

    async def wait_for(self, what: str, check: Callable[[], Awaitable[Any]],
                       timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            got = await check()
            if got:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.1)

    async def received(self, count: int, timeout: float = 20.0) -> list[Any]:
        return await asyncio.to_thread(self.kannel.wait_received, count, timeout)

    async def mo(self, number: str, text: str) -> None:
        await asyncio.to_thread(self.kannel.send_mo, number.lstrip("+"), text)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    web_port = free_port()
    kannel = Kannel(tmp_path / "kannel",
                    inbound_url=f"http://127.0.0.1:{web_port}/sms/kannel/inbound"
                                f"?secret={SECRET}&from=%p")
    settings = load_settings(env={}, overrides={
        "home": str(tmp_path), "calling_window": "00:00-24:00", "sms_url": kannel.sendsms_url,
        "sms_username": "rabta", "sms_password": "kannel-test-pw", "sms_sender": "8080",
        "sms_secret": SECRET, "sms_callback_url": f"http://127.0.0.1:{web_port}",
        "sms_per_second": 20.0, "sms_retry_delay": 0.5, "sms_interval": 0.2,
        "sms_notice_lead": 3600.0})
    store = await open_store(tmp_path / "t.db")
    runner = web.AppRunner(create_app(settings, store))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", web_port).start()
    await asyncio.to_thread(kannel.start)
    sender = SmsSender.from_settings(store, settings)
    assert sender is not None
    try:
        yield Rig(settings, store, SmsStore(store), sender, kannel)
    finally:
        await sender.close()
        await asyncio.to_thread(kannel.stop)
        await runner.cleanup()
        await store.close()


async def add(store: SQLiteStore, ref: str, number: str = NUMBER, *, language: str = "ur",
              ago: timedelta = timedelta(hours=1), first_call_in: timedelta = timedelta(minutes=30),
              status: str | None = None, office: str = "DC Office Lahore") -> int:
    now = datetime.now(UTC)
    tx = Transaction(office=office, ref=ref, name="", mobile=number, service="land_revenue",
                     district="Lahore", official="", visited_at=now - ago, language=language)
    await store.add_transactions([tx], now, not_before=lambda t: now + first_call_in)
    got = await store.transaction(office, ref)
    assert got is not None and got.id is not None
    if status is not None:
        await store._tx([("UPDATE transactions SET status = ?, attempts = 3, updated_at = ? "
                          "WHERE id = ?", (status, now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                                           got.id))])
    return got.id


async def state_of(rig: Rig, tx: int, kind: str) -> str | None:
    for m in await rig.sms.messages_of(tx):
        if m["kind"] == kind:
            return str(m["state"])
    return None


async def answers(store: SQLiteStore, tx: int) -> dict[str, str]:
    async with store._db.execute("SELECT question, value FROM answers WHERE transaction_id = ?",
                                 (tx,)) as cur:
        return {r[0]: r[1] for r in await cur.fetchall()}


async def test_an_urdu_notice_arrives_intact_and_its_delivery_report_marks_it_delivered(
        rig: Rig) -> None:
    tx = await add(rig.store, "N1")
    assert await rig.sender.step() == 1
    got = await rig.received(1)
    visited = datetime.now(ZoneInfo("Asia/Karachi")) - timedelta(hours=1)
    expected = smstext.load_templates().text("notice", "ur", {
        "office": "DC Office Lahore", "date": visited.date().isoformat(), "short_code": "8080"})
    stored = await rig.sms.message(1)
    assert stored is not None
    assert len(got) == 1 and got[0].to == NUMBER.lstrip("+") and got[0].sender == "8080"
    assert got[0].text == stored["text"]  # decoded from UCS-2, character for character
    assert got[0].text == expected
    assert smstext.encoding(got[0].text) == smstext.UCS2
    # The fake SMSC acknowledges (DLR 8) and reports delivery (DLR 1): the state follows.
    assert await rig.wait_for("delivered", lambda: _is(rig, tx, "notice", "delivered"))
    # One of each kind per transaction: planning again plans nothing, nothing more goes out.
    assert await rig.sender.step() == 0
    await asyncio.sleep(0.5)
    assert len(rig.kannel.received()) == 1


async def _is(rig: Rig, tx: int, kind: str, state: str) -> bool:
    return await state_of(rig, tx, kind) == state


async def test_a_300_character_urdu_message_arrives_as_one_concatenated_message(rig: Rig) -> None:
    text = ("آپ کی رائے ہمارے لیے اہم ہے۔ " * 20)[:300]
    assert len(text) == 300 and smstext.parts(text) == 5
    await rig.sender.gateway.submit(Outgoing(999, NUMBER, text, 2))
    got = await rig.received(1)
    assert [(g.text, g.parts) for g in got] == [(text, 5)]


async def test_an_inbound_4_becomes_the_rating_of_the_most_recent_open_transaction(
        rig: Rig) -> None:
    old = await add(rig.store, "T-old", ago=timedelta(days=2), status="unreachable")
    mid = await add(rig.store, "T-mid", ago=timedelta(days=1), status="unreachable")
    new = await add(rig.store, "T-new", ago=timedelta(hours=3), status="completed")
    await rig.mo(NUMBER, "4")
    assert await rig.wait_for("the rating", lambda: answers(rig.store, mid))
    assert await answers(rig.store, mid) == {"rating": "4"}
    assert await answers(rig.store, old) == {} and await answers(rig.store, new) == {}
    await rig.mo(NUMBER, "۱")  # Urdu digit one: the bribe question, next in order
    assert await rig.wait_for("the bribe answer",
                              lambda: _has(rig.store, mid, "bribe"))
    assert await answers(rig.store, mid) == {"rating": "4", "bribe": "1"}
    row = await rig.store.transaction("DC Office Lahore", "T-mid")
    assert row is not None and row.status.value == "completed"


async def _has(store: SQLiteStore, tx: int, question: str) -> bool:
    return question in await answers(store, tx)


async def test_free_text_lands_in_the_replies_queue(rig: Rig) -> None:
    tx = await add(rig.store, "F1", status="unreachable")
    words = "دفتر میں کلرک نے پیسے مانگے"
    await rig.mo(NUMBER, words)
    queue = await rig.wait_for("the queue", lambda: rig.sms.replies(uncategorised=True))
    assert [(q["text"], q["transaction_id"]) for q in queue] == [(words, tx)]
    assert await rig.sms.categorise(queue[0]["id"], "complaint", "user:test", datetime.now(UTC))
    assert await rig.sms.replies(uncategorised=True) == []


async def test_stop_puts_the_number_on_the_do_not_call_list_and_nothing_more_goes(
        rig: Rig) -> None:
    first = await add(rig.store, "S1")
    assert await rig.sender.step() == 1
    await rig.received(1)
    await rig.mo(NUMBER, "STOP")
    assert await rig.wait_for("the DNC entry", lambda: rig.store.dnc_list())
    assert [d["number"] for d in await rig.store.dnc_list()] == [NUMBER]
    # A new visit of the same citizen, and a survey for the first: neither goes by SMS ...
    await add(rig.store, "S2", ago=timedelta(minutes=10))
    await rig.store._tx([("UPDATE transactions SET status = 'unreachable' WHERE id = ?",
                          (first,))])
    assert await rig.sender.step() == 0
    await asyncio.sleep(1.0)
    assert len(rig.kannel.received()) == 1  # the fake SMSC's log: only the first notice
    # ... nor by phone: the dialer's claim closes it as opted out instead of dialling.
    claimed = await rig.store.claim_due(datetime.now(UTC) + timedelta(hours=2), 10)
    assert claimed == []
    row = await rig.store.transaction("DC Office Lahore", "S2")
    assert row is not None and row.status.value == "opted_out"


async def test_kannel_killed_mid_campaign_loses_nothing_and_doubles_nothing(rig: Rig) -> None:
    numbers = [f"+9230012345{i:02d}" for i in range(30)]
    for i, n in enumerate(numbers):
        await add(rig.store, f"K{i}", n, language="en")
    task = asyncio.get_running_loop().create_task(rig.sender.run())
    try:
        await rig.received(5)
        await asyncio.to_thread(rig.kannel.kill_bearerbox)
        at_kill = len(rig.kannel.received())
        await asyncio.sleep(2.0)  # the sender finds the gateway down; messages wait
        assert not rig.sender.gateway_up
        await asyncio.to_thread(rig.kannel.start)
        got = await rig.received(len(numbers), timeout=60)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    per_number = Counter(g.to for g in got)
    assert at_kill < len(numbers)
    assert sorted(per_number) == sorted(n.lstrip("+") for n in numbers)  # none lost
    assert set(per_number.values()) == {1}  # none doubled

"""Benchmark: SMS per second through a real Kannel to the fake SMSC, Rabta's sender ÷ a plain
HTTP client, in the same run.

Starts bearerbox, smsbox and fakesmsc (tests/kannel.py) on free loopback ports. Baseline: a
plain aiohttp client sends N messages to sendsms, one request at a time, as fast as Kannel
answers. Rabta: N transactions are queued for their notice and the engine's SMS sender
(ivr.sms.sender, SQLite store, state written before and after each hand-over, no pacing
limit) sends them. Each side is timed from its first request until the fake SMSC has logged
all its messages. Prints messages/s of each and the ratio.

    python bench/sms_kannel.py --messages 500
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from aiohttp import web  # noqa: E402
from kannel import PASSWORD, USER, Kannel, free_port  # noqa: E402

from ivr.config import Settings, load_settings, replace  # noqa: E402
from ivr.models import Transaction  # noqa: E402
from ivr.sms.gateway import KannelGateway, Outgoing  # noqa: E402
from ivr.sms.sender import SmsSender  # noqa: E402
from ivr.store import SQLiteStore, open_store  # noqa: E402
from ivr.web.app import create_app  # noqa: E402

SECRET = "benchSecret0123456789"


async def wait_count(kannel: Kannel, count: int, timeout: float = 300.0) -> float:
    deadline = time.monotonic() + timeout
    while len(kannel.received()) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"the fake SMSC got {len(kannel.received())} of {count}")
        await asyncio.sleep(0.05)
    return time.monotonic()


async def baseline(kannel: Kannel, n: int, dlr_url: str) -> float:
    # The same request Rabta's gateway makes (text, coding, delivery report URL), no store.
    gw = KannelGateway(kannel.sendsms_url, USER, PASSWORD, "8080", dlr_url)
    text = "The Chief Minister's office will call you soon about your visit to DC Office."
    async with aiohttp.ClientSession() as http:
        t0 = time.monotonic()
        for i in range(n):
            params = gw.params(Outgoing(10**9 + i, f"+92300{i:07d}", text, 0))  # unknown ids
            q = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
            async with http.get(f"{kannel.sendsms_url}?{q}") as r:
                await r.read()
                assert r.status == 202, r.status
        t1 = await wait_count(kannel, n)
    return n / (t1 - t0)


async def rabta(kannel: Kannel, n: int, settings: Settings, store: SQLiteStore,
                already: int) -> float:
    now = datetime.now(UTC)
    txs = [Transaction(office="DC Office", ref=f"b{i}", name="", mobile=f"+92301{i:07d}",
                       service="domicile", district="Lahore", official="",
                       visited_at=now - timedelta(hours=1), language="en") for i in range(n)]
    await store.add_transactions(txs, now, not_before=lambda t: now + timedelta(minutes=30))
    sender = SmsSender.from_settings(store, settings)
    assert sender is not None
    try:
        t0 = time.monotonic()
        while sender.handed_over < n:
            await sender.step()
        t1 = await wait_count(kannel, already + n)
    finally:
        await sender.close()
    return n / (t1 - t0)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=500)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="rabta-sms-bench-") as tmp:
        home = Path(tmp)
        port = free_port()
        settings = load_settings(env={}, overrides={
            "home": str(home), "calling_window": "00:00-24:00", "sms_username": USER,
            "sms_password": PASSWORD, "sms_secret": SECRET, "sms_per_second": 1e9,
            "sms_callback_url": f"http://127.0.0.1:{port}", "sms_notice_lead": 3600.0})
        kannel = Kannel(home / "kannel", inbound_url="http://127.0.0.1:9/none")
        settings = replace(settings, sms_url=kannel.sendsms_url)
        store = await open_store(home / "bench.db")
        # Rabta's web takes the delivery reports of both runs (the baseline's ids are unknown
        # to it: 404), so Kannel does the same work for each.
        runner = web.AppRunner(create_app(settings, store), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await asyncio.to_thread(kannel.start)
        try:
            base = await baseline(kannel, args.messages,
                                  f"http://127.0.0.1:{port}/sms/kannel/dlr?secret={SECRET}"
                                  f"&id={{id}}&status=%d&answer=%A")
            ours = await rabta(kannel, args.messages, settings, store, args.messages)
        finally:
            await asyncio.to_thread(kannel.stop)
            await runner.cleanup()
            await store.close()
    print(f"messages: {args.messages} each")
    print(f"plain HTTP client -> Kannel -> fake SMSC: {base:.1f} msg/s")
    print(f"Rabta sender      -> Kannel -> fake SMSC: {ours:.1f} msg/s")
    print(f"ratio Rabta / plain client: {ours / base:.2f}")


if __name__ == "__main__":
    asyncio.run(main())

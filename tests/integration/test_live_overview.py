"""The live overview's event stream, watched over real HTTP while a real call completes.

A citizen of the carrier simulator answers the survey; an official signed in to `rabta serve`'s
web app holds /api/v1/overview/stream open, and sees the completed count go from 0 to 1 without
asking again.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import aiohttp
from aiohttp import web
from support import SURVEY_ANSWERS, SURVEY_KEYS, Citizen, install_phonebook, transactions_for

from ivr.accounts import Role, hash_password
from ivr.config import Settings
from ivr.engine import Engine
from ivr.store import SQLiteStore
from ivr.web.app import create_app
from ivr.web.common import utcnow

PASSWORD = "overview test password"


async def _sign_in(http: aiohttp.ClientSession, base: str) -> None:
    async with http.get(f"{base}/login") as resp:
        token = re.search(r'name="csrf_token" value="([^"]+)"', await resp.text())
    assert token is not None
    async with http.post(f"{base}/login", data={"csrf_token": token.group(1),
                                                 "username": "watcher", "password": PASSWORD},
                         allow_redirects=False) as resp:
        assert resp.status == 303, await resp.text()


async def _events(resp: aiohttp.ClientResponse) -> Any:
    """Yield each overview event's data as it arrives."""
    event = ""
    while True:
        line = (await resp.content.readline()).decode()
        if not line:
            return
        if line.startswith("event: "):
            event = line[7:].strip()
        elif line.startswith("data: ") and event == "overview":
            yield json.loads(line[6:])


async def test_overview_stream_counts_a_real_completed_call(node_settings: Settings,
                                                            store: SQLiteStore) -> None:
    citizens = [Citizen("03008890001", "answer", SURVEY_KEYS)]
    install_phonebook(node_settings, citizens)
    txs = transactions_for(citizens, "overview")
    await store.add_transactions(txs, txs[0].visited_at)
    await store.add_user("watcher", hash_password(PASSWORD), Role.OVERSIGHT, (), utcnow())
    engine = Engine(node_settings, store)
    await engine.start()
    runner = web.AppRunner(create_app(node_settings, store, engine))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    seen: list[dict[str, Any]] = []
    dialer: asyncio.Task[None] | None = None
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            await _sign_in(http, base)
            async with http.get(f"{base}/api/v1/overview/stream") as resp:
                assert resp.status == 200
                assert resp.headers["Content-Type"] == "text/event-stream"
                stream = _events(resp)
                first = await asyncio.wait_for(anext(stream), 10)
                seen.append(first)
                assert (first["calls"], first["completed"]) == (0, 0)
                # the call starts only now, while the stream is open
                dialer = asyncio.create_task(engine.dialer.run(until_idle=True))

                async def until_completed() -> None:
                    async for figures in stream:
                        seen.append(figures)
                        if figures["completed"] >= 1:
                            return

                await asyncio.wait_for(until_completed(), 120)
            await asyncio.wait_for(dialer, 120)
            async with http.get(f"{base}/api/v1/overview") as resp:
                final = await resp.json()
    finally:
        if dialer is not None and not dialer.done():
            dialer.cancel()
        await runner.cleanup()
        await engine.close()
    last = seen[-1]
    assert (last["calls"], last["answered"], last["completed"]) == (1, 1, 1)
    assert any(s["calls"] == 1 and s["completed"] == 0 for s in seen), seen  # on the line
    assert last["satisfaction"]["n"] == 1 and last["satisfaction"]["suppressed"]  # 1 < 10
    assert final["completed"] == 1
    assert await store.answers_for_attempt(1) == SURVEY_ANSWERS

"""The /metrics and /healthz endpoints of `rabta serve`, read after real calls."""

from __future__ import annotations

import aiohttp
from aiohttp import web
from support import Citizen, install_phonebook, transactions_for

from ivr.config import Settings
from ivr.engine import Engine
from ivr.store import SQLiteStore
from ivr.web.app import create_app


async def test_metrics_count_real_calls(node_settings: Settings, store: SQLiteStore) -> None:
    citizens = [Citizen("03008880001", "answer", "s1s5s2"), Citizen("03008880002", "busy")]
    install_phonebook(node_settings, citizens)
    txs = transactions_for(citizens, "metrics")
    await store.add_transactions(txs, txs[0].visited_at)
    engine = Engine(node_settings, store)
    await engine.start()
    runner = web.AppRunner(create_app(node_settings, store, engine))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        await engine.dialer.run(until_idle=True)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                assert resp.status == 200
                text = await resp.text()
            async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                health = (resp.status, await resp.json())
    finally:
        await runner.cleanup()
        await engine.close()
    lines = set(text.splitlines())
    assert 'rabta_transactions{status="completed"} 1.0' in lines
    assert 'rabta_transactions{status="unreachable"} 1.0' in lines
    assert 'rabta_attempts_today{outcome="busy"} 3.0' in lines
    assert 'rabta_attempts_today{outcome="answered"} 1.0' in lines
    assert f'rabta_ami_connected{{node="{engine.ami.name}"}} 1.0' in lines
    trunk = node_settings.trunk  # no trunks configured: the one trunk, at the dialer's limits
    assert f'rabta_trunk_channels{{trunk="{trunk}"}} {float(node_settings.max_concurrent)}' in lines
    assert f'rabta_trunk_attempts_today{{trunk="{trunk}"}} 4.0' in lines
    assert f'rabta_trunk_calls_in_flight{{trunk="{trunk}"}} 0.0' in lines
    assert health == (200, {"ok": True, "ami_connected": True,
                            "nodes": {engine.ami.name: True}})

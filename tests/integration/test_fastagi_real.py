"""Protocol tier against the real PBX: our FastAGI server keeps serving real calls while broken,
slow and hostile clients hit the same port (the panoramisk failure: one bad connection froze
the whole event loop)."""

from __future__ import annotations

import asyncio

from support import Citizen, install_phonebook, transactions_for

from ivr.config import Settings
from ivr.engine import Engine
from ivr.store import SQLiteStore

HEADER = b"agi_network: yes\nagi_network_script: survey\nagi_request: agi://127.0.0.1/survey\n"


async def _connect_close(port: int) -> None:
    _, w = await asyncio.open_connection("127.0.0.1", port)
    w.close()
    await w.wait_closed()


async def _garbage(port: int) -> bytes:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\x00\xff\xfe garbage\n\n")
    await w.drain()
    data = await asyncio.wait_for(r.read(), 10)  # the server must close on us
    w.close()
    return data


async def _stall_mid_header(port: int) -> bytes:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(HEADER)  # ... and never the blank line that ends the headers
    await w.drain()
    data = await asyncio.wait_for(r.read(), 15)  # closed after the header timeout
    w.close()
    return data


async def _oversized(port: int) -> bytes:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    try:
        w.write(b"agi_x: " + b"A" * 70000 + b"\n")
        await w.drain()
    except ConnectionError:
        return b""
    data = await asyncio.wait_for(r.read(), 10)
    w.close()
    return data


async def _bad_attempt_id(port: int) -> bytes:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(HEADER + b"agi_arg_1: ; DROP TABLE answers\n\n")
    await w.drain()
    data = await asyncio.wait_for(r.read(), 10)
    w.close()
    return data


async def test_real_calls_complete_while_bad_clients_hit_the_port(
        node_settings: Settings, store: SQLiteStore) -> None:
    citizens = [Citizen(f"0300666{i:04d}", "answer", "s1s4s2") for i in range(3)]
    install_phonebook(node_settings, citizens)
    txs = transactions_for(citizens, "agi")
    await store.add_transactions(txs, txs[0].visited_at)
    engine = Engine(node_settings, store)
    await engine.start()
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.1)
            ticks += 1

    beat = asyncio.create_task(heartbeat())
    try:
        dialer = asyncio.create_task(engine.dialer.run(until_idle=True))
        # Wait until the real calls are in their surveys, then attack.
        async with asyncio.timeout(30):
            while len(engine.calls.sessions) < len(citizens):  # noqa: ASYNC110 - a state poll
                await asyncio.sleep(0.05)
        port = engine.agi.port
        attacks = [_connect_close(port) for _ in range(20)]
        attacks += [_garbage(port) for _ in range(5)]
        attacks += [_stall_mid_header(port) for _ in range(3)]
        attacks += [_oversized(port) for _ in range(2)]
        attacks += [_bad_attempt_id(port)]
        ticks_before = ticks
        outputs = await asyncio.gather(*attacks)
        assert ticks > ticks_before + 10, "the event loop stalled while bad clients connected"
        assert all(o in (None, b"") for o in outputs), outputs  # we never answered garbage
        await asyncio.wait_for(dialer, 120)
    finally:
        beat.cancel()
        await engine.close()
    results = {r["ref"]: r for r in await store.results()}
    assert [results[t.ref]["status"] for t in txs] == ["completed"] * len(txs)
    assert all(results[t.ref]["answers"] == {"visit_confirmed": "1", "rating": "4", "bribe": "2"}
               for t in txs)
    stats = engine.agi.stats
    assert stats.dropped >= 20
    assert stats.bad_headers >= 5 + 2
    assert stats.timeouts >= 3
    assert stats.errors >= 1  # the bad attempt id is refused as a protocol error, not a crash

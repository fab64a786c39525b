"""Integration: admission control holds the calls on a real PBX node at its limit, and loses none.

Ten scripted citizens over real SIP and RFC 4733 through the carrier simulator, with
`admission_max_channels=3` and the dialer otherwise free to place 20 at once at 10 calls/s: the
PBX's own channel count (its CLI, sampled while the engine runs) never passes 3, the gate is
seen closed, and every transaction completes with the citizen's own answers (calls held back
stay due and go out later). Run it with RABTA_TEST_ADMISSION_OFF=1 (the limit 0) and it fails:
that is how the guard was checked.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace as dc_replace

from support import SURVEY_ANSWERS, SURVEY_KEYS, Citizen, install_phonebook, transactions_for

from ivr.config import Settings, replace
from ivr.engine import Engine
from ivr.lab import rootfs
from ivr.store import SQLiteStore

LIMIT = 0 if os.environ.get("RABTA_TEST_ADMISSION_OFF") else 3


def _pbx_channels(settings: Settings) -> int:
    out = rootfs.cli(rootfs.node_for(settings).pbx, "core show channels count", timeout=5)
    return int(out.split()[0])


async def test_the_pbx_never_carries_more_than_the_admitted_calls_and_every_one_completes(
        node_settings: Settings, store: SQLiteStore) -> None:
    citizens = [Citizen(f"0300556{7100 + i}", "answer", SURVEY_KEYS) for i in range(10)]
    install_phonebook(node_settings, citizens)
    txs = [dc_replace(tx, service="police") for tx in transactions_for(citizens, "admit")]
    assert await store.add_transactions(txs, txs[0].visited_at) == (len(txs), 0)
    settings = replace(node_settings, admission_max_channels=LIMIT, max_concurrent=20,
                       calls_per_second=10.0, admission_min_closed_s=0.0)
    engine = Engine(settings, store)
    await engine.start()
    pbx_peak, engine_peak, closed_seen = 0, 0, False
    run = asyncio.create_task(engine.dialer.run(until_idle=True))
    try:
        async with asyncio.timeout(300):
            while not run.done():
                pbx_peak = max(pbx_peak, await asyncio.to_thread(_pbx_channels, settings))
                engine_peak = max(engine_peak, engine.calls.in_flight)
                closed_seen |= any(not a.gate.open for a in engine.admission.states().values())
                await asyncio.sleep(0.2)
            await run
    finally:
        await engine.close()
    rows = [r for r in await store.results() if r["ref"].startswith("admit")]
    assert len(rows) == len(citizens)
    assert {r["status"] for r in rows} == {"completed"}, [r["status"] for r in rows]
    assert all(r["answers"] == SURVEY_ANSWERS for r in rows)
    assert engine_peak <= 3 and pbx_peak <= 3, (engine_peak, pbx_peak)
    assert closed_seen  # the limit was really reached and held

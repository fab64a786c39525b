"""Crash safety against the real PBX and carrier simulator, with ~200 transactions in flight.

(a) kill -9 the PBX mid-campaign and start it again: the dialer notices, waits, and resumes by
    itself when AMI comes back.
(b) cut the AMI TCP connection three times while about 100-200 calls are in flight.
(c) kill -9 the engine process mid-call and start it again: it reconciles what it left open.

Each asserts: every transaction reaches a final state; no attempt is dialled twice (the
carrier's CDRs count what it really received); no completed survey is called again; no answer
stored before the fault is lost.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from support import (
    Citizen,
    TCPProxy,
    answers_snapshot,
    carrier_cdr_counts,
    install_phonebook,
    transactions_for,
    wait_carrier_idle,
)

from ivr import phone
from ivr.config import Settings, replace
from ivr.engine import Engine
from ivr.lab import rootfs
from ivr.store import SQLiteStore, open_store

FINAL = {"completed", "partial", "unreachable"}
N = 200


def _citizens(prefix: str) -> list[Citizen]:
    # Mostly quick, complete surveys; some busy; ring 1-3 s so originates are in flight.
    out = []
    for i in range(N):
        number = f"0301{prefix}{i:06d}"
        if i % 10 == 9:
            out.append(Citizen(number, "busy"))
        else:
            out.append(Citizen(number, "answer", "s1s1s2", ring_s=str(1 + i % 3)))
    return out


async def _check(settings: Settings, store: SQLiteStore, citizens: list[Citizen],
                 before_cdr: dict[str, int], kept: set[tuple[int, str, str]]) -> None:
    wait_carrier_idle(settings)
    after = carrier_cdr_counts(settings)
    results = {r["ref"]: r for r in await store.results()}
    problems = []
    short = 0  # attempts the carrier never saw
    for i, c in enumerate(citizens):
        digits = phone.digits(phone.normalize(c.number))
        r = next(v for k, v in results.items() if k.endswith(f"-{i:03d}"))
        dialled = after[digits] - before_cdr.get(digits, 0)
        if r["status"] not in FINAL:
            problems.append(f"{c.number}: left {r['status']}")
        # Never more calls than attempts: no attempt is dialled twice. Fewer is possible: an
        # attempt written, and its Originate sent, just as the PBX or the engine was killed
        # never reaches the carrier (it closes as unknown and is retried as a new attempt).
        if dialled > r["attempts"]:
            problems.append(f"{c.number}: carrier saw {dialled} call(s), store {r['attempts']}")
        short += r["attempts"] - dialled
    async with store._db.execute(
            "SELECT transaction_id, COUNT(*) FROM attempts WHERE result = 'completed' "
            "GROUP BY transaction_id HAVING COUNT(*) > 1") as cur:
        repeated = await cur.fetchall()
    if repeated:
        problems.append(f"completed surveys called again: {repeated}")
    lost = kept - await answers_snapshot(store)
    if lost:
        problems.append(f"answers lost: {sorted(lost)[:5]}")
    if short > 10:  # a handful die with the fault; more means attempts that were never sent
        problems.append(f"{short} attempts never reached the carrier")
    assert not problems, "\n".join(problems[:40])
    completed = sum(1 for r in results.values() if r["status"] == "completed")
    assert completed >= N * 0.6, f"only {completed} completed"


async def test_pbx_killed_mid_campaign_and_restarted(node_settings: Settings,
                                                     store: SQLiteStore) -> None:
    citizens = _citizens("1")
    install_phonebook(node_settings, citizens)
    txs = transactions_for(citizens, "killpbx")
    await store.add_transactions(txs, txs[0].visited_at)
    before = carrier_cdr_counts(node_settings)
    settings = replace(node_settings, max_concurrent=N, calls_per_second=25.0)
    engine = Engine(settings, store)
    await engine.start()
    try:
        dialer = asyncio.create_task(engine.dialer.run(until_idle=True))
        async with asyncio.timeout(60):
            while engine.calls.in_flight < 100:  # noqa: ASYNC110 - a state poll
                await asyncio.sleep(0.1)
        pbx = rootfs.node_for(node_settings).pbx
        rootfs.kill(pbx)  # kill -9: no goodbye on AMI, FastAGI sockets just close
        kept = await answers_snapshot(store)
        await asyncio.sleep(3)
        assert not engine.ami.connected
        await asyncio.to_thread(rootfs.start, pbx)
        await asyncio.wait_for(dialer, 420)
    finally:
        await engine.close()
    assert engine.ami.reconnects >= 1
    await _check(node_settings, store, citizens, before, kept)


async def test_ami_cut_three_times_with_200_in_flight(node_settings: Settings,
                                                     store: SQLiteStore) -> None:
    citizens = _citizens("3")
    install_phonebook(node_settings, citizens)
    txs = transactions_for(citizens, "amicut")
    await store.add_transactions(txs, txs[0].visited_at)
    before = carrier_cdr_counts(node_settings)
    proxy = TCPProxy(node_settings.ami_port)
    await proxy.start()
    # The engine reaches AMI only through the proxy, so the test can cut the link.
    settings = replace(node_settings, ami_port=proxy.port, max_concurrent=N,
                       calls_per_second=25.0)
    engine = Engine(settings, store)
    await engine.start()
    cuts, in_flight_at_cut = 0, []
    try:
        dialer = asyncio.create_task(engine.dialer.run(until_idle=True))
        async with asyncio.timeout(60):
            while engine.calls.in_flight < 100:  # noqa: ASYNC110 - a state poll
                await asyncio.sleep(0.1)
        kept = await answers_snapshot(store)
        for _ in range(3):
            in_flight_at_cut.append(engine.calls.in_flight)
            cuts += proxy.cut()
            async with asyncio.timeout(30):  # let it reconnect and dial again, then cut again
                while not engine.ami.connected:  # noqa: ASYNC110 - a state poll
                    await asyncio.sleep(0.1)
            await asyncio.sleep(2.0)
        await asyncio.wait_for(dialer, 420)
    finally:
        await engine.close()
        await proxy.close()
    assert cuts >= 3 and proxy.connections >= 4, (cuts, proxy.connections)
    assert min(in_flight_at_cut) >= 50, in_flight_at_cut
    assert engine.dialer.stats.outcomes.get("unknown", 0) > 0, "no originate was in flight"
    await _check(node_settings, store, citizens, before, kept)


async def test_engine_killed_mid_call_and_restarted(node_settings: Settings,
                                                    tmp_path: Path) -> None:
    citizens = _citizens("2")
    install_phonebook(node_settings, citizens)
    txs = transactions_for(citizens, "killeng")
    db = tmp_path / "engine.db"
    store = await open_store(db)
    await store.add_transactions(txs, txs[0].visited_at)
    await store.close()
    before = carrier_cdr_counts(node_settings)
    env = {**os.environ, "RABTA_HOME": str(node_settings.home), "RABTA_CACHE": str(node_settings.cache),
           "RABTA_DATABASE": str(db), "RABTA_MAX_CONCURRENT": str(N),
           "RABTA_CALLS_PER_SECOND": "25"}
    for key in ("node", "sip_port", "carrier_sip_port", "ami_port", "agi_port", "rtp_start",
                "calling_window", "retry_delay", "ring_timeout", "digit_timeout",
                "callback_delay", "partial_callbacks"):
        env[f"RABTA_{key.upper()}"] = str(getattr(node_settings, key))
    env["RABTA_RETRY_DELAYS"] = ""
    cmd = [sys.executable, "-m", "ivr.cli", "run", "--until-idle", "--no-progress"]

    with (tmp_path / "first.log").open("wb") as log:
        first = await asyncio.create_subprocess_exec(*cmd, env=env,
                                                     stdout=asyncio.subprocess.DEVNULL,
                                                     stderr=log)
    store = await open_store(db)
    try:
        async with asyncio.timeout(90):
            while True:
                async with store._db.execute(
                        "SELECT COUNT(*) FROM answers") as cur:
                    if (await cur.fetchone())[0] >= 40:  # mid-campaign, mid-calls
                        break
                await asyncio.sleep(0.2)
        first.send_signal(signal.SIGKILL)
        await first.wait()
        kept = await answers_snapshot(store)
        with (tmp_path / "second.log").open("wb") as log:
            second = await asyncio.create_subprocess_exec(*cmd, env=env,
                                                          stdout=asyncio.subprocess.DEVNULL,
                                                          stderr=log)
        assert await asyncio.wait_for(second.wait(), 420) == 0
        await _check(node_settings, store, citizens, before, kept)
    finally:
        await store.close()

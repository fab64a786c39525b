"""PostgreSQL restarted mid-campaign under a live dialer (`rabta run`, the real PBX and the
carrier simulator): the worker says so in one clear line, waits, resumes on its own, and
nothing is lost: every transaction ends final, no number is dialled more often than its
attempts (the carrier's CDRs), and every answer stored before the restart is still there.

Its own PostgreSQL server (the session's is shared by other tests); 12 short calls (about
150 s on the shared, busy 2-core machine).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pgcluster import PgCluster
from storehelpers import sql
from support import (
    Citizen,
    carrier_cdr_counts,
    install_phonebook,
    transactions_for,
    wait_carrier_idle,
)

from ivr import phone
from ivr.config import Settings
from ivr.store import open_store

N = 12
FINAL = {"completed", "partial", "unreachable"}


@pytest.fixture
def own_cluster() -> Iterator[PgCluster]:
    cluster = PgCluster().start()  # its own server: this test restarts it
    try:
        yield cluster
    finally:
        cluster.stop()


async def test_a_postgresql_restart_mid_campaign_is_waited_for_and_nothing_is_lost(
        node_settings: Settings, own_cluster: PgCluster, tmp_path: Path) -> None:
    url = own_cluster.create("rabta")
    citizens = [Citizen(f"03018{i:06d}", "busy") if i % 6 == 5
                else Citizen(f"03018{i:06d}", "answer", "s1s1s2", ring_s="1")
                for i in range(N)]
    install_phonebook(node_settings, citizens)
    txs = transactions_for(citizens, "pgrestart")
    store = await open_store(url)
    await store.add_transactions(txs, txs[0].visited_at)
    before = carrier_cdr_counts(node_settings)
    env = {**os.environ, "RABTA_HOME": str(node_settings.home),
           "RABTA_CACHE": str(node_settings.cache), "RABTA_DATABASE_URL": url,
           "RABTA_MAX_CONCURRENT": "4", "RABTA_CALLS_PER_SECOND": "10", "RABTA_WORKER": "w1"}
    for key in ("node", "sip_port", "carrier_sip_port", "ami_port", "agi_port", "rtp_start",
                "calling_window", "retry_delay", "ring_timeout", "digit_timeout",
                "callback_delay", "partial_callbacks"):
        env[f"RABTA_{key.upper()}"] = str(getattr(node_settings, key))
    env["RABTA_RETRY_DELAYS"] = ""
    log_path = tmp_path / "run.log"
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ivr.cli", "run", "--until-idle", "--no-progress", env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=log)
    try:
        async with asyncio.timeout(120):
            while (await sql(store, "SELECT COUNT(*) FROM answers"))[0][0] < 3:  # noqa: ASYNC110
                await asyncio.sleep(0.3)
        kept = set(await sql(store, "SELECT attempt_id, question, value FROM answers"))
        await store.close()  # this test's own pool: closed, not to ride the restart
        await asyncio.to_thread(own_cluster.stop, remove=False)  # calls are in progress
        await asyncio.sleep(3)
        await asyncio.to_thread(own_cluster.restart)
        store = await open_store(url)
        assert await asyncio.wait_for(proc.wait(), 300) == 0, log_path.read_text()[-3000:]
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    try:
        said = log_path.read_text()
        assert "unreachable" in said and "waiting up to" in said, said[-3000:]
        assert "back after" in said, said[-3000:]
        assert "Traceback" not in said, said[-3000:]
        wait_carrier_idle(node_settings)
        after = carrier_cdr_counts(node_settings)
        results = {r["ref"]: r for r in await store.results()}
        problems = []
        for i, c in enumerate(citizens):
            digits = phone.digits(phone.normalize(c.number))
            r = results[f"pgrestart-{i:03d}"]
            if r["status"] not in FINAL:
                problems.append(f"{c.number}: left {r['status']}")
            if after[digits] - before.get(digits, 0) > r["attempts"]:
                problems.append(f"{c.number}: dialled more often than its attempts")
        assert not problems, "\n".join(problems)
        lost = kept - set(await sql(store, "SELECT attempt_id, question, value FROM answers"))
        assert not lost, f"answers lost: {sorted(lost)[:5]}"
        completed = sum(1 for r in results.values() if r["status"] == "completed")
        assert completed >= N // 2, results  # most who answer finish, restart or not
    finally:
        await store.close()

"""PostgreSQL restarted mid-campaign under a live dialer (`rabta run`, the real PBX and the
carrier simulator): the worker says so in one clear line, waits, resumes on its own, and
nothing is lost: every transaction ends final, no number is dialled more often than its
attempts (the carrier's CDRs), and every answer stored before the restart is still there.

Its own PostgreSQL server (the session's is shared by other tests); 12 short calls, the
shortest bundled survey (`followup`: an intro, one question, thanks).

The first run of this test found a gap, since fixed (ivr/store/postgres.py): right after the
restart one answer's write met asyncpg's `InternalClientError: cannot switch to state 12;
another operation is in progress` on a pooled connection, which was not taken for a broken
connection, so the survey stopped with a traceback and the call ended partial.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from pgcluster import PgCluster
from storehelpers import sql
from support import (
    Citizen,
    carrier_cdr_counts,
    install_phonebook,
    start_worker,
    transactions_for,
    wait_carrier_idle,
    worker_env,
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
                else Citizen(f"03018{i:06d}", "answer", "s1") for i in range(N)]
    install_phonebook(node_settings, citizens)
    txs = [dataclasses.replace(t, service="followup")
           for t in transactions_for(citizens, "pgrestart")]
    store = await open_store(url)
    await store.add_transactions(txs, txs[0].visited_at)
    before = carrier_cdr_counts(node_settings)
    env = worker_env(node_settings, url, max_concurrent="4", calls_per_second="10")
    proc = await start_worker(env, "w1", tmp_path)
    log_path = tmp_path / "w1.log"
    try:
        async with asyncio.timeout(120):
            while (await sql(store, "SELECT COUNT(*) FROM answers"))[0][0] < 2:  # noqa: ASYNC110
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
            if c.action == "answer" and (r["status"], r["answers"]) != ("completed",
                                                                         {"resolved": "1"}):
                # the restart only delays a step: every survey still finishes, answer and all
                problems.append(f"{c.number}: {r['status']} with answers {r['answers']}")
        assert not problems, "\n".join(problems)
        lost = kept - set(await sql(store, "SELECT attempt_id, question, value FROM answers"))
        assert not lost, f"answers lost: {sorted(lost)[:5]}"
    finally:
        await store.close()

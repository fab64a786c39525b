"""A country's cluster under faults: three engine workers (separate `rabta run` processes) on
one PostgreSQL, two PBX nodes (each with its carrier simulator) and over 300 calls; one worker
is killed -9 and one PBX is killed mid-run.

How the work moves. Each worker dials through every node whose AMI is up (a claim is for one
node), and all the nodes send their survey sessions to one FastAGI port that the three workers
share (SO_REUSEPORT). A worker killed -9 leaves its claims leased: the others take them over
once the lease (6 s here) runs out, settling each as their own reconcile would (still on the
line: followed to its hangup; answered: partial and called back; not answered: retried). A
PBX killed takes its calls in flight with it (answered ones: their sessions see the line drop
and end partial, called back; ringing ones: closed as unknown once the node has been gone 20 s,
and retried); the workers skip a node whose AMI is down, so every new attempt, retries and
call-backs included, goes out through the surviving node.

Asserts, from the carrier simulators' CDRs and the database: every transaction ends final; no
number is dialled more often than its attempts; no completed survey is called again; no
answer stored before either kill is lost, and every completed survey holds its answer.

Calls are the shortest bundled survey (`followup`: an intro, one question, thanks; about 16 s a
call) so the run stays lean: 270 citizens who answer and 15 whose line is busy (dialled three
times each), 315 calls or more.
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
from collections import Counter
from pathlib import Path

from storehelpers import sql
from support import (
    SLOT,
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
from ivr.lab import rootfs
from ivr.store import open_store

ANSWERING, BUSY = 270, 15
FINAL = {"completed", "partial", "unreachable"}


async def _count(store: object, statement: str) -> int:
    return int((await sql(store, statement))[0][0])  # type: ignore[arg-type]


async def test_three_workers_two_nodes_one_of_each_killed_lose_nothing(
        node_settings: Settings, second_node: Settings, pg_url: str, tmp_path: Path) -> None:
    citizens = [Citizen(f"0306{SLOT}{i:06d}", "busy") if i % 19 == 18
                else Citizen(f"0306{SLOT}{i:06d}", "answer", "s1")
                for i in range(ANSWERING + BUSY)]
    assert sum(c.action == "busy" for c in citizens) == BUSY
    nodes = (node_settings, second_node)
    for s in nodes:
        install_phonebook(s, citizens)
    txs = [dataclasses.replace(t, service="followup")
           for t in transactions_for(citizens, "cluster")]
    store = await open_store(pg_url)
    await store.add_transactions(txs, txs[0].visited_at)
    before = [carrier_cdr_counts(s) for s in nodes]
    a, b = (f"{s.node}-pbx" for s in nodes)
    # 20 calls per node per worker; the one trunk (the same name on both nodes) has
    # 20 x 2 = 40 channels and 8 calls a second, shared by the three workers in the database.
    env = worker_env(node_settings, pg_url, max_concurrent="20", calls_per_second="8",
                     agi_reuse_port="true", worker_lease="6", nodes=",".join(
                         f"{s.node}-pbx@127.0.0.1:{s.ami_port}" for s in nodes))
    procs = {w: await start_worker(env, w, tmp_path) for w in ("w1", "w2", "w3")}
    answers = "SELECT attempt_id, question, value FROM answers"
    try:
        async with asyncio.timeout(180):
            while await _count(store, "SELECT COUNT(*) FROM answers") < 40:  # noqa: ASYNC110
                await asyncio.sleep(0.5)
        procs["w1"].send_signal(signal.SIGKILL)  # w1 dies with calls on both nodes
        await procs["w1"].wait()
        kept = set(await sql(store, answers))
        orphans = {r[0] for r in await sql(
            store, "SELECT id FROM attempts WHERE worker = 'w1' AND ended_at IS NULL")}

        async with asyncio.timeout(180):
            while await _count(store, "SELECT COUNT(*) FROM answers") < 110:  # noqa: ASYNC110
                await asyncio.sleep(0.5)
        await asyncio.to_thread(rootfs.kill, rootfs.node_for(second_node).pbx)  # PBX b dies
        kept |= set(await sql(store, answers))
        b_died_after = await _count(store, "SELECT COALESCE(MAX(id), 0) FROM attempts")

        for w in ("w2", "w3"):
            code = await asyncio.wait_for(procs[w].wait(), 600)
            assert code == 0, (tmp_path / f"{w}.log").read_text()[-3000:]
    finally:
        for p in procs.values():
            if p.returncode is None:
                p.kill()
                await p.wait()
    try:
        for s in nodes:
            await asyncio.to_thread(wait_carrier_idle, s)  # its CDRs are then complete
        after = [carrier_cdr_counts(s) for s in nodes]
        dialled = Counter({d: sum(x[d] - y.get(d, 0) for x, y in zip(after, before, strict=True))
                           for d in {phone.digits(phone.normalize(c.number)) for c in citizens}})
        assert sum(dialled.values()) >= 300, f"only {sum(dialled.values())} calls"
        results = {r["ref"]: r for r in await store.results()}
        problems = []
        for i, c in enumerate(citizens):
            r = results[f"cluster-{i:03d}"]
            calls = dialled[phone.digits(phone.normalize(c.number))]
            if r["status"] not in FINAL:
                problems.append(f"{c.number}: left {r['status']}")
            if calls > r["attempts"]:
                problems.append(f"{c.number}: dialled {calls} times in {r['attempts']} attempts")
            if r["status"] == "completed" and r["answers"] != {"resolved": "1"}:
                problems.append(f"{c.number}: completed with answers {r['answers']}")
        assert not problems, "\n".join(problems[:30])
        again = await sql(store, "SELECT a.transaction_id FROM attempts a JOIN attempts c "
                                 "ON c.transaction_id = a.transaction_id AND c.result = "
                                 "'completed' AND a.id > c.id")
        assert not again, f"completed surveys called again: {again[:10]}"
        lost = kept - set(await sql(store, answers))
        assert not lost, f"answers lost: {sorted(lost)[:5]}"
        assert await _count(store, "SELECT COUNT(*) FROM attempts WHERE ended_at IS NULL") == 0
        left = await sql(store, "SELECT id FROM attempts WHERE ended_at IS NULL AND id IN "
                                f"({','.join(map(str, orphans)) or 0})")
        assert not left, f"the killed worker's calls never settled: {left}"
        # Physically impossible otherwise; says the node's death was noticed for what it is.
        assert await _count(store, f"SELECT COUNT(*) FROM attempts WHERE node = '{b}' AND id > "
                                   f"{b_died_after} AND answered_at IS NOT NULL") == 0
        assert await _count(store, f"SELECT COUNT(*) FROM attempts WHERE node = '{a}' "
                                   f"AND id > {b_died_after}") > 0
        completed = sum(r["status"] == "completed" for r in results.values())
        assert completed >= ANSWERING // 2, Counter(r["status"] for r in results.values())
    finally:
        await store.close()

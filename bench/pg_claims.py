"""Benchmark, PostgreSQL: (1) the claim's latency with many pending transactions against the
same claim with 10,000 pending (same run); (2) claimed attempts per second with 1, 2 and 3
engine workers (separate processes) sharing the database, each settling its calls at once
(a stub for an AMI that answers immediately: claim, answered, finished), as a ratio against
one worker.

    python bench/pg_claims.py --rows 300000 --batch 50 --calls 3000
    nice -n 10 python bench/pg_claims.py --rows 10000000 --lock /tmp/rabta-integration.lock

PostgreSQL is a throw-away cluster this script starts (tests/pgcluster.py, fsync off,
bench/pggen.py's settings) on the same machine as the workers. The pending rows of the claim
latency are made inside it (bench/pggen.py: INSERT ... SELECT FROM generate_series, the rows
`Store.add_transactions` would write), plus 10,000 numbers on the do-not-call list; the
workers' rows go through `add_transactions`. --lock: the file to flock while measuring (not
while generating); run the whole script niced, it measures at normal priority.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

import pggen  # noqa: E402
from pgcluster import PgCluster  # noqa: E402

from ivr.models import Transaction, TxStatus  # noqa: E402
from ivr.store import Store, open_store  # noqa: E402

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
assert datetime.fromisoformat(pggen.PENDING_VISITED) == NOW - timedelta(hours=3)
assert datetime.fromisoformat(pggen.PENDING_STAMP) == NOW - timedelta(minutes=1)


async def fill(store: Store, rows: int) -> None:
    visited = NOW - timedelta(hours=3)
    for start in range(0, rows, 5000):
        await store.add_transactions([  # the rows pggen.pending_data makes in bulk
            Transaction(**pggen.pending_row(i), visited_at=visited)
            for i in range(start, min(rows, start + 5000))], NOW - timedelta(minutes=1))
    await store.dnc_add([f"+92311{i:07d}" for i in range(10000)], "import", NOW)
    async with store.db.write() as tx:
        await tx.execute("ANALYZE transactions")


async def generated(url: str, rows: int) -> float:
    """Make `rows` pending transactions (and the do-not-call list) in PostgreSQL: seconds."""
    store = await open_store(url)  # migrated
    try:
        seconds = await pggen.pending_data(url, rows)
        await store.dnc_add([f"+92311{i:07d}" for i in range(10000)], "import", NOW)
        return seconds
    finally:
        await store.close()


async def claim_times(url: str, batch: int, rounds: int) -> list[float]:
    store = await open_store(url)
    try:
        times = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            got = await store.claim_due(NOW, batch, expire_before=NOW - timedelta(days=3),
                                        cooldown_since=NOW - timedelta(days=30))
            times.append(time.perf_counter() - t0)
            assert len(got) == batch
        return times
    finally:
        await store.close()


def worker(url: str, name: str, batch: int, out: multiprocessing.Queue[int]) -> None:
    async def run() -> int:
        store = await open_store(url)
        done = 0
        try:
            while True:
                got = await store.claim_due(NOW, batch, worker=name,
                                            lease_until=NOW + timedelta(minutes=1))
                if not got:
                    if not await store.next_due_at():
                        return done
                    await asyncio.sleep(0.01)  # others hold what is due now
                    continue
                for a in got:  # the stub AMI: answered at once, survey done at once
                    await store.attempt_answered(a.id, NOW)
                    await store.finish_call(a.id, TxStatus.COMPLETED, NOW)
                done += len(got)
        finally:
            await store.close()
    out.put(asyncio.run(run()))


def throughput(cluster: PgCluster, workers: int, calls: int, batch: int) -> float:
    url = cluster.create(f"w{workers}")

    async def prepare() -> None:
        s = await open_store(url)
        await fill(s, calls)
        await s.close()
    asyncio.run(prepare())
    q: multiprocessing.Queue[int] = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=worker, args=(url, f"w{i}", batch, q))
             for i in range(workers)]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    total = sum(q.get() for _ in procs)
    elapsed = time.perf_counter() - t0
    for p in procs:
        p.join()
    assert total == calls, (total, calls)
    return calls / elapsed


def main(rows: int, batch: int, rounds: int, calls: int, lock: str | None) -> None:
    cluster = PgCluster().start(pggen.BENCH_SETTINGS)
    try:
        urls = {}
        for label, n in (("small", 10_000), ("large", rows)):
            urls[label] = cluster.create(label)
            seconds = asyncio.run(generated(urls[label], n))
            size = asyncio.run(pggen.size_gb(urls[label]))
            print(f"{n:,} pending made in {seconds:.0f} s, database {size:.1f} GB", flush=True)
        with pggen.measuring(lock, cluster.proc.pid if cluster.proc else None):
            base = asyncio.run(claim_times(urls["small"], batch, rounds))
            large = asyncio.run(claim_times(urls["large"], batch, rounds))
        b, lg = statistics.median(base), statistics.median(large)
        p95 = sorted(large)[int(0.95 * (len(large) - 1))]
        print(f"claim of {batch}, 10,000 pending: median {b * 1000:.2f} ms")
        print(f"claim of {batch}, {rows:,} pending: median {lg * 1000:.2f} ms, "
              f"p95 {p95 * 1000:.2f} ms; ratio {lg / b:.2f}", flush=True)
        one = 0.0
        for n in (1, 2, 3):
            with pggen.measuring(lock, cluster.proc.pid if cluster.proc else None):
                rate = throughput(cluster, n, calls, 10)
            one = one or rate
            print(f"{n} worker(s): {rate:,.0f} claimed+settled attempts/s; ratio {rate / one:.2f}",
                  flush=True)
    finally:
        cluster.stop()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=300_000)
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--calls", type=int, default=3000)
    p.add_argument("--lock", help="a file to flock while measuring (not while generating)")
    a = p.parse_args()
    main(a.rows, a.batch, a.rounds, a.calls, a.lock)

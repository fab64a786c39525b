"""Benchmark: how long the dialer's claim of the next batch takes with 1,000,000 pending
transactions in SQLite, as a ratio against the same claim with 1,000 pending (same run).

    python bench/claim_latency.py --rows 1000000 --batch 50

The claim is the whole dial-time transaction: pick due rows, check do-not-call, age and
cooldown for each, flip them to dialing and write their attempt rows.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ivr.models import Transaction
from ivr.store import SQLiteStore, open_store

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


async def fill(store: SQLiteStore, rows: int) -> float:
    visited = NOW - timedelta(hours=3)
    t0 = time.perf_counter()
    chunk = 20000
    for start in range(0, rows, chunk):
        await store.add_transactions([
            Transaction(office=f"office-{i % 900}", ref=f"r{i}", name="",
                        mobile=f"+92300{i:07d}", service=("police", "health", "pension")[i % 3],
                        district=f"d{i % 36}", official=f"o{i % 5000}", visited_at=visited,
                        language="ur")
            for i in range(start, min(rows, start + chunk))], NOW - timedelta(minutes=1))
    return time.perf_counter() - t0


async def claim_times(store: SQLiteStore, batch: int, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        claimed = await store.claim_due(NOW, batch, expire_before=NOW - timedelta(days=3),
                                        cooldown_since=NOW - timedelta(days=30))
        times.append(time.perf_counter() - t0)
        assert len(claimed) == batch
    return times


async def main(rows: int, batch: int, rounds: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="rabta-claim-"))
    small = await open_store(tmp / "small.db")
    await fill(small, 5000)
    await store_dnc(small)
    base = await claim_times(small, batch, rounds)
    await small.close()
    big = await open_store(tmp / "big.db")
    fill_s = await fill(big, rows)
    await store_dnc(big)
    large = await claim_times(big, batch, rounds)
    await big.close()
    b, lg = statistics.median(base), statistics.median(large)
    p95 = sorted(large)[int(0.95 * (len(large) - 1))]
    print(f"filled {rows:,} pending transactions in {fill_s:.1f} s ({rows / fill_s:,.0f} rows/s)")
    print(f"claim of {batch} with 5,000 pending: median {b * 1000:.2f} ms")
    print(f"claim of {batch} with {rows:,} pending: median {lg * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms")
    print(f"ratio (large / 5k, same run): {lg / b:.2f}")


async def store_dnc(store: SQLiteStore) -> None:
    await store.dnc_add([f"+92311{i:07d}" for i in range(10000)], "import", NOW)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--rounds", type=int, default=30)
    a = p.parse_args()
    asyncio.run(main(a.rows, a.batch, a.rounds))

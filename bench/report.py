"""Benchmark: `rabta report --by district` as it reads now (counts in SQL + the trigger-kept
sums, ivr.services.results.report) against the way it read before, in the same run: every
transaction loaded into Python with its answers (store.results()) and tallied row by row.

    python bench/report.py --transactions 200000 --rounds 3

The data is bench/results_pages.py's: one answered attempt and two answers per transaction,
90 days, 36 districts. Reported: wall time (median of the rounds) and peak Python memory
(tracemalloc) of each way, and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from results_pages import fill

from ivr.services.results import report
from ivr.store import SQLiteStore, open_store


async def before(store: SQLiteStore) -> Any:
    """The old road: every transaction in memory, then a tally per district."""
    groups: dict[str, list[int]] = {}
    for r in await store.results():
        g = groups.setdefault(r["district"], [0, 0, 0, 0])
        g[0] += 1
        rating = r["answers"].get("rating", "")
        if rating in ("1", "2", "3", "4", "5"):
            g[1] += 1
            g[2] += int(rating)
        g[3] += r["answers"].get("bribe") == "1"
    return groups


async def now(store: SQLiteStore) -> Any:
    return await report(store, "district", 10)


async def measure(fn: Callable[[SQLiteStore], Awaitable[Any]], store: SQLiteStore,
                  rounds: int) -> tuple[float, float]:
    """Return (median seconds, peak MiB) of fn over the rounds."""
    times, peaks = [], []
    for _ in range(rounds):
        tracemalloc.start()
        t0 = time.perf_counter()
        await fn(store)
        times.append(time.perf_counter() - t0)
        peaks.append(tracemalloc.get_traced_memory()[1] / 2**20)
        tracemalloc.stop()
    return statistics.median(times), max(peaks)


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--transactions", type=int, default=200_000)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        await (await open_store(path)).close()  # migrated
        took = fill(path, args.transactions)
        store = await open_store(path)
        try:
            await store.rebuild_results()
            print(f"{args.transactions} transactions written in {took:.0f} s")
            old_s, old_mb = await measure(before, store, args.rounds)
            new_s, new_mb = await measure(now, store, args.rounds)
        finally:
            await store.close()
    print("| way | median s | peak MiB |")
    print("|---|---|---|")
    print(f"| before: every transaction loaded, tallied in Python | {old_s:.2f} | {old_mb:.1f} |")
    print(f"| now: counts in SQL + per-day sums | {new_s:.2f} | {new_mb:.2f} |")
    print(f"ratio now/before: time {new_s / old_s:.3f}, memory {new_mb / old_mb:.4f}")


if __name__ == "__main__":
    asyncio.run(main())

"""Benchmark: the names an account's scope is checked against (districts, services, offices
the transactions name), read by the store's loose index scan, against SELECT DISTINCT over the
same table in the same run; and what migration 0075's two indexes (transactions.district,
.service) cost intake, against the same intake with them dropped.

    python bench/known_scope.py --transactions 300000 --rounds 5

SQLite, a temp file. Transactions come in batches of 1,000 through the store's own intake
(`add_transactions`), 36 districts x 25 services x 3 offices, unique refs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ivr.models import Transaction
from ivr.store import open_store

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DISTRICTS = [f"District {i:02d}" for i in range(36)]
SERVICES = [f"Service {i:02d}" for i in range(25)]


def _batch(start: int, size: int) -> list[Transaction]:
    return [Transaction(office=f"Office {DISTRICTS[n % 36]} {n % 3}", ref=f"R{n}", name="",
                        mobile=f"+92300{n % 10_000_000:07d}", service=SERVICES[n % 25],
                        district=DISTRICTS[n % 36], official="", visited_at=NOW)
            for n in range(start, start + size)]


async def _intake(path: Path, total: int, drop_indexes: bool) -> float:
    """Store `total` transactions; return rows per second."""
    async with await open_store(path) as store:
        if drop_indexes:
            async with store.db.write() as tx:
                await tx.execute("DROP INDEX transactions_district")
                await tx.execute("DROP INDEX transactions_service")
        started = time.perf_counter()
        for start in range(0, total, 1000):
            await store.add_transactions(_batch(start, min(1000, total - start)), NOW,
                                         lambda t: NOW)
        return total / (time.perf_counter() - started)


async def _reads(path: Path, rounds: int) -> tuple[float, float]:
    """Return median seconds: the loose index scan (3 kinds), SELECT DISTINCT (3 kinds)."""
    async with await open_store(path) as store:
        loose, distinct = [], []
        for _ in range(rounds):
            t = time.perf_counter()
            names = [await store.known_scope(k) for k in ("district", "service", "office")]
            loose.append(time.perf_counter() - t)
            t = time.perf_counter()
            plain = [sorted((str(r[0]) for r in await store.db.fetch(
                f"SELECT DISTINCT {c} FROM transactions")), key=str.casefold)
                for c in ("district", "service", "office")]
            distinct.append(time.perf_counter() - t)
            assert names == plain, "the two reads disagree"
        return statistics.median(loose), statistics.median(distinct)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        with_idx = await _intake(Path(tmp) / "with.db", args.transactions, False)
        without = await _intake(Path(tmp) / "without.db", args.transactions, True)
        loose, distinct = await _reads(Path(tmp) / "with.db", args.rounds)
    print(f"{args.transactions:,} transactions, SQLite")
    print(f"intake: {with_idx:,.0f} rows/s with the 0075 indexes, {without:,.0f} without "
          f"(ratio {with_idx / without:.2f})")
    print(f"known names (districts, services, offices): loose index scan "
          f"{loose * 1000:.1f} ms, SELECT DISTINCT {distinct * 1000:.1f} ms "
          f"(ratio {loose / distinct:.3f})")


if __name__ == "__main__":
    asyncio.run(main())

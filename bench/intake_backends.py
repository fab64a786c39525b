"""Benchmark: intake through the store's batch insert (what the intake API and `rabta import`
call: Store.add_transactions, idempotent by office and ref, all or none) on SQLite and on
PostgreSQL, each as a ratio against its raw driver's own bulk insert of the same rows in the
same run: sqlite3 executemany, asyncpg COPY.

    python bench/intake_backends.py --rows 50000

PostgreSQL is a throw-away cluster this script starts (tests/pgcluster.py) with fsync off, on
the same machine; the ratio, not the absolute figure, is the result.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import asyncpg  # noqa: E402
from pgcluster import PgCluster  # noqa: E402

from ivr.models import Transaction  # noqa: E402
from ivr.store import open_store  # noqa: E402
from ivr.store.database import ts  # noqa: E402

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
COLS = ("office", "ref", "name", "mobile", "service", "district", "official", "visited_at",
        "language", "next_try_at", "created_at", "updated_at")
BATCH = 1000  # rows per intake request, as an office system would post them


def rows(n: int) -> list[Transaction]:
    visited = NOW - timedelta(hours=3)
    return [Transaction(office=f"office-{i % 900}", ref=f"r{i}", name="Citizen",
                        mobile=f"+92300{i:07d}", service=("police", "health")[i % 2],
                        district=f"d{i % 36}", official=f"o{i % 5000}", visited_at=visited,
                        language="ur") for i in range(n)]


def raw(txs: list[Transaction]) -> list[tuple[object, ...]]:
    s = ts(NOW)
    return [(t.office, t.ref, t.name, t.mobile, t.service, t.district, t.official,
             ts(t.visited_at), t.language, s, s, s) for t in txs]


async def via_store(where: str | Path, txs: list[Transaction]) -> float:
    store = await open_store(where)
    try:
        t0 = time.perf_counter()
        for i in range(0, len(txs), BATCH):
            await store.add_transactions(txs[i:i + BATCH], NOW)
        return time.perf_counter() - t0
    finally:
        await store.close()


def sqlite_raw(path: Path, data: list[tuple[object, ...]]) -> float:
    con = sqlite3.connect(path)
    try:
        t0 = time.perf_counter()
        for i in range(0, len(data), BATCH):
            with con:
                con.executemany(f"INSERT INTO transactions ({', '.join(COLS)}) "
                                f"VALUES ({', '.join('?' * len(COLS))})", data[i:i + BATCH])
        return time.perf_counter() - t0
    finally:
        con.close()


async def pg_raw(url: str, data: list[tuple[object, ...]]) -> float:
    con = await asyncpg.connect(url)
    try:
        t0 = time.perf_counter()
        for i in range(0, len(data), BATCH):
            await con.copy_records_to_table("transactions", columns=list(COLS),
                                            records=data[i:i + BATCH])
        return time.perf_counter() - t0
    finally:
        await con.close()


async def main(n: int) -> None:
    txs = rows(n)
    data = raw(txs)
    tmp = Path(tempfile.mkdtemp(prefix="rabta-intake-"))
    s = await open_store(tmp / "raw.db")
    await s.close()
    lite_raw = sqlite_raw(tmp / "raw.db", data)
    lite = await via_store(tmp / "store.db", txs)
    cluster = PgCluster().start()
    try:
        url_raw, url_store = cluster.create("raw"), cluster.create("store")
        s = await open_store(url_raw)
        await s.close()
        pgr = await pg_raw(url_raw, data)
        pgs = await via_store(url_store, txs)
    finally:
        cluster.stop()
    print(f"{n:,} transactions in batches of {BATCH}")
    for name, store_s, raw_s, how in (("SQLite", lite, lite_raw, "sqlite3 executemany"),
                                      ("PostgreSQL", pgs, pgr, "asyncpg COPY")):
        print(f"{name:<10} store {n / store_s:>9,.0f} rows/s   {how} {n / raw_s:>9,.0f} rows/s"
              f"   ratio {raw_s / store_s:.2f}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=50_000)
    asyncio.run(main(p.parse_args().rows))

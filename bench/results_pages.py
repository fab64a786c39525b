"""Benchmark: the dashboard's results endpoints over 5,000,000 stored answers, p50/p95 latency,
against the same endpoints over 50,000 answers in the same run (in-process aiohttp client).

    python bench/results_pages.py --transactions 2500000 --baseline 25000 --rounds 30
    nice -n 10 python bench/results_pages.py --postgresql --transactions 15432099 \
        --baseline 15432 --lock /tmp/rabta-integration.lock --naive-rounds 1

SQLite: each transaction has one answered attempt and two answers (rating, bribe), visits
spread over 90 days, 36 districts x 3 offices x 5 officials, 10 services; a third of them
sampled at 1/2. The synthetic rows are written straight into SQLite with executemany in big
transactions (the triggers off, then one rebuild of the per-day sums and the overview's day
figures: the same result, much faster), and the store's own code serves every request. Also
measured: one answer write with the triggers (the cost they add to a call), and the
by-district figures read straight from the answers (what the pages would cost without the
per-day sums).

--postgresql: a throw-away PostgreSQL 15 cluster this script starts (tests/pgcluster.py, fsync
off, bench/pggen.py's settings), the rows made inside it by bench/pggen.py (INSERT ... SELECT
FROM generate_series, the same spread; each call answers the default survey: 3.24 answers a
call, so 15,432,099 calls are 50,000,000 answers), the sums counted after the load. --lock:
the file to flock while measuring (not while generating); run the whole script niced, it
measures at normal priority. --via-copy: the SQLite rows moved by `rabta db copy` instead
(COPY, the triggers building the sums as on a live system; slow at size).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # pgcluster
sys.path.insert(0, str(Path(__file__).resolve().parent))  # pggen
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp.test_utils import TestClient, TestServer

from ivr.accounts import Role, hash_password
from ivr.config import Settings
from ivr.store import SQLiteStore, open_store
from ivr.web.app import create_app
from ivr.web.common import CLOCK

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)  # 14:00 in Karachi
DAYS = 90
SERVICES = [f"service-{i}" for i in range(10)]
ENDPOINTS = [
    "/api/v1/results?by=district",
    "/api/v1/results?by=service&from=2026-11-01&to=2026-11-28",
    "/api/v1/results?by=office&district=district-7",
    "/api/v1/results?by=official&district=district-7&office=office-7-1",
    "/api/v1/results?by=day",
    "/api/v1/results?by=week",
    "/api/v1/overview",
    "/results?by=district",
]
_TS = "%Y-%m-%dT%H:%M:%S.%fZ"


def _rows(n: int, seed: int = 7) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...],
                                                  tuple[Any, ...], tuple[Any, ...]]]:
    rnd = random.Random(seed)
    for i in range(1, n + 1):
        district = rnd.randrange(36)
        office = f"office-{district}-{rnd.randrange(3)}"
        visited = NOW - timedelta(minutes=rnd.randrange(DAYS * 24 * 60))
        called = min(NOW - timedelta(minutes=1), visited + timedelta(hours=2))
        stamp = called.strftime(_TS)
        p = 0.5 if i % 3 == 0 else 1.0
        tx = (i, office, f"r{i}", f"+92300{i:07d}", rnd.choice(SERVICES), f"district-{district}",
              f"{office}-official-{rnd.randrange(5)}", visited.strftime(_TS), "completed", 1,
              "answered", stamp, stamp, stamp, p, 1)
        rating = str(rnd.choices("12345", (1, 1, 2, 4, 4))[0])
        bribe = "1" if rnd.random() < 0.12 else "2"
        yield (tx, (i, i, f"+92300{i:07d}", stamp, stamp, stamp, "answered", "completed"),
               (2 * i - 1, i, i, "rating", rating, stamp), (2 * i, i, i, "bribe", bribe, stamp))


def fill(path: Path, n: int) -> float:
    """Write n surveyed transactions (2n answers) into a migrated database; return seconds."""
    t0 = time.perf_counter()
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = OFF")
    kept = ("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
            "AND tbl_name IN ('transactions', 'attempts', 'answers')")
    triggers = list(con.execute(kept))
    for name, _ in triggers:
        con.execute(f"DROP TRIGGER {name}")
    chunk: list[Any] = []

    def flush() -> None:
        con.execute("BEGIN")
        con.executemany(
            "INSERT INTO transactions (id, office, ref, mobile, service, district, official, "
            "visited_at, status, attempts, last_outcome, next_try_at, created_at, updated_at, "
            "selection_probability, sampled) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [c[0] for c in chunk])
        con.executemany(
            "INSERT INTO attempts (id, transaction_id, number, started_at, answered_at, ended_at, "
            "outcome, result) VALUES (?,?,?,?,?,?,?,?)", [c[1] for c in chunk])
        con.executemany(
            "INSERT INTO answers (id, attempt_id, transaction_id, question, value, answered_at) "
            "VALUES (?,?,?,?,?,?)", [a for c in chunk for a in c[2:]])
        con.execute("COMMIT")
        chunk.clear()

    for row in _rows(n):
        chunk.append(row)
        if len(chunk) >= 50_000:
            flush()
    if chunk:
        flush()
    con.execute("BEGIN")
    for _, sql in triggers:
        con.execute(sql)
    con.execute("COMMIT")
    con.close()
    return time.perf_counter() - t0


async def naive_by_district(store: SQLiteStore) -> float:
    """Read the by-district sums straight from the answers (no per-day table): seconds."""
    t0 = time.perf_counter()
    await store.db.fetch(
        "SELECT t.district, COUNT(*), COUNT(*) FILTER (WHERE a.value IN ('4', '5')) "
        "FROM answers a JOIN transactions t ON t.id = a.transaction_id "
        "WHERE a.question = 'rating' GROUP BY t.district")
    return time.perf_counter() - t0


async def answer_write(store: SQLiteStore, rounds: int = 50) -> list[float]:
    """Time one answer written (the triggers update the per-day sums in the same transaction)."""
    last = await store.db.fetchval("SELECT MAX(id) FROM attempts")
    times = []
    for i in range(rounds):
        t0 = time.perf_counter()
        await store.save_answer(last - i, "rating", "3", NOW)
        times.append(time.perf_counter() - t0)
    return times


async def measure(path: Path, rounds: int, url: str | None = None,
                  naive_rounds: int = 3) -> dict[str, Any]:
    store = await open_store(url or path)
    try:
        if url is None:
            await store.rebuild_results()
        # overview_interval tiny: every overview request reads the store (no shared reading)
        settings = Settings(home=path.parent, cache=path.parent, overview_interval=1e-9)
        app = create_app(settings, store)
        app[CLOCK] = lambda: NOW
        await store.add_user("bench", hash_password("bench password"), Role.OVERSIGHT, (), NOW)
        async with TestClient(TestServer(app)) as client:
            page = await client.get("/login")
            token = (await page.text()).split('name="csrf_token" value="')[1].split('"')[0]
            response = await client.post("/login", data={
                "csrf_token": token, "username": "bench", "password": "bench password"},
                allow_redirects=False)
            assert response.status == 303, await response.text()
            out: dict[str, Any] = {}
            for url in ENDPOINTS:
                times = []
                for _ in range(rounds):
                    t0 = time.perf_counter()
                    response = await client.get(url)
                    await response.read()
                    times.append(time.perf_counter() - t0)
                    assert response.status == 200, (url, response.status)
                out[url] = times
        out["naive"] = [await naive_by_district(store) for _ in range(naive_rounds)]
        out["write"] = await answer_write(store)
        out["cells"] = await store.db.fetchval("SELECT COUNT(*) FROM result_cells")
        out["answers"] = await store.db.fetchval("SELECT COUNT(*) FROM answers")
        return out
    finally:
        await store.close()


def pct(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return 1000 * ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def to_postgresql(path: Path, cluster: Any, label: str) -> str:
    """Copy the filled SQLite store into a fresh PostgreSQL database; return its URL."""
    from ivr.store import open_database
    from ivr.store.copy import copy_store

    url = cluster.create(label)
    src, dst = await open_database(f"sqlite:///{path}"), await open_database(url)
    try:
        t0 = time.perf_counter()
        await copy_store(src, dst)
        print(f"{label}: copied to PostgreSQL in {time.perf_counter() - t0:.0f} s", flush=True)
        async with dst.write() as tx:
            await tx.execute("ANALYZE")
    finally:
        await src.close()
        await dst.close()
    return str(url)


async def generated(cluster: Any, label: str, n: int) -> tuple[str, float]:
    """A database of its own on the cluster with n calls made inside it: (URL, seconds)."""
    import pggen

    url = str(cluster.create(label))
    store = await open_store(url)  # migrated
    await store.close()
    seconds = await pggen.results_data(url, n)
    return url, seconds


async def main(transactions: int, baseline: int, rounds: int, postgresql: bool,
               via_copy: bool, lock: str | None, naive_rounds: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="rabta-results-"))
    figures = {}
    cluster = None
    urls: dict[str, str | None] = {}
    if postgresql:
        import pggen
        from pgcluster import PgCluster
        cluster = PgCluster().start(None if via_copy else pggen.BENCH_SETTINGS)
    try:
        for label, n in (("baseline", baseline), ("big", transactions)):
            path = tmp / f"{label}.db"
            if cluster is not None and not via_copy:
                urls[label], seconds = await generated(cluster, label, n)
                print(f"{label}: {n:,} calls made in PostgreSQL in {seconds:.0f} s, "
                      f"database {await pggen.size_gb(str(urls[label])):.1f} GB", flush=True)
                continue
            store = await open_store(path)
            await store.close()
            seconds = fill(path, n)
            print(f"{label}: {n:,} transactions, {2 * n:,} answers written in {seconds:.0f} s",
                  flush=True)
            url = None
            if cluster is not None:
                store = await open_store(path)
                await store.rebuild_results()  # the SQLite sums first: the copy checks them
                await store.close()
                url = await to_postgresql(path, cluster, label)
            figures[label] = await measure(path, rounds, url, naive_rounds)
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        if urls:
            with pggen.measuring(lock, cluster.proc.pid if cluster and cluster.proc else None):
                for label, url in urls.items():
                    figures[label] = await measure(tmp / f"{label}.db", rounds, url,
                                                   naive_rounds)
    finally:
        tmp.rmdir()
        if cluster is not None:
            cluster.stop()
    small, big = figures["baseline"], figures["big"]
    print(f"\nper-day sums: {small['cells']:,} rows for {small['answers']:,} answers; "
          f"{big['cells']:,} rows for {big['answers']:,} answers\n")
    print(f"| endpoint | p50 ms ({small['answers']:,} answers) | p95 ms | "
          f"p50 ms ({big['answers']:,} answers) | p95 ms | p50 ratio |")
    print("|---|---|---|---|---|---|")
    for url in ENDPOINTS:
        print(f"| `{url}` | {pct(small[url], .5):.1f} | {pct(small[url], .95):.1f} | "
              f"{pct(big[url], .5):.1f} | {pct(big[url], .95):.1f} | "
              f"{pct(big[url], .5) / pct(small[url], .5):.1f} |")
    naive_small, naive_big = statistics.median(small["naive"]), statistics.median(big["naive"])
    print(f"| by district straight from the answers (no sums), median of {naive_rounds} | "
          f"{1000 * naive_small:.0f} | | {1000 * naive_big:.0f} | | {naive_big / naive_small:.0f} |")
    print(f"| one answer written, triggers included | {pct(small['write'], .5):.2f} | "
          f"{pct(small['write'], .95):.2f} | {pct(big['write'], .5):.2f} | "
          f"{pct(big['write'], .95):.2f} | {pct(big['write'], .5) / pct(small['write'], .5):.1f} |")
    worst = max(ENDPOINTS, key=lambda u: pct(big[u], .95))
    print(f"\nslowest p95 at {big['answers']:,} answers: {pct(big[worst], .95):.1f} ms ({worst}); "
          f"every page under 200 ms at p95: {'yes' if pct(big[worst], .95) < 200 else 'no'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", type=int, default=2_500_000)
    parser.add_argument("--baseline", type=int, default=25_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--postgresql", action="store_true",
                        help="serve the pages from PostgreSQL (the rows made there)")
    parser.add_argument("--via-copy", action="store_true",
                        help="with --postgresql: fill SQLite and move the rows by rabta db copy")
    parser.add_argument("--lock", help="a file to flock while measuring (not while generating)")
    parser.add_argument("--naive-rounds", type=int, default=3,
                        help="times to read the sums straight from the answers")
    args = parser.parse_args()
    asyncio.run(main(args.transactions, args.baseline, args.rounds, args.postgresql,
                     args.via_copy, args.lock, args.naive_rounds))

"""Benchmark: the accountability pages over 5,000,000 stored answers, p50/p95 latency, against
the same endpoints over 50,000 answers in the same run (in-process aiohttp client).

    python bench/accountability_pages.py --transactions 2500000 --baseline 25000 --rounds 10

The synthetic store is bench/results_pages.py's (each transaction one answered attempt and two
answers, visits over 90 days, 36 districts x 3 offices x 5 officials), written the same way.
The integrity check reads the transactions of its period (28 days by default: about 780,000
of the 2.5 million) and their attempts; the scorecards read the per-day sums (result_cells).
Also measured: the pure integrity and scorecard computations alone.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from aiohttp.test_utils import TestClient, TestServer
from results_pages import NOW, fill, pct

from ivr.accounts import Role, hash_password
from ivr.config import Settings
from ivr.store import open_store
from ivr.web.app import create_app
from ivr.web.common import CLOCK

ENDPOINTS = [
    "/api/v1/accountability/integrity",
    "/api/v1/accountability/scorecard?by=office&measure=satisfaction",
    "/api/v1/accountability/scorecard?by=official&measure=bribe",
    "/api/v1/accountability/alerts",
    "/api/v1/reports/monthly?month=2026-11",
    "/accountability",
]


async def measure(path: Path, rounds: int) -> dict[str, Any]:
    store = await open_store(path)
    try:
        await store.rebuild_results()
        settings = Settings(home=path.parent, cache=path.parent)
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
                print(f"  {url}: p50 {pct(times, 0.5):.0f} ms, p95 {pct(times, 0.95):.0f} ms",
                      flush=True)
        async with store._db.execute("SELECT COUNT(*) FROM answers") as cur:
            out["answers"] = (await cur.fetchone())[0]  # type: ignore[index]
        return out
    finally:
        await store.close()


async def main(transactions: int, baseline: int, rounds: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="rabta-acct-"))
    figures = {}
    for label, n in (("baseline", baseline), ("big", transactions)):
        path = tmp / f"{label}.db"
        store = await open_store(path)
        await store.close()
        seconds = fill(path, n)
        print(f"{label}: {n:,} transactions, {2 * n:,} answers written in {seconds:.0f} s",
              flush=True)
        figures[label] = await measure(path, rounds)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    tmp.rmdir()
    small, big = figures["baseline"], figures["big"]
    print(f"\n| endpoint | p50 ms ({small['answers']:,} answers) | p95 ms | "
          f"p50 ms ({big['answers']:,} answers) | p95 ms | **p95 ratio** |")
    print("|---|---|---|---|---|---|")
    for url in ENDPOINTS:
        s50, s95, b50, b95 = (pct(small[url], 0.5), pct(small[url], 0.95),
                              pct(big[url], 0.5), pct(big[url], 0.95))
        print(f"| `{url}` | {s50:.1f} | {s95:.1f} | {b50:.1f} | {b95:.1f} | "
              f"**{b95 / s95:.1f}** |")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--transactions", type=int, default=2_500_000)
    ap.add_argument("--baseline", type=int, default=25_000)
    ap.add_argument("--rounds", type=int, default=10)
    a = ap.parse_args()
    asyncio.run(main(a.transactions, a.baseline, a.rounds))

"""Render the dashboard's overview and results pages over made-up answers and screenshot them
with headless Chromium (Debian's `chromium`), for docs/.

    python demo/dashboard_screenshots.py [--out docs]

The pages are served by the real app from a throwaway store; each page's HTML is saved next to
the picture and Chromium photographs the saved file (the overview as first drawn, before its
script connects).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp.test_utils import TestClient, TestServer

from ivr.accounts import Role, hash_password
from ivr.config import Settings
from ivr.models import Transaction, TxStatus
from ivr.store import SQLiteStore, open_store
from ivr.web.app import create_app
from ivr.web.common import CLOCK

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)  # 15:00 in Karachi
# district: (visits, share satisfied, share reporting a bribe)
DISTRICTS = {"Lahore": (420, 0.78, 0.06), "Faisalabad": (260, 0.64, 0.14),
             "Rawalpindi": (230, 0.71, 0.09), "Multan": (180, 0.55, 0.21),
             "Gujranwala": (120, 0.69, 0.11), "Chiniot": (6, 0.5, 0.2),
             "Hafizabad": (7, 0.6, 0.1)}
SERVICES = ["Domicile", "Police", "Health", "Land Revenue", "Pension"]


async def fill(store: SQLiteStore) -> None:
    rnd = random.Random(3)
    txs, answers = [], []
    for district, (n, sat, bribe) in DISTRICTS.items():
        for i in range(n):
            visited = NOW - timedelta(hours=rnd.randrange(2, 24 * 28))
            office = f"{rnd.choice(['DC Office', 'Police Station', 'DHQ Hospital'])} {district}"
            txs.append(Transaction(office=office, ref=f"{district}-{i}", name="",
                                   mobile=f"+92300{len(txs):07d}", service=rnd.choice(SERVICES),
                                   district=district, official=f"Official {rnd.randrange(1, 5)}",
                                   visited_at=visited))
            rating = rnd.choice("45") if rnd.random() < sat else rnd.choice("123")
            answers.append((visited, rating, "1" if rnd.random() < bribe else "2"))
    order = sorted(range(len(txs)), key=lambda i: txs[i].visited_at)
    txs, answers = [txs[i] for i in order], [answers[i] for i in order]
    await store.add_transactions(txs, NOW - timedelta(days=40))
    for visited, rating, bribe in answers:  # each called two hours after the visit
        when = min(visited + timedelta(hours=2), NOW - timedelta(minutes=5))
        [attempt] = await store.claim_due(when, 1)
        await store.survey_started(attempt.id, when)
        await store.save_answer(attempt.id, "rating", rating, when)
        await store.save_answer(attempt.id, "bribe", bribe, when)
        await store.finish_call(attempt.id, TxStatus.COMPLETED, when)


async def pages(tmp: Path) -> dict[str, str]:
    """Serve the pages from a store of made-up answers; return each page's HTML by name."""
    out: dict[str, str] = {}
    store = await open_store(tmp / "demo.db")
    try:
        await fill(store)
        await store.add_user("oversight", hash_password("demo password"), Role.OVERSIGHT, (),
                             NOW)
        app = create_app(Settings(home=tmp, cache=tmp), store)
        app[CLOCK] = lambda: NOW
        async with TestClient(TestServer(app)) as client:
            page = await client.get("/login")
            token = re.findall(r'name="csrf_token" value="([^"]+)"', await page.text())[0]
            await client.post("/login", data={"csrf_token": token, "username": "oversight",
                                              "password": "demo password"})
            for name, url in (("dashboard-overview", "/overview"),
                              ("dashboard-results", "/results?by=district"),
                              ("dashboard-results-weekly", "/results?by=week")):
                out[name] = await (await client.get(url)).text()
    finally:
        await store.close()
    return out


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rabta-shots-") as name:
        tmp = Path(name)
        for page, html in asyncio.run(pages(tmp)).items():
            path = tmp / f"{page}.html"
            path.write_text(html)
            subprocess.run(["chromium", "--headless", "--no-sandbox", "--hide-scrollbars",
                            f"--screenshot={(out / page).resolve()}.png",
                            f"--window-size=1200,{450 if 'overview' in page else 1150}",
                            path.as_uri()], check=True, capture_output=True, timeout=120)
            print(f"{out / page}.png")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs"))
    main(parser.parse_args().out)

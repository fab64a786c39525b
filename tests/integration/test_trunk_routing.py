"""Several trunks on the real PBX: each number goes out on its operator's trunk (by the prefix
table), an 'only' trunk carries nothing else, and no trunk ever has more calls on it than its
channels allow. Checked on Asterisk's own channel list while the calls run, not on our books."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Iterator

import pytest
from support import Citizen, install_phonebook, transactions_for

from ivr import cli, phone
from ivr.asterisk import variables as V
from ivr.config import Settings, replace
from ivr.engine import Engine
from ivr.store import SQLiteStore

TRUNKS = ("jazz channels=2 cps=4 operators=jazz", "zong channels=1 cps=2 operators=zong only",
          "national channels=3 cps=5")
CAPACITY = {"jazz": 2, "zong": 1, "national": 3}


@pytest.fixture
def trunked(node_settings: Settings) -> Iterator[Settings]:
    """The test PBX re-rendered with three trunks (and put back afterwards)."""
    settings = replace(node_settings, trunks=TRUNKS, max_concurrent=10, calls_per_second=10.0)
    cli.asterisk_up(settings, quiet=True)  # renders the endpoints, `core reload`
    try:
        yield settings
    finally:
        cli.asterisk_up(node_settings, quiet=True)


async def test_calls_take_their_operators_trunk_within_its_channels(
        trunked: Settings, store: SQLiteStore) -> None:
    jazz = [Citizen(f"0300444{i:04d}", "answer", "s1s3s2") for i in range(6)]
    zong = [Citizen(f"0311444{i:04d}", "answer", "s1s3s2") for i in range(3)]
    ufone = [Citizen(f"0333444{i:04d}", "answer", "s1s3s2") for i in range(4)]
    citizens = jazz + zong + ufone
    install_phonebook(trunked, citizens)
    txs = transactions_for(citizens, "trunks")
    await store.add_transactions(txs, txs[0].visited_at)
    engine = Engine(trunked, store)
    await engine.start()
    peak: Counter[str] = Counter()
    on_trunk: dict[int, str] = {}  # attempt id -> the trunk Asterisk's channel is on
    try:
        dialer = asyncio.create_task(engine.dialer.run(until_idle=True))
        async with asyncio.timeout(300):
            while not dialer.done():
                now: Counter[str] = Counter()
                for chan in await engine.ami.channels():
                    m = re.match(r"PJSIP/([\w-]+)-", str(chan.get("Channel", "")))
                    if m and m.group(1) in CAPACITY:
                        now[m.group(1)] += 1
                        attempt = chan["vars"].get(V.ATTEMPT)
                        if attempt:
                            on_trunk[int(attempt)] = m.group(1)
                for name, n in now.items():
                    peak[name] = max(peak[name], n)
                await asyncio.sleep(0.2)
            await dialer
    finally:
        await engine.close()

    results = {r["ref"]: r for r in await store.results()}
    assert {r["status"] for r in results.values()} == {"completed"}, results
    async with store._db.execute("SELECT id, number, trunk FROM attempts") as cur:
        rows = await cur.fetchall()
    used = {(phone.national(r[1]), r[2]) for r in rows}
    # What the store says each attempt went out on is what Asterisk's channel really used.
    assert len(on_trunk) >= len(rows) // 2, (len(on_trunk), len(rows))
    assert all(on_trunk[r[0]] == r[2] for r in rows if r[0] in on_trunk)
    by_operator = {
        "jazz": {t for n, t in used if n.startswith("030")},
        "zong": {t for n, t in used if n.startswith("031")},
        "ufone": {t for n, t in used if n.startswith("033")},
    }
    # Zong numbers used the zong trunk or, while it was full, a general one; Jazz and Ufone
    # numbers never touched the zong-only trunk; Jazz numbers went out on jazz first.
    assert "zong" in by_operator["zong"]
    assert "zong" not in by_operator["jazz"] | by_operator["ufone"]
    assert "jazz" in by_operator["jazz"]
    assert by_operator["ufone"] <= {"jazz", "national"}
    # Asterisk's own channel list agrees: never more calls on a trunk than its channels.
    assert peak and all(peak[name] <= CAPACITY[name] for name in peak), peak
    assert peak["jazz"] == 2, peak  # six Jazz citizens at once: the jazz trunk filled up

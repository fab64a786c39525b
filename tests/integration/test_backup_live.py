"""`rabta backup` mid-campaign, with the real engine running calls, restores every answer stored
up to that moment.

Citizens answer over real SIP through the carrier simulator while `rabta backup` runs; the
backup is restored (`rabta restore`) into a fresh RABTA_HOME and its answers are compared with
what the store held just before and just after the backup was taken: nothing stored before it
is missing, nothing is half-written, and the campaign went on after it. 55 s, busy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sqlite3
from pathlib import Path

from support import (
    SLOT,
    SURVEY_ANSWERS,
    SURVEY_KEYS,
    Citizen,
    answers_snapshot,
    install_phonebook,
    transactions_for,
)

from ivr.cli import backup as cli_backup
from ivr.config import Settings, replace
from ivr.engine import Engine
from ivr.store import SQLiteStore

N = 8


def answers_in(path: Path) -> set[tuple[int, str, str]]:
    con = sqlite3.connect(path)
    try:
        return {(r[0], r[1], r[2]) for r in con.execute("SELECT attempt_id, question, value FROM answers")}
    finally:
        con.close()


async def test_a_backup_taken_mid_campaign_restores_every_answer_stored_until_then(
        node_settings: Settings, store: SQLiteStore, tmp_path: Path) -> None:
    citizens = [Citizen(f"0306{SLOT}4{i:05d}", "answer", SURVEY_KEYS) for i in range(N)]
    install_phonebook(node_settings, citizens)
    txs = transactions_for(citizens, "backup")
    await store.add_transactions(txs, txs[0].visited_at)
    # The engine's database is the store's file; calls go out two a second, so answers are
    # still being written while the backup runs.
    live = replace(node_settings, database=str(tmp_path / "t.db"), calls_per_second=2.0)
    engine = Engine(live, store)
    await engine.start()
    dialer = asyncio.create_task(engine.dialer.run(until_idle=True))
    try:
        async with asyncio.timeout(90):
            while len(await answers_snapshot(store)) < 4:  # noqa: ASYNC110 - a state poll
                await asyncio.sleep(0.1)
        in_flight = engine.calls.in_flight
        before = await answers_snapshot(store)
        out = io.StringIO()
        backup = tmp_path / "mid-campaign.db"
        assert await asyncio.to_thread(cli_backup.do_backup, live,
                                       argparse.Namespace(out=backup, keep=0), out) == 0
        after = await answers_snapshot(store)
        await asyncio.wait_for(dialer, 180)
    finally:
        if not dialer.done():
            dialer.cancel()
        await engine.close()
    assert in_flight > 0, "no call was in flight when the backup was taken"
    final = await answers_snapshot(store)
    results = await store.results()
    assert all((r["status"], r["answers"]) == ("completed", SURVEY_ANSWERS) for r in results), results
    assert len(final) == 3 * N
    # Restored into a fresh home, as after losing the server.
    fresh = replace(node_settings, home=tmp_path / "fresh-home", database="")
    assert cli_backup.do_restore(fresh, argparse.Namespace(file=backup), io.StringIO()) == 0
    restored = answers_in(fresh.db_path)
    assert before <= restored, f"stored before the backup but not restored: {before - restored}"
    assert restored <= after, f"restored but never stored: {restored - after}"
    assert restored < final, "the campaign did not go on after the backup"
    assert f"{len(restored)} answers" in out.getvalue()

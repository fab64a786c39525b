"""`rabta backup` while answers are being written, and `rabta restore`: nothing stored is lost."""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ivr.cli import backup as cli_backup
from ivr.config import Settings
from ivr.errors import InputError
from ivr.models import Transaction
from ivr.store import SQLiteStore, open_store
from ivr.store import backup as B

T0 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


def tx(i: int) -> Transaction:
    return Transaction(office="DC Office Lahore", ref=f"R{i}", name="Ali", mobile=f"+92300{i:07d}",
                       service="domicile", district="Lahore", official="Bilal",
                       visited_at=T0 - timedelta(days=1), language="ur")


def answers_in(path: Path) -> set[tuple[int, str]]:
    con = sqlite3.connect(path)
    try:
        return {(r[0], r[1]) for r in con.execute("SELECT attempt_id, question FROM answers")}
    finally:
        con.close()


async def campaign(store: SQLiteStore, n: int) -> list[int]:
    await store.add_transactions([tx(i) for i in range(n)], T0)
    attempts = await store.claim_due(T0, n)
    for a in attempts:
        await store.survey_started(a.id, T0)
    return [a.id for a in attempts]


async def test_a_backup_taken_mid_campaign_restores_every_answer_stored_until_then(
        tmp_path: Path) -> None:
    db = tmp_path / "rabta.db"
    store = await open_store(db)
    ids = await campaign(store, 40)
    saved: list[tuple[int, str]] = []
    stop = asyncio.Event()
    grown = asyncio.Event()
    target = [200]

    async def citizens_answering() -> None:  # the engine goes on storing answers throughout
        i = 0
        while not stop.is_set():
            attempt, question = ids[i % len(ids)], f"q{i // len(ids)}"
            await store.save_answer(attempt, question, str(i % 5 + 1), T0 + timedelta(seconds=i))
            saved.append((attempt, question))
            i += 1
            if len(saved) >= target[0]:
                grown.set()
            await asyncio.sleep(0)

    writer = asyncio.create_task(citizens_answering())
    await grown.wait()
    before = set(saved)  # stored (committed) before the backup began
    info = await asyncio.to_thread(B.backup, db, tmp_path / "backups" / "b.db")
    target[0] = len(saved) + 100  # and the campaign goes on after it
    grown.clear()
    await grown.wait()
    stop.set()
    await writer
    await store.close()
    in_backup = answers_in(info.path)
    assert before <= in_backup, "an answer stored before the backup is missing from it"
    assert in_backup < set(saved)
    assert info.answers == len(in_backup)
    assert stat.S_IMODE(info.path.stat().st_mode) == 0o600

    keep = tmp_path / "backups" / "pre.db"
    B.restore(info.path, db, keep)
    assert answers_in(db) == in_backup
    assert answers_in(keep) == set(saved)  # the database before the restore is kept whole
    store = await open_store(db)  # and the restored database opens and works
    await store.save_answer(ids[0], "after-restore", "1", T0)
    await store.close()


@pytest.mark.parametrize("content", [b"", b"not a database at all", None])
def test_restore_refuses_what_is_not_a_rabta_database(tmp_path: Path, content: bytes | None) -> None:
    bad = tmp_path / "bad.db"
    if content is None:
        sqlite3.connect(bad).execute("CREATE TABLE x (a)").connection.close()
    else:
        bad.write_bytes(content)
    db = tmp_path / "rabta.db"
    db.write_bytes(b"precious")
    with pytest.raises(InputError):
        B.restore(bad, db, tmp_path / "keep.db")
    assert db.read_bytes() == b"precious"


async def test_cli_backup_names_keeps_and_prunes(tmp_path: Path) -> None:
    s = Settings(home=tmp_path)
    store = await open_store(s.db_path)
    await campaign(store, 3)
    await store.close()
    for _ in range(3):
        assert cli_backup.do_backup(s, argparse.Namespace(out=None, keep=2)) == 0
    kept = sorted((tmp_path / "backups").glob("rabta-2*.db"))
    assert len(kept) == 2
    assert B.inspect(kept[-1]).transactions == 3

"""Issue 12, items 5 and 6: SQLite write transactions in few trips, and the blocking database.

The engine's CPU per call counts every trip to aiosqlite's thread: a transaction of deferred
statements (an answer, a state change) must be one trip, BEGIN and COMMIT included, and an
error in a deferred statement must still fail the whole transaction. The classic AGI script
opens the same database blocking (plain sqlite3, no event loop) and runs a session with
run_blocking.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ivr.asterisk.agi.script import run_blocking
from ivr.errors import StoreError
from ivr.models import Transaction, TxStatus
from ivr.store import SQLiteStore
from ivr.store.database import SQLiteDatabase, parse_url
from ivr.store.session import SessionStore

T0 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


def count_trips(db: SQLiteDatabase) -> list[str]:
    """Count the calls run on the connection's thread, from now on."""
    trips: list[str] = []
    conn: Any = db.conn
    real = conn._execute

    async def counted(fn: Callable[..., Any], *args: Any) -> Any:
        trips.append(getattr(fn, "__name__", "?"))
        return await real(fn, *args)

    conn._execute = counted
    return trips


async def claimed(store: SQLiteStore) -> int:
    tx = Transaction(office="o", ref="r1", name="", mobile="+923001234567", service="police",
                     district="Lahore", official="x", visited_at=T0, language="en")
    await store.add_transactions([tx], T0)
    [attempt] = await store.claim_due(T0, 1)
    return attempt.id


async def test_an_answer_and_an_answered_call_are_one_trip_each(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "t.db")
    try:
        attempt = await claimed(store)
        trips = count_trips(store.db)  # type: ignore[arg-type]
        await store.attempt_answered(attempt, T0)
        assert len(trips) == 1  # BEGIN IMMEDIATE, two UPDATEs and COMMIT together
        await store.save_answer(attempt, "rating", "4", T0, survey="police", survey_version=2)
        assert len(trips) == 2
        rows = await store.answer_rows(attempt)
        assert [(r["question"], r["value"]) for r in rows] == [("rating", "4")]
    finally:
        await store.close()


async def test_a_failing_deferred_statement_fails_the_whole_transaction(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "t.db")
    try:
        await claimed(store)
        with pytest.raises(StoreError, match="no such table"):
            async with store.db.write() as tx:
                await tx.execute("UPDATE transactions SET name = 'changed'")
                await tx.defer("UPDATE no_such_table SET x = 1")
        # The first statement was rolled back with it, and the connection is usable.
        assert await store.db.fetchval("SELECT name FROM transactions") == ""
        async with store.db.write() as tx:
            await tx.defer("UPDATE transactions SET name = 'later'")
        assert await store.db.fetchval("SELECT name FROM transactions") == "later"
    finally:
        await store.close()


async def test_a_transaction_that_sends_nothing_costs_no_trip(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "t.db")
    try:
        trips = count_trips(store.db)  # type: ignore[arg-type]
        async with store.db.write():
            pass
        assert trips == []
    finally:
        await store.close()


def test_the_blocking_database_runs_a_session_store_without_an_event_loop(tmp_path: Path) -> None:
    async def prepare() -> int:
        store = await SQLiteStore.open(tmp_path / "t.db")
        try:
            return await claimed(store)
        finally:
            await store.close()

    attempt = asyncio.run(prepare())

    async def session() -> tuple[str, int]:
        store = await SessionStore.open(f"sqlite:///{tmp_path / 't.db'}", blocking=True)
        try:
            ctx = await store.survey_started(attempt, T0)
            await store.save_answer(attempt, "rating", "5", T0, prompts=("rating",))
            counts = await store.attempt_counts(attempt)
            return ctx.service, counts[0]
        finally:
            await store.close()

    with pytest.raises(RuntimeError, match="no running event loop"):
        asyncio.get_running_loop()  # none here: run_blocking needs none
    assert run_blocking(session()) == ("police", 1)

    async def check() -> list[Any]:
        store = await SQLiteStore.open(tmp_path / "t.db")
        try:
            return [(r["question"], r["value"]) for r in await store.answer_rows(attempt)]
        finally:
            await store.close()

    assert asyncio.run(check()) == [("rating", "5")]


def test_run_blocking_refuses_a_coroutine_that_waits() -> None:
    async def waits() -> None:
        await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match="needs an event loop"):
        run_blocking(waits())


async def test_a_blocking_database_has_no_raw_write(tmp_path: Path) -> None:
    db = await SQLiteDatabase.open(parse_url(f"sqlite:///{tmp_path / 't.db'}"), blocking=True)
    try:
        assert db.blocking
        with pytest.raises(StoreError, match="raw_write"):
            async with db.raw_write():
                pass
    finally:
        await db.close()


async def test_a_read_outside_a_transaction_is_one_trip(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "t.db")
    try:
        attempt = await claimed(store)
        trips = count_trips(store.db)  # type: ignore[arg-type]
        rows = await store.db.fetch("SELECT id FROM attempts WHERE id = ?", (attempt,))
        assert [r[0] for r in rows] == [attempt]
        assert len(trips) == 1  # not execute, fetchall and close
        with pytest.raises(StoreError, match="no such table"):
            await store.db.fetch("SELECT 1 FROM no_such_table")
    finally:
        await store.close()


async def test_a_survey_call_start_and_end_are_one_trip_each(tmp_path: Path) -> None:
    # Issue 12, item 5: the answered mark and the read of what the flow needs go together,
    # and so do closing the attempt and moving its transaction on.
    store = await SQLiteStore.open(tmp_path / "t.db")
    try:
        attempt = await claimed(store)
        trips = count_trips(store.db)  # type: ignore[arg-type]
        ctx = await store.survey_started(attempt, T0)
        assert len(trips) == 1
        assert (ctx.service, ctx.attempts, ctx.callbacks) == ("police", 1, 0)
        assert ctx.status.value == "in_call"
        assert await store.finish_call(attempt, TxStatus.PARTIAL, T0,
                                       next_status=TxStatus.SCHEDULED, next_try_at=T0)
        assert len(trips) == 2
        row = await store.db.fetchone("SELECT status, callbacks FROM transactions")
        assert row is not None and (row[0], row[1]) == ("scheduled", 1)
        # A second close changes nothing: neither the attempt nor its transaction.
        assert not await store.finish_call(attempt, TxStatus.COMPLETED, T0)
        row = await store.db.fetchone("SELECT status, callbacks FROM transactions")
        assert row is not None and (row[0], row[1]) == ("scheduled", 1)
        assert await store.db.fetchval("SELECT result FROM attempts") == "partial"
    finally:
        await store.close()


async def test_a_claim_is_three_trips_however_many_it_takes(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "t.db")
    try:
        await store.add_transactions([
            Transaction(office="o", ref=f"r{i}", name="", mobile=f"+92300123456{i}",
                        service="police", district="Lahore", official="x", visited_at=T0,
                        language="en") for i in range(4)], T0)
        trips = count_trips(store.db)  # type: ignore[arg-type]
        taken = await store.claim_due(T0, 3, trunk_channels={"": 10})
        # the open calls and the due rows; the facts about them; the writes with the COMMIT
        assert len(trips) == 3
        assert len(taken) == 3 and len({a.id for a in taken}) == 3
        rows = await store.db.fetch(
            "SELECT a.id, a.transaction_id, t.mobile, t.status FROM attempts a "
            "JOIN transactions t ON t.id = a.transaction_id ORDER BY a.id")
        assert [(r[0], r[1], r[2]) for r in rows] == [
            (a.id, a.transaction_id, a.number) for a in sorted(taken, key=lambda a: a.id)]
        assert {r[3] for r in rows} == {"dialing"}
        del trips[:]
        await store.book_sends([(a.id, "", T0) for a in taken], {"": 10.0}, T0)
        assert len(trips) == 2  # the latest booking; the bookings with the COMMIT
    finally:
        await store.close()


async def test_nothing_may_follow_fetch_last_and_its_failure_rolls_back(
        tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "t.db")
    try:
        await claimed(store)
        with pytest.raises(RuntimeError, match="after fetch_last"):
            async with store.db.write() as tx:
                await tx.defer("UPDATE transactions SET name = 'one'")
                await tx.fetch_last("SELECT name FROM transactions")
                await tx.defer("UPDATE transactions SET name = 'two'")
        assert await store.db.fetchval("SELECT name FROM transactions") == "one"
        with pytest.raises(StoreError, match="no such table"):
            async with store.db.write() as tx:
                await tx.defer("UPDATE transactions SET name = 'three'")
                await tx.fetch_last("SELECT * FROM no_such_table")
        assert await store.db.fetchval("SELECT name FROM transactions") == "one"
    finally:
        await store.close()

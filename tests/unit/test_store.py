"""SQLiteStore: migrations, intake, claiming due work, and the guarded updates of one call.

Every test opens a fresh database under tmp_path and uses explicit, aware times, so nothing
depends on the wall clock except where a test says "now".
"""

from __future__ import annotations

import asyncio
import sqlite3
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from storehelpers import sql

from ivr.errors import StoreError
from ivr.models import Attempt, Outcome, Transaction, TxStatus
from ivr.store import SQLiteStore, open_store
from ivr.store.sqlite import MIGRATIONS, parse_ts, ts

pytestmark = pytest.mark.both_backends  # every test taking `store` runs on SQLite and PostgreSQL

T0 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)  # 11:00 in Karachi
VISITED = datetime(2026, 11, 27, 5, 30, tzinfo=UTC)


def tx(ref: str, *, office: str = "DC Office Lahore", language: str | None = "ur",
       mobile: str | None = None) -> Transaction:
    # A citizen per ref unless a test says otherwise: one citizen is called one call at a time.
    number = mobile or f"+92300{zlib.crc32(f'{office}/{ref}'.encode()) % 10**7:07d}"
    return Transaction(office=office, ref=ref, name="Ali Khan", mobile=number,
                       service="domicile", district="Lahore", official="Bilal",
                       visited_at=VISITED, language=language)




async def one_claimed(store: SQLiteStore, ref: str = "R1", now: datetime = T0) -> Attempt:
    """Add one transaction and claim it; return its attempt."""
    await store.add_transactions([tx(ref)], now)
    [attempt] = await store.claim_due(now, 1)
    return attempt


def raw(path: Path, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Run SQL on a second, plain connection (WAL lets it read beside the store's own)."""
    con = sqlite3.connect(path)
    try:
        with con:
            return con.execute(sql, args).fetchall()
    finally:
        con.close()


async def status_of(store: SQLiteStore, ref: str) -> TxStatus:
    t = await store.transaction("DC Office Lahore", ref)
    assert t is not None
    return t.status


# ---------------------------------------------------------------------- time text


def test_ts_round_trips_and_sorts_as_text() -> None:
    a = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    b = a + timedelta(microseconds=1)
    assert ts(a) == "2026-01-02T03:04:05.000006Z"
    assert parse_ts(ts(a)) == a
    assert ts(a) < ts(b)
    assert parse_ts(None) is None


def test_ts_refuses_naive_datetime() -> None:
    with pytest.raises(StoreError, match="naive"):
        ts(datetime(2026, 1, 1, 12, 0))


# ---------------------------------------------------------------------- lifecycle


async def test_migrations_applied_once(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    first = await open_store(path)
    try:
        assert await first.migrate() == []  # open() already applied everything
    finally:
        await first.close()
    before = raw(path, "SELECT version, applied_at FROM schema_migrations")
    second = await open_store(path)
    try:
        assert await second.migrate() == []
    finally:
        await second.close()
    after = raw(path, "SELECT version, applied_at FROM schema_migrations")
    assert [v for v, _ in after] == [int(f.name[:4]) for f in sorted(MIGRATIONS.glob("*.sql"))]
    assert after == before  # the second open did not re-apply (or re-stamp) version 1
    tables = {r[0] for r in raw(path, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"transactions", "attempts", "answers", "schema_migrations"} <= tables


async def test_wal_mode_and_foreign_keys(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "t.db")
    try:
        # The store has no public accessor for its connection; pragmas are per connection.
        async with store._db.execute("PRAGMA journal_mode") as cur:
            assert (await cur.fetchone())[0] == "wal"
        async with store._db.execute("PRAGMA foreign_keys") as cur:
            assert (await cur.fetchone())[0] == 1
    finally:
        await store.close()


async def test_foreign_keys_are_enforced(store: SQLiteStore) -> None:
    with pytest.raises(StoreError, match=r"(?i)foreign key"):
        await sql(store, "INSERT INTO attempts (transaction_id, number, started_at) "
                         "VALUES (999, '+92', 'x')")


# ---------------------------------------------------------------------- intake


async def test_add_transactions_is_idempotent_by_office_and_ref(store: SQLiteStore) -> None:
    assert await store.add_transactions([tx("R1"), tx("R2")], T0) == (2, 0)
    # Same refs again, plus one new ref and the same ref at another office.
    again = [tx("R1"), tx("R2"), tx("R3"), tx("R1", office="Land Record Centre")]
    assert await store.add_transactions(again, T0) == (2, 2)
    assert sum((await store.status_counts()).values()) == 4
    stored = await store.transaction("DC Office Lahore", "R1")
    assert stored is not None
    assert (stored.status, stored.attempts, stored.next_try_at) == (TxStatus.PENDING, 0, T0)
    assert stored.visited_at == VISITED


async def test_add_transactions_is_all_or_nothing(store: SQLiteStore) -> None:
    bad = tx("R2", language="xx")  # violates CHECK (language IN ('ur', 'pa', 'en'))
    with pytest.raises((StoreError, sqlite3.IntegrityError)):
        await store.add_transactions([tx("R1"), bad, tx("R3")], T0)
    assert await store.status_counts() == {}
    assert await store.transaction("DC Office Lahore", "R1") is None
    # The store is still usable afterwards (the failed transaction was rolled back).
    assert await store.add_transactions([tx("R1")], T0) == (1, 0)


async def test_add_transactions_failure_is_a_store_error(store: SQLiteStore) -> None:
    with pytest.raises(StoreError):
        await store.add_transactions([tx("R1"), tx("R2", language="xx")], T0)


# ---------------------------------------------------------------------- claiming


async def test_claim_due_takes_only_due_rows_and_writes_attempts(
        store: SQLiteStore, tmp_path: Path) -> None:
    await store.add_transactions([tx("DUE1"), tx("DUE2")], T0)
    await store.add_transactions([tx("LATER")], T0 + timedelta(hours=1))  # next_try_at = +1 h
    await store.add_transactions([tx("FINAL")], T0)
    await sql(store, "UPDATE transactions SET status = 'completed' WHERE ref = 'FINAL'")

    claimed = await store.claim_due(T0, 10, node="n1")

    by_tx = {a.transaction_id: a for a in claimed}
    refs = {r[0]: r[1] for r in await sql(store, "SELECT id, ref FROM transactions")}
    assert sorted(refs[i] for i in by_tx) == ["DUE1", "DUE2"]
    numbers = {r[0]: r[1] for r in await sql(store, "SELECT id, mobile FROM transactions")}
    for a in claimed:
        assert (a.number, a.started_at, a.language) == (numbers[a.transaction_id], T0, "ur")
    for ref in ("DUE1", "DUE2"):
        t = await store.transaction("DC Office Lahore", ref)
        assert t is not None
        assert (t.status, t.attempts) == (TxStatus.DIALING, 1)
        rows = await store.attempts_of(t.id)  # type: ignore[arg-type]
        assert len(rows) == 1
        assert (rows[0]["node"], rows[0]["started_at"], rows[0]["ended_at"]) == ("n1", ts(T0), None)
    assert await status_of(store, "LATER") == TxStatus.PENDING
    assert await status_of(store, "FINAL") == TxStatus.COMPLETED
    assert await store.claim_due(T0, 10) == []  # dialing rows are not due again


@pytest.mark.parametrize(("limit", "expected"), [(0, 0), (-1, 0), (1, 1), (3, 3), (10, 5)])
async def test_claim_due_respects_limit(store: SQLiteStore, limit: int, expected: int) -> None:
    await store.add_transactions([tx(f"R{i}") for i in range(5)], T0)
    claimed = await store.claim_due(T0, limit)
    assert len(claimed) == expected
    assert (await store.status_counts()).get("dialing", 0) == expected


async def test_claim_due_takes_oldest_first(store: SQLiteStore) -> None:
    await store.add_transactions([tx("NEWER")], T0)
    await store.add_transactions([tx("OLDER")], T0 - timedelta(minutes=5))
    [first] = await store.claim_due(T0, 1)
    older = await store.transaction("DC Office Lahore", "OLDER")
    assert older is not None and first.transaction_id == older.id


async def test_concurrent_claims_never_share_a_transaction(store: SQLiteStore) -> None:
    await store.add_transactions([tx(f"R{i}") for i in range(10)], T0)
    a, b = await asyncio.gather(store.claim_due(T0, 7), store.claim_due(T0, 7))
    ids = [x.transaction_id for x in a + b]
    assert len(ids) == 10
    assert len(set(ids)) == 10
    assert len({x.id for x in a + b}) == 10  # distinct attempt rows too
    assert await store.status_counts() == {"dialing": 10}


# ---------------------------------------------------------------------- one call


async def test_attempt_answered_then_survey_started(store: SQLiteStore) -> None:
    attempt = await one_claimed(store)
    await store.attempt_answered(attempt.id, T0 + timedelta(seconds=5))
    assert await status_of(store, "R1") == TxStatus.IN_CALL

    ctx = await store.survey_started(attempt.id, T0 + timedelta(seconds=9))

    assert (ctx.attempt_id, ctx.transaction_id) == (attempt.id, attempt.transaction_id)
    assert (ctx.office, ctx.service, ctx.district) == ("DC Office Lahore", "domicile", "Lahore")
    assert (ctx.visited_at, ctx.language, ctx.status) == (VISITED, "ur", TxStatus.IN_CALL)
    [row] = await store.attempts_of(attempt.transaction_id)
    # The first "answered" wins: survey_started does not move answered_at.
    assert (row["outcome"], row["answered_at"]) == ("answered", ts(T0 + timedelta(seconds=5)))
    t = await store.transaction("DC Office Lahore", "R1")
    assert t is not None and t.last_outcome is Outcome.ANSWERED


async def test_survey_started_for_unknown_attempt(store: SQLiteStore) -> None:
    with pytest.raises(StoreError, match="no attempt 404"):
        await store.survey_started(404, T0)


async def test_save_answer_second_answer_replaces_first(store: SQLiteStore) -> None:
    attempt = await one_claimed(store)
    await store.survey_started(attempt.id, T0)
    await store.save_answer(attempt.id, "rating", "2", T0 + timedelta(seconds=10))
    await store.save_answer(attempt.id, "bribe", "1", T0 + timedelta(seconds=15))
    await store.save_answer(attempt.id, "rating", "5", T0 + timedelta(seconds=20))
    assert await store.answers_for_attempt(attempt.id) == {"rating": "5", "bribe": "1"}


@pytest.mark.parametrize("result", [TxStatus.COMPLETED, TxStatus.PARTIAL])
async def test_finish_call_only_once(store: SQLiteStore, result: TxStatus) -> None:
    attempt = await one_claimed(store)
    await store.survey_started(attempt.id, T0)
    other = TxStatus.PARTIAL if result is TxStatus.COMPLETED else TxStatus.COMPLETED

    assert await store.finish_call(attempt.id, result, T0 + timedelta(seconds=30), cause=16)
    assert not await store.finish_call(attempt.id, other, T0 + timedelta(seconds=40), cause=17)

    assert await status_of(store, "R1") == result
    [row] = await store.attempts_of(attempt.transaction_id)
    assert (row["result"], row["ended_at"], row["cause"]) == (
        result.value, ts(T0 + timedelta(seconds=30)), 16)
    assert await store.open_attempts() == []


async def test_finish_call_refuses_unanswered_attempt(store: SQLiteStore) -> None:
    attempt = await one_claimed(store)
    assert not await store.finish_call(attempt.id, TxStatus.COMPLETED, T0)
    assert await status_of(store, "R1") == TxStatus.DIALING
    [row] = await store.attempts_of(attempt.transaction_id)
    assert (row["ended_at"], row["result"]) == (None, None)


async def test_finish_call_does_not_overwrite_a_final_status(
        store: SQLiteStore, tmp_path: Path) -> None:
    attempt = await one_claimed(store)
    await store.survey_started(attempt.id, T0)
    # e.g. the citizen opted out by SMS while the call was still on
    await sql(store, "UPDATE transactions SET status = 'opted_out' WHERE ref = 'R1'")
    assert await store.finish_call(attempt.id, TxStatus.COMPLETED, T0)  # the attempt is closed
    assert await status_of(store, "R1") == TxStatus.OPTED_OUT


async def test_attempt_failed_ignores_an_answered_attempt(store: SQLiteStore) -> None:
    # Race: the survey session started before the OriginateResponse arrived.
    attempt = await one_claimed(store)
    await store.survey_started(attempt.id, T0 + timedelta(seconds=5))

    moved = await store.attempt_failed(attempt.id, Outcome.NO_ANSWER, T0 + timedelta(seconds=6),
                                       next_status=TxStatus.SCHEDULED,
                                       next_try_at=T0 + timedelta(minutes=15))

    assert moved is False
    t = await store.transaction("DC Office Lahore", "R1")
    assert t is not None
    assert (t.status, t.last_outcome, t.next_try_at) == (TxStatus.IN_CALL, Outcome.ANSWERED, T0)
    [row] = await store.attempts_of(attempt.transaction_id)
    assert (row["outcome"], row["ended_at"]) == ("answered", None)


async def test_attempt_failed_schedules_a_retry(store: SQLiteStore) -> None:
    attempt = await one_claimed(store)
    retry_at = T0 + timedelta(minutes=15)

    moved = await store.attempt_failed(attempt.id, Outcome.BUSY, T0 + timedelta(seconds=20),
                                       next_status=TxStatus.SCHEDULED, next_try_at=retry_at,
                                       reason=5, cause=17)

    assert moved is True
    t = await store.transaction("DC Office Lahore", "R1")
    assert t is not None
    assert (t.status, t.last_outcome, t.next_try_at) == (TxStatus.SCHEDULED, Outcome.BUSY, retry_at)
    [row] = await store.attempts_of(attempt.transaction_id)
    assert (row["outcome"], row["reason"], row["cause"]) == ("busy", 5, 17)
    assert row["ended_at"] == ts(T0 + timedelta(seconds=20))
    assert await store.next_due_at() == retry_at
    assert await store.claim_due(retry_at - timedelta(microseconds=1), 5) == []
    [again] = await store.claim_due(retry_at, 5)
    assert again.transaction_id == attempt.transaction_id and again.id != attempt.id
    t = await store.transaction("DC Office Lahore", "R1")
    assert t is not None and (t.status, t.attempts) == (TxStatus.DIALING, 2)


async def test_attempt_failed_unreachable_is_never_due(store: SQLiteStore) -> None:
    attempt = await one_claimed(store)
    assert await store.attempt_failed(attempt.id, Outcome.REJECTED, T0,
                                      next_status=TxStatus.UNREACHABLE, next_try_at=None)
    assert await status_of(store, "R1") == TxStatus.UNREACHABLE
    assert await store.claim_due(T0 + timedelta(days=30), 5) == []
    assert await store.next_due_at() is None


async def test_stale_attempt_failed_leaves_the_next_attempt_alone(store: SQLiteStore) -> None:
    first = await one_claimed(store)
    assert await store.attempt_failed(first.id, Outcome.BUSY, T0,
                                      next_status=TxStatus.SCHEDULED, next_try_at=T0)
    [second] = await store.claim_due(T0 + timedelta(seconds=1), 1)
    # A late duplicate for the first attempt (e.g. the dialer's hangup handler settling it).
    moved = await store.attempt_failed(first.id, Outcome.NO_ANSWER, T0 + timedelta(seconds=2),
                                       next_status=TxStatus.UNREACHABLE, next_try_at=None)
    assert moved is False
    assert await status_of(store, "R1") == TxStatus.DIALING
    assert [a[0] for a in await store.open_attempts()] == [second.id]


async def test_open_attempts_lists_attempts_not_ended(store: SQLiteStore) -> None:
    await store.add_transactions([tx("A"), tx("B"), tx("C")], T0)
    a, b, c = await store.claim_due(T0, 3)
    await store.attempt_answered(b.id, T0)
    await store.attempt_answered(c.id, T0)
    await store.finish_call(c.id, TxStatus.COMPLETED, T0)

    assert await store.open_attempts() == [
        (a.id, 1, "dialing", False),
        (b.id, 1, "in_call", True),
    ]
    await store.attempt_failed(a.id, Outcome.BUSY, T0, next_status=TxStatus.SCHEDULED,
                               next_try_at=T0)
    assert await store.open_attempts() == [(b.id, 1, "in_call", True)]


# ---------------------------------------------------------------------- reading


async def test_results_latest_answer_per_question_across_attempts(
        store: SQLiteStore, tmp_path: Path) -> None:
    await store.add_transactions([tx("R1"), tx("R2")], T0)
    first, unanswered = await store.claim_due(T0, 2)
    await store.survey_started(first.id, T0)
    await store.save_answer(first.id, "rating", "2", T0)
    await store.save_answer(first.id, "bribe", "1", T0)
    await store.finish_call(first.id, TxStatus.COMPLETED, T0)
    await store.attempt_failed(unanswered.id, Outcome.BUSY, T0, next_status=TxStatus.UNREACHABLE,
                               next_try_at=None)
    # An operator puts R1 back in the queue; the second call only re-answers the rating.
    await sql(store, "UPDATE transactions SET status = 'scheduled' WHERE ref = 'R1'")
    [second] = await store.claim_due(T0 + timedelta(hours=1), 5)
    assert second.transaction_id == first.transaction_id
    await store.survey_started(second.id, T0 + timedelta(hours=1))
    await store.save_answer(second.id, "rating", "5", T0 + timedelta(hours=1))
    await store.finish_call(second.id, TxStatus.PARTIAL, T0 + timedelta(hours=1))

    r1, r2 = await store.results()

    assert (r1["office"], r1["ref"], r2["ref"]) == ("DC Office Lahore", "R1", "R2")
    assert r1["answers"] == {"rating": "5", "bribe": "1"}
    assert (r1["answered"], r1["status"], r1["attempts"], r1["last_outcome"]) == (
        True, "partial", 2, "answered")
    assert r2["answers"] == {}
    assert (r2["answered"], r2["status"], r2["attempts"], r2["last_outcome"]) == (
        False, "unreachable", 1, "busy")
    assert type(r1["answered"]) is bool and type(r2["answered"]) is bool


async def test_results_empty_store(store: SQLiteStore) -> None:
    assert await store.results() == []
    assert await store.next_due_at() is None


# ---------------------------------------------------------------------- concurrency


async def test_many_calls_writing_at_once_on_one_store(store: SQLiteStore) -> None:
    """Guards "cannot start a transaction within a transaction": one connection, many writers."""
    n = 50
    await store.add_transactions([tx(f"R{i:02d}") for i in range(n)], T0)
    attempts = await store.claim_due(T0, n)
    assert len(attempts) == n

    async def call(a: Attempt, i: int) -> bool:
        await store.attempt_answered(a.id, T0)
        await store.save_answer(a.id, "rating", str(i % 5 + 1), T0)
        await store.save_answer(a.id, "bribe", "2", T0)
        return await store.finish_call(a.id, TxStatus.COMPLETED, T0)

    outcomes = await asyncio.gather(*(call(a, i) for i, a in enumerate(attempts)),
                                    return_exceptions=True)

    assert [o for o in outcomes if o is not True] == []
    assert await store.status_counts() == {"completed": n}
    assert await store.open_attempts() == []
    for i, a in enumerate(attempts):
        assert await store.answers_for_attempt(a.id) == {"rating": str(i % 5 + 1), "bribe": "2"}

"""PostgreSQL restarting mid-campaign: a read or a new transaction waits for it (logged once
each way) and goes on; past the wait, a clear StoreError; the same store (pool) resumes without
a restart of its own, and nothing committed before is lost. A connection killed under a
transaction (its backend terminated) is dropped, and the transaction runs again on a fresh one."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from pgcluster import PgCluster

from ivr.errors import StoreError
from ivr.models import Transaction, TxStatus
from ivr.store import open_store
from ivr.store.database import Tx

T0 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


@pytest.fixture
def own_cluster() -> Iterator[PgCluster]:
    cluster = PgCluster().start()  # its own server: this test stops it
    try:
        yield cluster
    finally:
        cluster.stop()


def _tx(i: int) -> Transaction:
    return Transaction(office="PS Gulberg", ref=f"R{i}", name="", mobile=f"+92300{i:07d}",
                       service="Police", district="Lahore", official="", visited_at=T0)


async def test_a_postgresql_restart_is_a_clear_error_then_the_store_resumes(
        own_cluster: PgCluster) -> None:
    store = await open_store(own_cluster.create("rabta"))
    store.db.reconnect_wait = 0.5  # type: ignore[attr-defined]  # give up at once
    try:
        await store.add_transactions([_tx(i) for i in range(6)], T0)
        [first] = await store.claim_due(T0, 1)
        await store.survey_started(first.id, T0)
        await store.save_answer(first.id, "rating", "5", T0)

        own_cluster.stop(remove=False)
        with pytest.raises(StoreError, match=r"PostgreSQL|connect|closed"):
            await store.claim_due(T0, 2)
        own_cluster.restart()

        # The pool's connections all died with the server: not one of them is handed out.
        claimed = list(await store.claim_due(T0 + timedelta(seconds=5), 2))
        assert len(claimed) == 2
        assert await store.answers_for_attempt(first.id) == {"rating": "5"}
        assert await store.finish_call(first.id, TxStatus.COMPLETED, T0 + timedelta(seconds=9))
        counts = await store.status_counts()
        assert counts == {"completed": 1, "dialing": 2, "pending": 3}
    finally:
        await store.close()


async def test_a_short_restart_is_waited_for_and_the_claim_goes_on(
        own_cluster: PgCluster, caplog: pytest.LogCaptureFixture) -> None:
    store = await open_store(own_cluster.create("rabta"))
    try:
        await store.add_transactions([_tx(i) for i in range(4)], T0)
        own_cluster.stop(remove=False)
        with caplog.at_level(logging.WARNING, logger="ivr.store.postgres"):
            claim = asyncio.create_task(store.claim_due(T0, 2))
            await asyncio.sleep(2.0)
            assert not claim.done()  # waiting, not failing
            await asyncio.to_thread(own_cluster.restart)
            assert len(await asyncio.wait_for(claim, 60)) == 2
        said = [r.getMessage() for r in caplog.records]
        assert any("unreachable" in m and "waiting up to" in m for m in said), said
        assert any("back after" in m and "resuming" in m for m in said), said
        assert not any(r.exc_info for r in caplog.records)  # one line each, no traceback
        assert (await store.status_counts()) == {"dialing": 2, "pending": 2}
    finally:
        await store.close()


async def _backends(cluster: PgCluster, db: str) -> list[int]:
    out = await asyncio.to_thread(
        cluster.psql, "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid()", db)
    return [int(p) for p in out.split()]


async def test_a_connection_killed_mid_transaction_is_dropped_and_the_write_runs_again(
        own_cluster: PgCluster, caplog: pytest.LogCaptureFixture) -> None:
    store = await open_store(own_cluster.create("rabta"))
    try:
        await store.add_transactions([_tx(1)], T0)
        [attempt] = await store.claim_due(T0, 1)
        await store.survey_started(attempt.id, T0)
        runs = 0

        async def answer_then_lose_the_backend(tx: Tx) -> None:
            nonlocal runs
            runs += 1
            await tx.execute("SELECT 1")
            if runs == 1:  # its server process goes away between two statements
                [pid] = await _backends(own_cluster, "rabta")
                await asyncio.to_thread(own_cluster.psql,
                                        f"SELECT pg_terminate_backend({pid})", "rabta")
                await asyncio.sleep(0.2)
            await tx.execute("INSERT INTO answers (attempt_id, transaction_id, question, value, "
                             "answered_at) SELECT id, transaction_id, 'rating', '4', ? "
                             "FROM attempts WHERE id = ?", ("2026-11-28T06:00:00.000000Z",
                                                           attempt.id))

        with caplog.at_level(logging.WARNING, logger="ivr.store.postgres"):
            await store.db.transact(answer_then_lose_the_backend)
        assert runs == 2
        assert await store.answers_for_attempt(attempt.id) == {"rating": "4"}
        said = [r.getMessage() for r in caplog.records]
        assert any("running the transaction again on a fresh connection" in m for m in said)

        # Every pooled connection's backend killed while idle: the next read and write go on.
        for pid in await _backends(own_cluster, "rabta"):
            await asyncio.to_thread(own_cluster.psql, f"SELECT pg_terminate_backend({pid})",
                                    "rabta")
        await store.save_answer(attempt.id, "bribe", "2", T0)
        assert await store.answers_for_attempt(attempt.id) == {"rating": "4", "bribe": "2"}
    finally:
        await store.close()

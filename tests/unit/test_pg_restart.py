"""PostgreSQL restarting mid-campaign: a read or a new transaction waits for it (logged once
each way) and goes on; past the wait, a clear StoreError; the same store (pool) resumes without
a restart of its own, and nothing committed before is lost."""

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

        claimed: list[object] = []
        for _ in range(3):  # the pool may hand out one dead connection before it reconnects
            try:
                claimed = list(await store.claim_due(T0 + timedelta(seconds=5), 2))
                break
            except StoreError:
                continue
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

"""PostgreSQL restarting mid-campaign: a clear StoreError while it is away, then the same store
(pool) resumes without a restart of its own, and nothing committed before is lost."""

from __future__ import annotations

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

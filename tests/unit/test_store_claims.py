"""Unit tier: the dial-time checks in SQLiteStore.claim_due (do-not-call, age, cooldown, one
call per citizen, calling windows by service) and call-backs for unfinished surveys."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from storehelpers import value

from ivr.models import Outcome, Transaction, TxStatus
from ivr.store import SQLiteStore

pytestmark = pytest.mark.both_backends

T0 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
A, B, C = "+923001110001", "+923001110002", "+923001110003"


def tx(ref: str, mobile: str, *, service: str = "police", visited: datetime = T0) -> Transaction:
    return Transaction(office="PS Gulberg", ref=ref, name="", mobile=mobile, service=service,
                       district="Lahore", official="SHO", visited_at=visited, language="ur")




async def status_of(store: SQLiteStore, ref: str) -> tuple[str, str | None]:
    rows = {r["ref"]: r for r in await store.results()}
    t = await store.transaction("PS Gulberg", ref)
    assert t is not None
    return rows[ref]["status"], await _reason(store, t.id)  # type: ignore[arg-type]


async def _reason(store: SQLiteStore, tx_id: int) -> str | None:
    reason: str | None = await value(store, "SELECT closed_reason FROM transactions WHERE id = ?",
                                     (tx_id,))
    return reason


async def test_number_on_the_dnc_list_is_never_dialled(store: SQLiteStore) -> None:
    await store.add_transactions([tx("R1", A), tx("R2", B)], T0)
    assert await store.dnc_add([A], "admin", T0, note="asked by phone") == 1
    assert await store.dnc_add([A], "optout", T0) == 0  # already there
    claimed = await store.claim_due(T0, 10)
    assert [a.number for a in claimed] == [B]
    assert await status_of(store, "R1") == ("opted_out", "dnc")
    assert [d["number"] for d in await store.dnc_list()] == [A]


async def test_dnc_added_while_queued_is_honoured_at_dial_time(store: SQLiteStore) -> None:
    await store.add_transactions([tx("R1", A)], T0)
    await store.dnc_add([A], "optout", T0 + timedelta(minutes=1))  # after load, before dial
    assert await store.claim_due(T0 + timedelta(minutes=2), 10) == []
    assert await status_of(store, "R1") == ("opted_out", "dnc")


async def test_dnc_remove(store: SQLiteStore) -> None:
    await store.dnc_add([A], "admin", T0)
    assert await store.dnc_remove(A) is True
    assert await store.dnc_remove(A) is False
    await store.add_transactions([tx("R1", A)], T0)
    assert len(await store.claim_due(T0, 10)) == 1


async def test_too_old_visit_expires_instead_of_dialling(store: SQLiteStore) -> None:
    await store.add_transactions([tx("OLD", A, visited=T0 - timedelta(days=4)),
                                  tx("NEW", B, visited=T0 - timedelta(hours=3))], T0)
    claimed = await store.claim_due(T0, 10, expire_before=T0 - timedelta(days=3))
    assert [a.number for a in claimed] == [B]
    assert await status_of(store, "OLD") == ("expired", "too_old")


async def test_cooldown_across_services_and_offices(store: SQLiteStore) -> None:
    await store.add_transactions([tx("FIRST", A, service="police")], T0)
    [first] = await store.claim_due(T0, 10)
    await store.survey_started(first.id, T0)  # answered: the citizen has been surveyed
    await store.finish_call(first.id, TxStatus.COMPLETED, T0)
    later = T0 + timedelta(days=5)
    await store.add_transactions([tx("SECOND", A, service="health")], later)
    assert await store.claim_due(later, 10, cooldown_since=later - timedelta(days=30)) == []
    assert await status_of(store, "SECOND") == ("expired", "cooldown")


async def test_unanswered_calls_do_not_start_a_cooldown(store: SQLiteStore) -> None:
    await store.add_transactions([tx("FIRST", A)], T0)
    [first] = await store.claim_due(T0, 10)
    await store.attempt_failed(first.id, Outcome.BUSY, T0,
                               next_status=TxStatus.UNREACHABLE, next_try_at=None)
    await store.add_transactions([tx("SECOND", A)], T0)
    assert len(await store.claim_due(T0, 10, cooldown_since=T0 - timedelta(days=30))) == 1


async def test_one_call_per_citizen_at_a_time(store: SQLiteStore) -> None:
    await store.add_transactions([tx("R1", A), tx("R2", A), tx("R3", C)], T0)
    claimed = await store.claim_due(T0, 10)
    assert sorted(a.number for a in claimed) == [A, C]
    assert await store.claim_due(T0, 10) == []  # A is still on the line
    assert (await status_of(store, "R2"))[0] == "pending"


async def test_service_windows_filter_the_claim(store: SQLiteStore) -> None:
    await store.add_transactions([tx("P", A, service="pension"), tx("Q", B, service="police")],
                                 T0)
    assert [a.number for a in await store.claim_due(T0, 10, services_except=["pension"])] == [B]
    assert [a.number for a in await store.claim_due(T0, 10, services_only=["pension"])] == [A]
    assert await store.claim_due(T0, 10, services_only=[]) == []


async def test_partial_survey_gets_one_call_back(store: SQLiteStore) -> None:
    await store.add_transactions([tx("R1", A)], T0)
    [first] = await store.claim_due(T0, 10)
    await store.survey_started(first.id, T0)
    await store.save_answer(first.id, "rating", "4", T0)
    back = T0 + timedelta(minutes=30)
    assert await store.finish_call(first.id, TxStatus.PARTIAL, T0,
                                   next_status=TxStatus.SCHEDULED, next_try_at=back)
    assert await store.attempt_counts(first.id) == (1, 1)
    assert await store.claim_due(T0, 10) == []  # not before the call-back time
    [second] = await store.claim_due(back, 10)
    await store.survey_started(second.id, back)
    await store.save_answer(second.id, "bribe", "2", back)
    await store.finish_call(second.id, TxStatus.PARTIAL, back)  # no more call-backs: final
    [row] = await store.results()
    assert (row["status"], row["attempts"], row["answers"]) == (
        "partial", 2, {"rating": "4", "bribe": "2"})


async def test_workers_on_one_database_never_claim_a_transaction_twice(
        store: SQLiteStore) -> None:
    """Three workers (a pool or connection each, as three processes have) claim at once."""
    from ivr.store import open_store

    n = 120
    await store.add_transactions(
        [Transaction(office="PS Gulberg", ref=f"W{i}", name="", mobile=f"+92300{i:07d}",
                     service="Police", district="Lahore", official="", visited_at=T0)
         for i in range(n)], T0)
    url = store.db.url.dsn or str(store.db.url)
    workers = [await open_store(url) for _ in range(3)]
    try:
        async def work(w: SQLiteStore, node: str) -> list[int]:
            got: list[int] = []
            while True:
                batch = await w.claim_due(T0, 7, node=node)
                if not batch:
                    return got
                got += [a.transaction_id for a in batch]

        claims = await asyncio.gather(*(work(w, f"w{i}") for i, w in enumerate(workers)))
    finally:
        for w in workers:
            await w.close()
    every = [t for c in claims for t in c]
    assert len(every) == n and len(set(every)) == n  # each transaction once, by one worker
    assert await store.status_counts() == {"dialing": n}
    assert await value(store, "SELECT COUNT(*) FROM attempts") == n


async def test_a_dead_workers_attempts_are_taken_over_once_its_lease_runs_out(
        store: SQLiteStore) -> None:
    await store.add_transactions([tx("R1", A), tx("R2", B)], T0)
    lease = timedelta(seconds=60)
    a1, a2 = await store.claim_due(T0, 2, worker="w1", lease_until=T0 + lease)
    # w1 lives: it renews; w2 finds nothing to take over.
    assert await store.renew_leases("w1", T0 + timedelta(seconds=20) + lease) == 2
    assert await store.open_attempts("w2", T0 + timedelta(seconds=70), T0 + 2 * lease,
                                     others_only=True) == []
    # w1 dies (no more renewals): after its lease, w2 takes both over, exactly once.
    later = T0 + timedelta(seconds=81)
    taken = await store.open_attempts("w2", later, later + lease, others_only=True)
    assert [t[0] for t in taken] == [a1.id, a2.id]
    assert await store.open_attempts("w3", later, later + lease, others_only=True) == []
    assert await store.renew_leases("w1", later + lease) == 0  # no longer w1's
    # w2's own restart finds them as its own; nothing was dialled again.
    assert len(await store.open_attempts("w2", later, later + lease)) == 2
    assert await value(store, "SELECT COUNT(*) FROM attempts") == 2


async def test_workers_share_a_trunks_channel_limit_through_the_database(
        store: SQLiteStore) -> None:
    """Three workers, one trunk of 4 channels: never more than 4 calls open on it in all."""
    from ivr.store import open_store

    await store.add_transactions(
        [Transaction(office="PS Gulberg", ref=f"T{i}", name="", mobile=f"+92301{i:07d}",
                     service="Police", district="Lahore", official="", visited_at=T0)
         for i in range(20)], T0)
    url = store.db.url.dsn or str(store.db.url)
    workers = [await open_store(url) for _ in range(3)]
    limit = {"t1": 4}
    try:
        got = await asyncio.gather(*(w.claim_due(T0, 3, route=lambda n: "t1",
                                                 trunk_channels=limit) for w in workers))
        assert sum(len(g) for g in got) == 4  # 3 + 1 + 0, in whichever order they ran
        assert await workers[0].claim_due(T0, 3, route=lambda n: "t1",
                                          trunk_channels=limit) == []
        ended = [a for g in got for a in g][:2]
        for a in ended:  # two calls end: two channels free up, for any worker
            await store.attempt_failed(a.id, Outcome.NO_ANSWER, T0, next_status=TxStatus.SCHEDULED,
                                       next_try_at=T0 + timedelta(hours=1))
        assert len(await workers[2].claim_due(T0, 3, route=lambda n: "t1",
                                              trunk_channels=limit)) == 2
    finally:
        for w in workers:
            await w.close()
    assert await value(store, "SELECT COUNT(*) FROM attempts WHERE ended_at IS NULL") == 4


async def test_two_workers_sampling_one_batch_at_once_apply_one_choice(
        store: SQLiteStore) -> None:
    from ivr.store import open_store

    await store.add_transactions(
        [Transaction(office="PS Gulberg", ref=f"S{i}", name="", mobile=f"+92302{i:07d}",
                     service="Police", district="Lahore", official="", visited_at=T0)
         for i in range(6)], T0)
    ids = sorted(r["id"] for r in await store.unsampled())
    url = store.db.url.dsn or str(store.db.url)
    a, b = await open_store(url), await open_store(url)
    try:
        done = await asyncio.gather(a.apply_sample({i: 0.5 for i in ids[:3]}, ids[3:], T0),
                                    b.apply_sample({i: 0.5 for i in ids[3:]}, ids[:3], T0))
    finally:
        await a.close()
        await b.close()
    assert sorted(done) == [False, True]  # one batch, one choice: never both
    counts = await store.status_counts()
    assert counts == {"pending": 3, "expired": 3}

"""Unit tier: a day's load over capacity is sampled, stratified by office and official, with
selection probabilities stored; the dialer's claim then takes only kept transactions."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ivr.models import Transaction
from ivr.store import SQLiteStore
from scheduler import policy
from scheduler.sampler import sample_new

TZ = "Asia/Karachi"
# 2026-11-28 10:00 in Lahore (UTC+5, no DST).
DAY = datetime(2026, 11, 28, 5, 0, tzinfo=UTC)


@pytest.mark.parametrize(("capacity", "selected", "seen", "batch", "expected", "quota"), [
    (0, 0, 0, 500, 0, 500),        # no capacity set: everyone is called
    (100, 0, 0, 50, 0, 50),        # under capacity
    (100, 0, 0, 400, 0, 100),      # a whole day at once: capacity
    (100, 0, 0, 100, 400, 25),     # a quarter of an expected 400: a quarter of the capacity
    (100, 25, 100, 100, 400, 25),  # the next quarter
    (100, 90, 300, 100, 400, 10),  # never more than what is left
    (100, 100, 400, 50, 400, 0),   # the day is full
    (100, 0, 0, 3, 400, 1),        # rounds up: a small batch still gets a call
    (100, 0, 500, 100, 400, 17),   # busier than expected: the rate follows what came
])
def test_batch_quota(capacity: int, selected: int, seen: int, batch: int, expected: float,
                     quota: int) -> None:
    assert policy.batch_quota(capacity, selected, seen, batch, expected) == quota


@given(st.integers(1, 500), st.lists(st.integers(1, 200), min_size=1, max_size=12),
       st.integers(0, 2000))
def test_a_day_of_batches_never_exceeds_capacity(capacity: int, batches: list[int],
                                                 expected: int) -> None:
    selected = seen = 0
    for batch in batches:
        q = policy.batch_quota(capacity, selected, seen, batch, expected)
        assert 0 <= q <= batch
        selected += q
        seen += batch
    assert selected <= capacity
    if max(sum(batches), expected) <= capacity:
        assert selected == sum(batches)  # a day expected under capacity: nobody is left out


def visits(n: int, offices: int, when: datetime, prefix: str = "V") -> list[Transaction]:
    return [Transaction(office=f"office-{i % offices}", ref=f"{prefix}{i:04d}", name="",
                        mobile=f"+92300{7000000 + i:07d}", service="police", district="Lahore",
                        official=f"official-{i % 2}", visited_at=when, language="ur")
            for i in range(n)]


async def rows(store: SQLiteStore) -> list[dict[str, object]]:
    async with store._db.execute(
            "SELECT ref, office, status, closed_reason, sampled, selection_probability "
            "FROM transactions") as cur:
        return [dict(r) for r in await cur.fetchall()]


async def test_a_day_over_capacity_is_sampled_covering_every_office(store: SQLiteStore) -> None:
    await store.add_transactions(visits(200, 8, DAY), DAY)
    left_out = await sample_new(store, DAY + timedelta(hours=2), 40, TZ)
    assert left_out == 160
    got = await rows(store)
    kept = [r for r in got if r["status"] == "pending"]
    dropped = [r for r in got if r["status"] == "expired"]
    assert len(kept) == 40 and len(dropped) == 160
    assert {r["closed_reason"] for r in dropped} == {"not_sampled"}
    assert all(r["sampled"] == 1 for r in got)
    assert {r["office"] for r in kept} == {f"office-{i}" for i in range(8)}  # every office
    # 16 strata (8 offices x 2 officials) of 12-13 visits: 2-3 kept each; 1/p sums to the day.
    assert sum(1 / float(r["selection_probability"]) for r in kept) == pytest.approx(200, rel=0.01)
    # Nothing left to sample: a second run is a no-op.
    assert await sample_new(store, DAY + timedelta(hours=3), 40, TZ) == 0


async def test_the_claim_takes_only_kept_transactions(store: SQLiteStore) -> None:
    await store.add_transactions(visits(30, 3, DAY), DAY)
    now = DAY + timedelta(hours=3)
    assert await store.claim_due(now, 100, sampled_only=True) == []  # nothing sampled yet
    await sample_new(store, now, 10, TZ)
    claimed = await store.claim_due(now, 100, sampled_only=True)
    assert len(claimed) == 10


async def test_later_batches_share_the_rest_of_the_day(store: SQLiteStore) -> None:
    # A week of history: about 100 visits a day.
    for d in range(1, 8):
        await store.add_transactions(visits(100, 4, DAY - timedelta(days=d), f"H{d}-"), DAY)
    async with store._db.execute("UPDATE transactions SET sampled = 1, status = 'completed'"):
        pass
    await store._db.commit()
    await store.add_transactions(visits(25, 4, DAY, "M"), DAY)  # the morning's first batch
    await sample_new(store, DAY + timedelta(hours=2), 20, TZ)
    morning = Counter(r["status"] for r in await rows(store) if str(r["ref"]).startswith("M"))
    assert morning["pending"] == 5  # a quarter of the expected day gets a quarter of capacity
    await store.add_transactions(visits(200, 4, DAY + timedelta(hours=4), "E"), DAY)
    await sample_new(store, DAY + timedelta(hours=6), 20, TZ)
    evening = Counter(r["status"] for r in await rows(store) if str(r["ref"]).startswith("E"))
    assert evening["pending"] == 15  # what capacity is left; never more


@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 4)), min_size=1, max_size=120),
       st.integers(1, 60), st.integers(0, 2**31))
# Found by hypothesis: one seat per office first left office 0's third official without one.
@example([(0, 0), (0, 0), (0, 1), (0, 2), (1, 0), (1, 0)], 4, 0)
def test_nested_sample_covers_every_office_and_stays_within_capacity(
        visits_: list[tuple[int, int]], capacity: int, seed: int) -> None:
    items = list(enumerate(visits_))  # (index, (office, official))
    picked = policy.nested_sample(items, capacity, lambda x: x[1][0], lambda x: x[1], seed)
    assert len(picked) == min(capacity, len(items))
    assert len({i for (i, _), _ in picked}) == len(picked)  # no item twice
    assert all(0 < p <= 1 for _, p in picked)
    offices = {o for o, _ in visits_}
    if capacity >= len(offices):
        assert {v[0] for (_, v), _ in picked} == offices
    if capacity >= len(set(visits_)):  # a seat for every (office, official): exact weights
        assert sum(1 / p for _, p in picked) == pytest.approx(len(items))


def test_nested_sample_probabilities_are_unbiased() -> None:
    # Over many seeds, each item's frequency of selection matches its stated probability.
    items = [(i, (i % 3, i % 7)) for i in range(40)]
    freq: Counter[int] = Counter()
    stated: dict[int, float] = {}
    runs = 3000
    for seed in range(runs):
        for (i, _), p in policy.nested_sample(items, 5, lambda x: x[1][0], lambda x: x[1], seed):
            freq[i] += 1
            stated[i] = p
    for i, p in stated.items():
        assert freq[i] / runs == pytest.approx(p, abs=0.03), (i, freq[i] / runs, p)

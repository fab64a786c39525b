"""A trunk's calls per second shared by every worker: send times booked in the database.

Two stores on one database stand for two workers; they book at once on one trunk, and the
booked times, whoever booked them, are 1/cps apart (on SQLite and on PostgreSQL).
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from ivr.calls import CallRegistry
from ivr.config import load_settings
from ivr.models import Attempt
from ivr.store import SQLiteStore, open_store
from scheduler.dialer import Dialer
from scheduler.rules import Rules

pytestmark = pytest.mark.both_backends  # the store tests run on SQLite and PostgreSQL

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
CPS = {"jazz": 4.0, "zong": 10.0}


def _second_worker(store: SQLiteStore) -> str:
    url = store.db.url
    return url.dsn if url.scheme == "postgresql" else f"sqlite:///{url.path}"


async def test_two_workers_booking_at_once_keep_the_trunks_pace(store: SQLiteStore) -> None:
    other = await open_store(_second_worker(store))
    try:
        async def book(s: SQLiteStore, worker: str, first: int) -> None:
            for batch in range(5):
                ids = range(first + batch * 10, first + batch * 10 + 10)
                await s.book_sends([(i, "jazz" if i % 3 else "zong", NOW) for i in ids],
                                   CPS, NOW, worker=worker)
        await asyncio.gather(book(store, "w1", 0), book(other, "w2", 1000))
    finally:
        await other.close()
    for trunk, cps in CPS.items():
        booked = await store.booked_sends(trunk)
        assert {w for _, w in booked} == {"w1", "w2"}
        gaps = [(b[0] - a[0]).total_seconds() for a, b in itertools.pairwise(booked)]
        assert min(gaps) >= 1 / cps - 1e-6, (trunk, min(gaps))
        # and so no second holds more than cps sends
        times = [t for t, _ in booked]
        assert max(sum(1 for u in times if t <= u < t + timedelta(seconds=1))
                   for t in times) <= cps


async def test_not_before_and_unpaced_trunks(store: SQLiteStore) -> None:
    later = NOW + timedelta(seconds=30)
    got = await store.book_sends([(1, "jazz", NOW), (2, "jazz", later), (3, "", NOW),
                                  (4, "jazz", NOW)], CPS, NOW)
    assert got[1] == NOW and got[2] == later and got[3] == NOW
    assert got[4] == later + timedelta(seconds=0.25)  # after the trunk's latest booking
    # a minute on, the old bookings are gone and a new one goes at once
    again = NOW + timedelta(minutes=5)
    assert (await store.book_sends([(5, "jazz", again)], CPS, again))[5] == again
    assert [t for t, _ in await store.booked_sends("jazz")] == [again]


async def test_two_dialers_send_on_the_trunks_shared_pace(store: SQLiteStore) -> None:
    # The default trunk's cps is calls_per_second (4): each dialer alone would send its own
    # batch at 4 a second; together they keep 4 a second on the trunk.
    def dialer(worker: str) -> Dialer:
        settings = load_settings(env={}, overrides={"calls_per_second": 4.0,
                                                    "worker": worker})
        ami: Any = SimpleNamespace(name="pbx", subscribe=lambda kind, handler: None)
        return Dialer(store=store, ami=[ami], settings=settings, calls=CallRegistry(),
                      rules=Rules.from_settings(settings), clock=lambda: datetime.now(UTC))
    one, two = dialer("w1"), dialer("w2")
    trunk = one.pacer.trunks[0].name

    def batch(first: int) -> list[Attempt]:
        return [Attempt(i, i, "+923000000000", NOW, trunk=trunk) for i in range(first, first + 4)]
    times = sorted([*(await one._send_times(batch(1))).values(),
                    *(await two._send_times(batch(11))).values()])
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.25 - 0.01, gaps  # the loop clock's conversion: within 10 ms
    assert times[-1] - times[0] >= 7 * 0.25 - 0.01

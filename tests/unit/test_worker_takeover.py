"""Several engine workers on one database: a dead worker's open attempts are taken over by a
live one once their lease has run out, settled as after a restart, and never dialled again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from storehelpers import sql

from ivr.calls import CallRegistry
from ivr.config import load_settings
from ivr.models import Transaction
from ivr.store import SQLiteStore
from scheduler.dialer import Dialer
from scheduler.rules import Rules

pytestmark = pytest.mark.both_backends

T0 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
LEASE_S = 60.0  # the worker_lease default


def worker(store: SQLiteStore, node: str, at: datetime) -> Dialer:
    settings = load_settings(env={}, overrides={"node": node})
    ami: Any = SimpleNamespace(name=f"{node}-pbx", connected=False,  # its PBX is gone too
                               subscribe=lambda kind, handler: lambda: None,
                               hangup_cause=lambda attempt: None, forget=lambda attempt: None)
    return Dialer(store=store, ami=[ami], settings=settings, calls=CallRegistry(),
                  rules=Rules.from_settings(settings), clock=lambda: at)


async def test_a_dead_workers_calls_are_settled_by_another_after_its_lease(
        store: SQLiteStore) -> None:
    await store.add_transactions([
        Transaction(office="PS Gulberg", ref=f"R{i}", name="", mobile=f"+92300000000{i}",
                    service="Police", district="Lahore", official="", visited_at=T0)
        for i in range(2)], T0)
    answered, rung = await store.claim_due(T0, 2, worker="w1",
                                           lease_until=T0 + timedelta(seconds=LEASE_S))
    await store.survey_started(answered.id, T0)
    await store.save_answer(answered.id, "rating", "4", T0)
    # w1 is killed here. w2, alive, looks while w1's lease still runs: nothing to take.
    assert await worker(store, "w2", T0 + timedelta(seconds=30)).reconcile(
        others_only=True) == 0
    after = T0 + timedelta(seconds=LEASE_S + 1)
    assert await worker(store, "w2", after).reconcile(others_only=True) == 2
    assert await worker(store, "w3", after).reconcile(others_only=True) == 0  # settled once
    rows = await sql(store, "SELECT id, ended_at IS NOT NULL, result, outcome, worker "
                            "FROM attempts ORDER BY id")
    assert [(r[0], bool(r[1]), r[4]) for r in rows] == [(answered.id, True, "w2"),
                                                        (rung.id, True, "w2")]
    assert rows[0][2] == "partial" and rows[1][3] == "unknown"
    assert await store.answers_for_attempt(answered.id) == {"rating": "4"}  # nothing lost
    statuses = await store.status_counts()
    assert "dialing" not in statuses and "in_call" not in statuses


async def test_a_workers_own_attempt_no_task_holds_is_settled_while_it_runs(
        store: SQLiteStore) -> None:
    # A step cut off by a database restart leaves an attempt of a live worker open, with no
    # task of that worker to finish it: its next lease round settles it; one a call of it
    # still holds is left alone.
    await store.add_transactions([
        Transaction(office="PS Gulberg", ref=f"O{i}", name="", mobile=f"+92300000001{i}",
                    service="Police", district="Lahore", official="", visited_at=T0)
        for i in range(2)], T0)
    orphan, held = await store.claim_due(T0, 2, worker="pbx1",
                                         lease_until=T0 + timedelta(seconds=LEASE_S))
    w = worker(store, "pbx1", T0 + timedelta(seconds=5))
    w.calls.track(held.id)
    assert await w.reconcile(others_only=True) == 0  # its own: not another's
    assert await w.reconcile(untracked=True) == 1
    rows = await sql(store, "SELECT id, ended_at IS NOT NULL FROM attempts ORDER BY id")
    assert [(r[0], bool(r[1])) for r in rows] == [(orphan.id, True), (held.id, False)]

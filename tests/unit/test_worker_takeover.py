"""Several engine workers on one database: a dead worker's open attempts are taken over by a
live one once their lease has run out, settled as after a restart, and never dialled again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from storehelpers import sql

from ivr.calls import CallRegistry
from ivr.config import load_settings
from ivr.models import Transaction
from ivr.store import SQLiteStore
from scheduler import dialer
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


async def test_a_call_on_a_node_that_died_is_settled_though_no_hangup_ever_comes(
        store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    # The dialling worker waits for an answered call's end: a survey session here, or the
    # hangup on the node's AMI (the session may run on another worker). A node killed sends no
    # hangup: once its AMI has been gone NODE_DOWN_AFTER_S, the call is closed here.
    monkeypatch.setattr(dialer, "NODE_DOWN_AFTER_S", 0.05)
    monkeypatch.setattr(dialer, "NODE_POLL_S", 0.01)
    await store.add_transactions([
        Transaction(office="PS Gulberg", ref=f"N{i}", name="", mobile=f"+92300000002{i}",
                    service="Police", district="Lahore", official="", visited_at=T0)
        for i in range(2)], T0)
    gone, talking = await store.claim_due(T0, 2, worker="w1",
                                          lease_until=T0 + timedelta(seconds=LEASE_S))
    for a in (gone, talking):
        await store.survey_started(a.id, T0)
    w = worker(store, "w1", T0 + timedelta(seconds=9))
    ami = w.amis[0]  # connected=False: the node is down
    await asyncio.wait_for(w._until_ended(gone.id, asyncio.Event(), ami, answered=True), 5)
    w.calls.session_started(talking.id)  # its session runs here: that session will end it
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(w._until_ended(talking.id, asyncio.Event(), ami,
                                              answered=True), 0.3)
    rows = await sql(store, "SELECT id, ended_at IS NOT NULL, result FROM attempts ORDER BY id")
    assert [(r[0], bool(r[1]), r[2]) for r in rows] == [(gone.id, True, "partial"),
                                                        (talking.id, False, None)]


class DroppingAMI:
    """A node's AMI that is logged in until the test drops it (wait_lost as the real one)."""

    name = "w1-pbx"

    def __init__(self) -> None:
        self.connected = True
        self.lost = asyncio.Event()
        self.waits = 0

    async def wait_lost(self) -> None:
        self.waits += 1
        if self.connected:
            await self.lost.wait()

    def drop(self) -> None:
        self.connected = False
        self.lost.set()


async def test_a_call_on_a_live_node_waits_without_polling_and_is_settled_once_the_node_goes(
        store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    # While the node's AMI is logged in, the dialling task sleeps until the call ends or the
    # AMI drops (one wait, not a wake-up every NODE_POLL_S); after a drop it settles the call
    # once the node has been gone NODE_DOWN_AFTER_S.
    monkeypatch.setattr(dialer, "NODE_DOWN_AFTER_S", 0.05)
    monkeypatch.setattr(dialer, "NODE_POLL_S", 0.01)
    await store.add_transactions([
        Transaction(office="PS Gulberg", ref=f"L{i}", name="", mobile=f"+92300000003{i}",
                    service="Police", district="Lahore", official="", visited_at=T0)
        for i in range(2)], T0)
    ends, drops = await store.claim_due(T0, 2, worker="w1",
                                        lease_until=T0 + timedelta(seconds=LEASE_S))
    for a in (ends, drops):
        await store.survey_started(a.id, T0)
    w = worker(store, "w1", T0 + timedelta(seconds=9))
    ami: Any = DroppingAMI()
    ended = asyncio.Event()
    task = asyncio.create_task(w._until_ended(ends.id, ended, ami, answered=True))
    await asyncio.sleep(0.2)  # twenty NODE_POLL_S
    assert not task.done() and ami.waits == 1
    ended.set()
    await asyncio.wait_for(task, 1)

    task = asyncio.create_task(w._until_ended(drops.id, asyncio.Event(), ami, answered=True))
    await asyncio.sleep(0.1)
    assert not task.done()  # the node answers: the call goes on
    ami.drop()
    await asyncio.wait_for(task, 2)
    rows = await sql(store, "SELECT id, ended_at IS NOT NULL, result FROM attempts ORDER BY id")
    assert [(r[0], bool(r[1]), r[2]) for r in rows] == [(ends.id, False, None),
                                                        (drops.id, True, "partial")]

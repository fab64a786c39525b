"""Bribe answers over two weeks for the watch-list tests (overview and daily digest).

Three offices answer the bribe question 40 times a week. Last week each had 2 "yes"; this
week the Lahore and Multan offices had 20 (a rise no chance explains), Sialkot 2 again.
NOW (web_support) is Thursday 2024-05-02, so "this week" starts Monday 2024-04-29.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storehelpers import sql

from ivr.models import Transaction
from ivr.store import SQLiteStore
from ivr.store.sqlite import ts

OFFICES = [("DC Office Lahore", "Lahore", "Domicile"), ("DC Office Multan", "Multan", "Police"),
           ("DC Office Sialkot", "Sialkot", "Domicile")]
RISING = {"DC Office Lahore", "DC Office Multan"}
LAST_WEEK = datetime(2024, 4, 23, 6, 0, tzinfo=UTC)
THIS_WEEK = datetime(2024, 4, 30, 6, 0, tzinfo=UTC)
PER_WEEK = 40


async def seed_weeks(store: SQLiteStore, now: datetime) -> None:
    """Add the transactions, one answered attempt each, and their bribe answers."""
    txs, yes = [], []
    for office, district, service in OFFICES:
        for week, visited in (("last", LAST_WEEK), ("this", THIS_WEEK)):
            rises = week == "this" and office in RISING
            for i in range(PER_WEEK):
                ref = f"{office[-3:]}-{week}-{i}"
                txs.append(Transaction(office=office, ref=ref, name="", service=service,
                                       mobile=f"+9230{len(txs):08d}", district=district,
                                       official=f"official-{i % 2}",
                                       visited_at=visited + timedelta(minutes=i)))
                yes.append(i < (20 if rises else 2))
    await store.add_transactions(txs, now)
    for tx, said_yes in zip(txs, yes, strict=True):
        stored = await store.transaction(tx.office, tx.ref)
        assert stored is not None and stored.id is not None
        at = ts(tx.visited_at + timedelta(hours=3))
        rows = await sql(store, "INSERT INTO attempts (transaction_id, number, started_at, "
                         "answered_at, ended_at, outcome, result) VALUES (?, ?, ?, ?, ?, "
                         "'answered', 'completed') RETURNING id",
                         (stored.id, tx.mobile, at, at, at))
        await sql(store, "INSERT INTO answers (attempt_id, transaction_id, question, value, "
                  "answered_at) VALUES (?, ?, 'bribe', ?, ?)",
                  (rows[0][0], stored.id, "1" if said_yes else "2", at))

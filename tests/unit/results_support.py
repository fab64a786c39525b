"""Helpers for the results tests: surveyed transactions written through the store's own API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ivr.models import Transaction, TxStatus
from ivr.store import SQLiteStore

VISITED = datetime(2024, 5, 1, 5, 0, tzinfo=UTC)  # 10:00 in Karachi, 1 May


@dataclass(frozen=True)
class Visit:
    """One visit and what the citizen answered ('' for a question left unanswered)."""

    district: str = "Lahore"
    service: str = "Domicile"
    office: str = "DC Office Lahore"
    official: str = "Bilal"
    rating: str = "5"
    bribe: str = "2"
    visited_at: datetime = VISITED


_counter = [0]


async def survey(store: SQLiteStore, visits: list[Visit], now: datetime,
                 probabilities: dict[int, float] | None = None) -> list[int]:
    """Add the visits, call each once and store its answers; return the transaction ids.

    probabilities: index -> selection probability, as a day's sample would set it.
    """
    txs = []
    for v in visits:
        _counter[0] += 1
        n = _counter[0]
        txs.append(Transaction(office=v.office, ref=f"R{n}", name="", mobile=f"+92300{n:07d}",
                               service=v.service, district=v.district, official=v.official,
                               visited_at=v.visited_at))
    await store.add_transactions(txs, now)
    ids = []
    for t in txs:
        got = await store.transaction(t.office, t.ref)
        assert got is not None and got.id is not None
        ids.append(got.id)
    if probabilities:
        await store.apply_sample({ids[i]: p for i, p in probabilities.items()}, [], now)
    attempts = await store.claim_due(now + timedelta(seconds=1), len(txs))
    assert len(attempts) == len(txs)
    by_tx = {a.transaction_id: a for a in attempts}
    for tx_id, v in zip(ids, visits, strict=True):
        attempt = by_tx[tx_id]
        await store.survey_started(attempt.id, now)
        if v.rating:
            await store.save_answer(attempt.id, "rating", v.rating, now)
        if v.bribe:
            await store.save_answer(attempt.id, "bribe", v.bribe, now)
        await store.finish_call(attempt.id, TxStatus.COMPLETED, now)
    return ids


def many(n: int, **fields: object) -> list[Visit]:
    return [Visit(**fields) for _ in range(n)]  # type: ignore[arg-type]

"""A day's load over the lines' capacity, on the real PBX: the dialer calls a stratified
sample (every office covered), and the carrier simulator hears from exactly those citizens."""

from __future__ import annotations

from support import (
    Citizen,
    carrier_cdr_counts,
    install_phonebook,
    run_until_idle,
    transactions_for,
    wait_carrier_idle,
)

from ivr import phone
from ivr.config import Settings
from ivr.store import SQLiteStore


async def test_only_the_days_sample_is_dialled(node_settings: Settings, store: SQLiteStore) -> None:
    citizens = [Citizen(f"0301666{i:04d}", "answer", "s1s5s2") for i in range(16)]
    install_phonebook(node_settings, citizens)
    txs = transactions_for(citizens, "sample")  # four offices, five officials
    await store.add_transactions(txs, txs[0].visited_at)
    before = carrier_cdr_counts(node_settings)
    await run_until_idle(node_settings, store, daily_capacity=6)
    wait_carrier_idle(node_settings)
    after = carrier_cdr_counts(node_settings)

    results = {r["ref"]: r for r in await store.results()}
    kept = [t for t in txs if results[t.ref]["status"] == "completed"]
    dropped = [t for t in txs if results[t.ref]["status"] == "expired"]
    assert len(kept) == 6 and len(dropped) == 10, Counter_of(results)
    assert {results[t.ref]["closed_reason"] for t in dropped} == {"not_sampled"}
    assert {t.office for t in kept} == {t.office for t in txs}  # every office covered
    assert all(0 < results[t.ref]["selection_probability"] < 1 for t in kept)
    for t in txs:  # the carrier heard exactly the kept ones, once each
        d = phone.digits(t.mobile)
        assert after[d] - before[d] == (1 if t in kept else 0), t.mobile


def Counter_of(results: dict[str, dict[str, object]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in results.values():
        out[str(r["status"])] = out.get(str(r["status"]), 0) + 1
    return out

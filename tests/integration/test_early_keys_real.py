"""Integration: a key that arrives as the next question begins is never stored as its answer.

Over real SIP and RFC 4733 through the carrier simulator, each citizen rates 4 and at once
presses 1 (`s41`): the 1 was meant for the rating, which a single key already answered, and it
reaches the PBX about half a second into the bribe question. Stored as the bribe answer it would be a
false "yes, a bribe was asked" against an official. With `early_key_s` the flow asks the bribe
question again and the citizen's own answer (2, no) is stored. Run with RABTA_EARLY_KEY_S=0
and it fails: that is how the rule was checked.
"""

from __future__ import annotations

import os
from dataclasses import replace as dc_replace

from support import Citizen, install_phonebook, run_until_idle, transactions_for

from ivr.config import Settings
from ivr.store import SQLiteStore


async def test_a_late_key_never_becomes_the_next_answer(node_settings: Settings,
                                                        store: SQLiteStore) -> None:
    early = float(os.environ.get("RABTA_EARLY_KEY_S", "1.0"))
    citizens = [Citizen(f"0300555{9810 + i}", "answer", "s1s41s2") for i in range(4)]
    install_phonebook(node_settings, citizens)
    txs = [dc_replace(tx, service="police") for tx in transactions_for(citizens, "early")]
    assert await store.add_transactions(txs, txs[0].visited_at) == (len(txs), 0)
    await run_until_idle(node_settings, store, timeout=240, early_key_s=early)
    rows = {r["ref"]: r for r in await store.results() if r["ref"].startswith("early")}
    wrong = {ref: r["answers"] for ref, r in rows.items()
             if r["answers"] != {"visit_confirmed": "1", "rating": "4", "bribe": "2"}}
    assert len(rows) == len(citizens)
    assert wrong == {}, f"answers stored for the wrong question: {wrong}"

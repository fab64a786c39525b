"""Integration: a key pressed while the visit confirmation's fragments play, on the real PBX.

The fragments before the confirmation's question go to Asterisk in one command (EXEC
Background, `AGIChannel.stream_files`): no gap between them where a key is lost, one wake-up.
A citizen who confirms the visit (1) in the middle of them, over real SIP with RFC 4733 DTMF
through the carrier simulator, must have it stored as the confirmation at once (the question
itself is never asked) and the rest of the survey go on.
"""

from __future__ import annotations

from dataclasses import replace as dc_replace

from support import Citizen, install_phonebook, run_until_idle, transactions_for

from ivr.config import Settings
from ivr.store import SQLiteStore

# The English intro (greeting 7.0 s, opt-out hint 3.2 s) ends about 10 s after the answer; the
# fragments of an office without a recorded name (visit-intro 2.2 s, "on", the date, "for",
# the service) play from there to about 15 s. A key at 13 s is well inside them and more than
# the early-key rule's 1 s after they began, even if the engine starts a second late.
KEYS = "w" * 13 + "1" + "s4s2"


async def test_a_key_during_the_fragments_confirms_the_visit_at_once(
        node_settings: Settings, store: SQLiteStore) -> None:
    citizen = Citizen("03005559802", "answer", KEYS)
    install_phonebook(node_settings, [citizen])
    [tx] = transactions_for([citizen], "preamble")
    tx = dc_replace(tx, service="police", language="en")
    assert await store.add_transactions([tx], tx.visited_at) == (1, 0)
    await run_until_idle(node_settings, store, timeout=180)
    [row] = [r for r in await store.results() if r["ref"] == tx.ref]
    assert row["status"] == "completed", row
    assert row["answers"] == {"visit_confirmed": "1", "rating": "4", "bribe": "2"}, row
    stored = await store.transaction(tx.office, tx.ref)
    assert stored is not None and stored.id is not None
    [attempt] = await store.attempts_of(stored.id)
    played = {r["question"]: r["prompts"] for r in await store.answer_rows(attempt["id"])}
    # The key cut the fragments short: the confirmation's own question never played.
    assert played["visit_confirmed"][0] == "visit-intro", played
    assert "visit-confirm" not in played["visit_confirmed"], played

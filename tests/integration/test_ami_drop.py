"""AMI fault: the TCP link to Asterisk is cut while Originates are in flight (several times).

panoramisk re-sends unanswered actions after a reconnect, which would dial a citizen twice.
Here every attempt must be dialled at most once: the carrier simulator's CDRs count the calls
it really received per number, and that must equal the attempts the store recorded, less
only attempts closed as `unknown`. A cut can lose an Originate before Asterisk reads it; the
engine cannot tell that from a call that came and went while AMI was down, so it counts the
attempt and never redials it (a make test run saw one: the store's `unknown` attempt 36 had no
call at the carrier). Every transaction must still reach a final state, and every answer given
must be stored.
"""

from __future__ import annotations

import asyncio

from support import (
    Citizen,
    TCPProxy,
    carrier_cdr_counts,
    install_phonebook,
    transactions_for,
)

from ivr import phone
from ivr.config import Settings, replace
from ivr.engine import Engine
from ivr.store import SQLiteStore

FINAL = {"completed", "partial", "unreachable"}


async def test_cutting_ami_mid_originate_never_dials_an_attempt_twice(
        node_settings: Settings, store: SQLiteStore) -> None:
    citizens = (
        [Citizen(f"0300777{i:04d}", "answer", "s1s3s2", ring_s="4") for i in range(12)]
        + [Citizen(f"0300777{i:04d}", "no_answer", ring_s="3") for i in range(12, 18)]
        + [Citizen(f"0300777{i:04d}", "busy") for i in range(18, 22)]
    )
    install_phonebook(node_settings, citizens)
    txs = transactions_for(citizens, "amidrop")
    await store.add_transactions(txs, txs[0].visited_at)
    before = carrier_cdr_counts(node_settings)

    proxy = TCPProxy(node_settings.ami_port)
    await proxy.start()
    # The engine reaches AMI only through the proxy; Asterisk itself still listens on its port.
    settings = replace(node_settings, ami_port=proxy.port, max_concurrent=30, max_attempts=3)
    engine = Engine(settings, store)
    await engine.start()
    cuts = 0
    try:
        dialer = asyncio.create_task(engine.dialer.run(until_idle=True))
        for delay in (1.5, 3.0, 6.0):  # mid-ring (ring_s=3..4 s), then again on reconnect
            await asyncio.sleep(delay)
            cuts += proxy.cut()
        await asyncio.wait_for(dialer, 150)
    finally:
        await engine.close()
        await proxy.close()

    assert cuts >= 2, "the test never cut a live AMI connection"
    assert proxy.connections >= 3  # it really reconnected after each cut
    assert engine.dialer.stats.outcomes.get("unknown", 0) > 0, "no originate was in flight"
    after = carrier_cdr_counts(node_settings)
    results = {r["ref"]: r for r in await store.results()}
    problems = []
    for tx, citizen in zip(txs, citizens, strict=True):
        r = results[tx.ref]
        dialled = after[phone.digits(tx.mobile)] - before[phone.digits(tx.mobile)]
        stored = await store.transaction(tx.office, tx.ref)
        assert stored is not None and stored.id is not None
        unknown = sum(a["outcome"] == "unknown" for a in await store.attempts_of(stored.id))
        if not r["attempts"] - unknown <= dialled <= r["attempts"]:
            problems.append(f"{citizen.number}: carrier saw {dialled}, store {r['attempts']} "
                            f"({unknown} unknown)")
        if r["status"] not in FINAL:
            problems.append(f"{citizen.number}: left in {r['status']}")
        want = {"visit_confirmed": "1", "rating": "3", "bribe": "2"}
        if citizen.action == "answer" and r["answered"] and r["answers"] != want:
            problems.append(f"{citizen.number}: answers {r['answers']}")
    assert not problems, "\n".join(problems)
    answered = [results[t.ref] for t, c in zip(txs, citizens, strict=True) if c.action == "answer"]
    assert all(r["status"] == "completed" for r in answered), answered

"""End to end: real SIP calls from the PBX through the carrier simulator to scripted citizens.

Every phone book action and key kind is covered: answer / busy / no_answer / congestion /
reject / not in the book; digits, `w` waits, `s` waits-for-the-prompt, `h` hang-ups, hang-up
after N seconds, a ring delay, invalid keys and silence. The store must say exactly what the
phone book scripted: status, attempt count, last outcome and every answer. The carrier's own
CDRs must show each number dialled exactly as many times as the store has attempts.
An answered but unfinished survey (partial) gets its one call-back, so it shows 2 attempts.
Every answering citizen first confirms the visit (`s1`); the survey flows themselves, branch by
branch, are driven in test_surveys_e2e.py.
"""

from __future__ import annotations

from support import (
    Citizen,
    carrier_cdr_counts,
    install_phonebook,
    run_until_idle,
    transactions_for,
)

from ivr import phone
from ivr.config import Settings
from ivr.engine import Engine
from ivr.store import SQLiteStore

C, P, U = "completed", "partial", "unreachable"
OK = {"visit_confirmed": "1"}  # every answering citizen first confirms the visit (key 1)
# citizen, expected status, attempts, last outcome, answers
CASES: list[tuple[Citizen, str, int, str, dict[str, str]]] = [
    *[(Citizen(f"0300555{i:04d}", "answer", f"s1s{r}s{b}"), C, 1, "answered",
       {**OK, "rating": str(r), "bribe": str(b)})
      for i, (r, b) in enumerate([(5, 2), (4, 2), (1, 1), (3, 2), (2, 1), (5, 1), (4, 1),
                                  (3, 1), (2, 2), (1, 2), (5, 2), (4, 2)])],
    (Citizen("+923005550100", "answer", "s1s7s4s2"), C, 1, "answered",  # invalid, then valid
     {**OK, "rating": "4", "bribe": "2"}),
    (Citizen("03005550101", "answer", "s1swwwwws3s2"), C, 1, "answered",  # silence: asked again
     {**OK, "rating": "3", "bribe": "2"}),
    (Citizen("03005550102", "answer", "s1s4sh"), P, 2, "answered", {**OK, "rating": "4"}),  # hangs up
    (Citizen("03005550103", "answer", "", hangup_s="2"), P, 2, "answered", {}),  # in greeting
    (Citizen("03005550104", "answer", "s1s7s8s2"), P, 2, "answered", {**OK, "bribe": "2"}),  # 2 invalid
    (Citizen("03005550105", "answer", "s1s5s1", ring_s="3"), C, 1, "answered",
     {**OK, "rating": "5", "bribe": "1"}),
    (Citizen("03005550106", "answer", ""), P, 2, "answered", {}),  # answers, never presses
    (Citizen("+923005550107", "answer", "s1sw1s2"), C, 1, "answered",
     {**OK, "rating": "1", "bribe": "2"}),
    (Citizen("03005550108", "answer", "s1s2sw1"), C, 1, "answered",
     {**OK, "rating": "2", "bribe": "1"}),
    (Citizen("03005550109", "answer", "s1s3s2", ring_s="1"), C, 1, "answered",
     {**OK, "rating": "3", "bribe": "2"}),
    (Citizen("03005550110", "answer", "s1s5s2"), C, 1, "answered",
     {**OK, "rating": "5", "bribe": "2"}),
    (Citizen("03005550111", "answer", "s1s1s1"), C, 1, "answered",
     {**OK, "rating": "1", "bribe": "1"}),
    (Citizen("03005550200", "busy"), U, 3, "busy", {}),
    (Citizen("+923005550201", "busy"), U, 3, "busy", {}),
    (Citizen("03005550202", "no_answer", ring_s="2"), U, 3, "no_answer", {}),
    (Citizen("03005550203", "congestion"), U, 3, "congestion", {}),
    (Citizen("03005550204", "reject"), U, 1, "rejected", {}),
    (Citizen("03005550205", "answer", in_book=False), U, 3, "no_answer", {}),  # rings out
]


async def test_every_phone_book_behaviour_is_stored_exactly(node_settings: Settings,
                                                              store: SQLiteStore) -> None:
    engine = await check_every_behaviour(node_settings, store)
    assert engine.agi.stats.errors == 0


async def check_every_behaviour(node_settings: Settings, store: SQLiteStore) -> Engine:
    """Run every CASE through a real engine on this node; assert the store and the CDRs.

    Shared with test_classic_agi.py: the classic AGI transport passes this same test.
    """
    citizens = [c for c, *_ in CASES]
    assert len(citizens) >= 30
    install_phonebook(node_settings, citizens)
    txs = transactions_for(citizens, "e2e")
    assert await store.add_transactions(txs, txs[0].visited_at) == (len(txs), 0)
    before = carrier_cdr_counts(node_settings)

    engine = await run_until_idle(node_settings, store)

    after = carrier_cdr_counts(node_settings)
    results = {r["ref"]: r for r in await store.results()}
    problems = []
    total_calls = 0
    for tx, (citizen, status, attempts, outcome, answers) in zip(txs, CASES, strict=True):
        got = results[tx.ref]
        want = {"status": status, "attempts": attempts, "last_outcome": outcome,
                "answers": answers}
        have = {k: got[k] for k in want}
        if have != want:
            problems.append(f"{citizen}: expected {want}, got {have}")
        dialled = after[phone.digits(tx.mobile)] - before[phone.digits(tx.mobile)]
        total_calls += dialled
        if dialled != attempts:
            problems.append(f"{citizen}: carrier saw {dialled} call(s), store has {attempts}")
    assert not problems, "\n".join(problems)
    assert total_calls >= 30
    return engine

"""Known survey answers for the results and overview pages' browser tests and screenshots.

Written through the store as the dialer and the survey write them: transactions, then a claimed
attempt per transaction, its `rating` and `bribe` answers, and the call's end. `KNOWN` gives
exact figures the tests look for (every bribe answer is "no", so the cases queue is unchanged);
`made_up` gives a month of plausible answers across Punjab for the screenshots.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ivr import phone
from ivr.models import Transaction, TxStatus
from ivr.store import SQLiteStore


@dataclass(frozen=True)
class Group:
    """Answers of one district and service: ratings (1-5) and bribe answers (1 yes, 2 no)."""

    district: str
    service: str
    ratings: str
    bribes: str

    @property
    def satisfied(self) -> float:
        """Return the share of ratings 4 or 5."""
        return sum(r in "45" for r in self.ratings) / len(self.ratings)


# Above the minimum of 10 answers, so shown (not withheld) when filtered to service=Health.
KNOWN = [
    Group("Lahore", "Health", "555555555222", "2" * 12),  # 9 of 12 satisfied: 75%
    Group("Multan", "Health", "44441111111", "2" * 11),  # 4 of 11 satisfied
    Group("Multan", "Police", "444444111111", "2" * 12),  # 6 of 12
]


async def answer(store: SQLiteStore, txs: Sequence[Transaction],
                 answers: Sequence[tuple[str, str]], at: Sequence[datetime]) -> None:
    """Add each transaction, call it once at its time in `at` and store its (rating, bribe)."""
    for tx, (rating, bribe), when in zip(txs, answers, at, strict=True):
        await store.add_transactions([tx], tx.visited_at)
        [attempt] = await store.claim_due(when, 1)  # the only one due: the others are done
        assert attempt.number == tx.mobile
        await store.survey_started(attempt.id, when)
        await store.save_answer(attempt.id, "rating", rating, when)
        await store.save_answer(attempt.id, "bribe", bribe, when)
        await store.finish_call(attempt.id, TxStatus.COMPLETED, when)


async def seed_known(store: SQLiteStore, now: datetime, groups: Sequence[Group] = KNOWN) -> None:
    """Store the groups' answers, visited and called at `now` (so they count today)."""
    txs: list[Transaction] = []
    answers: list[tuple[str, str]] = []
    for g in groups:
        for i, (rating, bribe) in enumerate(zip(g.ratings, g.bribes, strict=True)):
            n = len(txs)
            txs.append(Transaction(office=f"DHQ {g.district}", ref=f"R-{g.district}-{g.service}-{i}",
                                   name="", mobile=phone.normalize(f"0301{2000000 + n:07d}"),
                                   service=g.service, district=g.district,
                                   official=f"Dr. {g.district} {i % 2}", visited_at=now))
            answers.append((rating, bribe))
    await answer(store, txs, answers, [now] * len(txs))


# district: (visits, share satisfied, share reporting a bribe)
DISTRICTS = {"Lahore": (420, 0.78, 0.06), "Faisalabad": (260, 0.64, 0.14),
             "Rawalpindi": (230, 0.71, 0.09), "Multan": (180, 0.55, 0.21),
             "Gujranwala": (120, 0.69, 0.11), "Chiniot": (6, 0.5, 0.2),
             "Hafizabad": (7, 0.6, 0.1)}
SERVICES = ["Domicile", "Police", "Health", "Land Revenue", "Pension"]


async def made_up(store: SQLiteStore, now: datetime) -> None:
    """Store four weeks of made-up answers across DISTRICTS (seeded: the same every run)."""
    rnd = random.Random(3)
    txs: list[Transaction] = []
    answers: list[tuple[str, str]] = []
    at: list[datetime] = []
    for district, (n, sat, bribe) in DISTRICTS.items():
        for i in range(n):
            visited = now - timedelta(hours=rnd.randrange(2, 24 * 28))
            office = f"{rnd.choice(['DC Office', 'Police Station', 'DHQ Hospital'])} {district}"
            txs.append(Transaction(office=office, ref=f"{district}-{i}", name="",
                                   mobile=phone.normalize(f"0302{len(txs):07d}"),
                                   service=rnd.choice(SERVICES), district=district,
                                   official=f"Official {rnd.randrange(1, 5)}", visited_at=visited))
            rating = rnd.choice("45") if rnd.random() < sat else rnd.choice("123")
            answers.append((rating, "1" if rnd.random() < bribe else "2"))
            at.append(min(visited + timedelta(hours=2), now - timedelta(minutes=5)))
    await answer(store, txs, answers, at)

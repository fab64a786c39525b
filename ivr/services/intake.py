"""Service, intake: validated transactions in, stored and queued for their first call.

`rabta import` (a CSV) and `POST /api/v1/transactions` (JSON) both validate with
ivr.intake and then call `accept`; this is the one place that decides when a new visit is
first called and how it is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ivr.config import Settings
from ivr.models import Transaction
from ivr.store import SQLiteStore
from scheduler import policy

__all__ = ["Accepted", "accept"]


@dataclass(frozen=True, slots=True)
class Accepted:
    """What an accept did: transactions stored now, and those already known (office + ref)."""

    created: int
    already_present: int


async def accept(store: SQLiteStore, settings: Settings, txs: Sequence[Transaction],
                 now: datetime) -> Accepted:
    """Store validated transactions (all or none), each due `first_call_delay` after its visit."""
    created, present = await store.add_transactions(
        list(txs), now, lambda t: policy.first_try_at(t.visited_at, settings.first_call_delay))
    return Accepted(created, present)

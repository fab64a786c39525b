"""Store, do-not-call: the numbers never to be called again (migration 0002), on either engine."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ivr.store.database import Repository, Tx, ts


class DncRepository(Repository):
    """The do-not-call list: opt-outs from calls, admins' entries and imports."""

    async def dnc_add(self, numbers: Iterable[str], source: str, now: datetime,
                      note: str = "") -> int:
        """Put numbers (E.164) on the do-not-call list; return how many were new."""
        rows = [(n, source, ts(now), note) for n in numbers]
        async with self.db.write() as tx:
            return await tx.executemany(
                "INSERT INTO dnc (number, source, added_at, note) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (number) DO NOTHING", rows)

    async def dnc_add_for_attempt(self, attempt_id: int, source: str, now: datetime,
                                  note: str = "") -> bool:
        """Put the number of an attempt's transaction on the do-not-call list; True if new."""
        async def add(tx: Tx) -> bool:
            return await tx.execute(
                "INSERT INTO dnc (number, source, added_at, note) SELECT t.mobile, ?, ?, ? "
                "FROM attempts a JOIN transactions t ON t.id = a.transaction_id WHERE a.id = ? "
                "ON CONFLICT (number) DO NOTHING", (source, ts(now), note, attempt_id)) == 1
        # Run again after a cut-off commit that landed, it adds nothing (and says so: False).
        return await self.db.transact(add, idempotent=True)

    async def dnc_remove(self, number: str) -> bool:
        """Take a number off the do-not-call list."""
        async with self.db.write() as tx:
            return await tx.execute("DELETE FROM dnc WHERE number = ?", (number,)) == 1

    async def dnc_list(self) -> list[dict[str, Any]]:
        """Return the do-not-call list, newest first."""
        return [dict(r) for r in await self.db.fetch(
            "SELECT number, source, added_at, note FROM dnc ORDER BY added_at DESC")]

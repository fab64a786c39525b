"""Store, pacing: Originate send times booked per trunk, shared by every engine worker.

A trunk's calls-per-second limit is the carrier's, not one worker's: each worker books the
send time of each Originate here (migration 0090, either engine), in one transaction per
claimed batch that takes turns per trunk (PostgreSQL: an advisory lock on the trunk's name;
SQLite: the write transaction), so consecutive bookings on a trunk, whoever made them, are at
least 1/cps apart. The worker then sends no earlier than its booking. Times are UTC on the
workers' wall clocks (keep them in NTP sync).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from ivr.store.database import Repository, Row, parse_ts, ts

KEEP_S = 60.0  # bookings older than this are of no more use to anyone


class PacingRepository(Repository):
    """Shared send-time bookings per trunk."""

    async def book_sends(self, wanted: Sequence[tuple[int, str, datetime]],
                         cps: Mapping[str, float], now: datetime, *,
                         worker: str = "") -> dict[int, datetime]:
        """Book a send time for each (attempt id, trunk, not before), in the order given;
        return each attempt's booked time. A trunk not in `cps` (or at 0) is not paced: its
        time is its not-before. Each booking is 1/cps after the trunk's latest one, by any
        worker, and never before its not-before."""
        out: dict[int, datetime] = {}
        paced = [w for w in wanted if cps.get(w[1], 0) > 0]
        for attempt_id, trunk, not_before in wanted:
            if cps.get(trunk, 0) <= 0:
                out[attempt_id] = not_before
        if not paced:
            return out
        async with self.db.write() as tx:
            rows = []
            for trunk in sorted({w[1] for w in paced}):  # one lock order: no deadlock
                if self.db.dialect == "postgresql":  # workers booking on one trunk take turns
                    await tx.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 1))",
                                     (f"rabta-trunk-sends:{trunk}",))
                await tx.defer("DELETE FROM trunk_sends WHERE trunk = ? AND at < ?",
                               (trunk, ts(now - timedelta(seconds=KEEP_S))))  # with the next
                last = parse_ts(_value(await tx.fetchone(
                    "SELECT MAX(at) FROM trunk_sends WHERE trunk = ?", (trunk,))))
                gap = timedelta(seconds=1.0 / cps[trunk])
                for attempt_id, t, not_before in paced:
                    if t != trunk:
                        continue
                    at = not_before if last is None else max(not_before, last + gap)
                    out[attempt_id] = last = at
                    rows.append((trunk, ts(at), attempt_id, worker))
            for row in rows:  # sent with the COMMIT (SQLite: one trip)
                await tx.defer("INSERT INTO trunk_sends (trunk, at, attempt_id, worker) "
                               "VALUES (?, ?, ?, ?)", row)
        return out

    async def booked_sends(self, trunk: str) -> list[tuple[datetime, str]]:
        """Return the send times still kept for a trunk, with who booked each, oldest first."""
        return [(t, str(r[1])) for r in await self.db.fetch(
            "SELECT at, worker FROM trunk_sends WHERE trunk = ? ORDER BY at", (trunk,))
            if (t := parse_ts(r[0])) is not None]



def _value(row: Row | None) -> str | None:
    return None if row is None else row[0]

"""Scheduler, sampling: when a day brings more visits than the lines can carry, call a sample.

Runs before each claim while `daily_capacity` is set. New visits are taken in batches, per
local visit day: each batch gets its share of the day's capacity (policy.batch_quota) and is
sampled stratified by office and official (policy.stratified_sample), so every office is
covered. Kept transactions carry their selection probability for weighted reports; the others
close as expired with the reason not_sampled. The store applies each batch in one transaction.
"""

from __future__ import annotations

import logging
import zlib
from datetime import datetime, timedelta
from itertools import groupby
from zoneinfo import ZoneInfo

from ivr.store.calls import CallsRepository
from scheduler import policy

log = logging.getLogger(__name__)

HISTORY_DAYS = 7  # the expected volume of a day is the mean of this many days before it


async def sample_new(store: CallsRepository, now: datetime, capacity: int, tz: str) -> int:
    """Put every not-yet-sampled visit through its day's sample; return how many were left out."""
    if capacity <= 0:
        return 0
    zone = ZoneInfo(tz)
    rows = await store.unsampled()
    left_out = 0
    day_of = lambda r: r["visited_at"].astimezone(zone).date()  # noqa: E731
    for day, group in groupby(rows, key=day_of):
        batch = list(group)
        start = datetime(day.year, day.month, day.day, tzinfo=zone)
        end = start + timedelta(days=1)
        seen_all, seen, selected = await store.intake_counts(start, end)
        history = [await store.intake_counts(start - timedelta(days=d), start - timedelta(days=d - 1))
                   for d in range(1, HISTORY_DAYS + 1)]
        past = [h[0] for h in history if h[0]]
        expected = sum(past) / len(past) if past else 0.0
        quota = policy.batch_quota(capacity, selected, seen, len(batch), expected)
        seed = zlib.crc32(f"{day.isoformat()}:{batch[0]['id']}".encode())
        picked = policy.nested_sample(batch, quota, lambda r: r["office"],
                                      lambda r: r["official"], seed)
        chosen = {r["id"]: p for r, p in picked}
        out = [r["id"] for r in batch if r["id"] not in chosen]
        if not await store.apply_sample(chosen, out, now):
            continue  # another worker sampled these visits first: its choice stands
        left_out += len(out)
        if out:
            log.info("sample for %s: kept %d of %d new visits (day so far %d of %d, capacity %d)",
                     day, len(chosen), len(batch), selected + len(chosen), seen_all, capacity)
    return left_out

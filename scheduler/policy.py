"""Scheduler, policy: pure rules of when and whether to call. Every function takes `now`.

Nothing here does I/O; the dialer asks these functions and obeys.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from ivr.models import Outcome, TxStatus


def parse_window(spec: str) -> tuple[time, time | None]:
    """Parse 'HH:MM-HH:MM' into (start, end); end None means midnight (24:00)."""
    try:
        start_s, end_s = spec.strip().split("-")
        start = time.fromisoformat(start_s.strip())
        end_s = end_s.strip()
        end = None if end_s in ("24:00", "24:00:00") else time.fromisoformat(end_s)
    except ValueError:
        raise ValueError(f"{spec!r} is not a window like 09:00-20:00") from None
    if end is not None and end <= start:
        raise ValueError(f"{spec!r}: the window must end after it starts")
    return start, end


def in_calling_window(now: datetime, window: str, tz: str = "Asia/Karachi") -> bool:
    """Say whether `now` (aware) falls inside the local calling window."""
    start, end = parse_window(window)
    local = now.astimezone(ZoneInfo(tz)).time()
    return start <= local and (end is None or local < end)


def next_window_start(now: datetime, window: str, tz: str = "Asia/Karachi") -> datetime:
    """Return `now` if inside the window, else the next moment the window opens."""
    if in_calling_window(now, window, tz):
        return now
    start, _ = parse_window(window)
    zone = ZoneInfo(tz)
    local = now.astimezone(zone)
    candidate = local.replace(hour=start.hour, minute=start.minute, second=start.second,
                              microsecond=0)
    if candidate <= local:
        candidate += timedelta(days=1)
    return candidate.astimezone(now.tzinfo)


def after_attempt(
    outcome: Outcome, attempts: int, now: datetime, *, max_attempts: int, retry_delay: float
) -> tuple[TxStatus, datetime | None]:
    """Decide a transaction's next status and retry time after a dial that was not answered."""
    if outcome is Outcome.ANSWERED:
        return TxStatus.IN_CALL, None
    if outcome.retryable and attempts < max_attempts:
        return TxStatus.SCHEDULED, now + timedelta(seconds=retry_delay)
    return TxStatus.UNREACHABLE, None

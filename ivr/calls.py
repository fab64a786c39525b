"""Live calls: the one registry that the dialer, the FastAGI sessions and AMI events share.

The dialer holds a concurrency slot for each call until it ends. A call ends when its survey
session finishes, or, if no session ever ran (the FastAGI server was unreachable), when AMI
reports the channel's hangup. Keyed by our own attempt id.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass
class CallRegistry:
    """Attempts in flight, the survey sessions running, and a wake-up for each call's end."""

    _ended: dict[int, asyncio.Event] = field(default_factory=dict)
    sessions: set[int] = field(default_factory=set)

    def track(self, attempt_id: int) -> asyncio.Event:
        """Start tracking a call; return the event set when it ends."""
        return self._ended.setdefault(attempt_id, asyncio.Event())

    def end(self, attempt_id: int) -> None:
        """Say a call has ended (idempotent)."""
        ev = self._ended.pop(attempt_id, None)
        if ev is not None:
            ev.set()

    def session_started(self, attempt_id: int) -> None:
        self.sessions.add(attempt_id)

    def session_ended(self, attempt_id: int) -> None:
        self.sessions.discard(attempt_id)
        self.end(attempt_id)

    def holds(self, attempt_id: int) -> bool:
        """Say whether a call or a survey session of this process still holds an attempt."""
        return attempt_id in self._ended or attempt_id in self.sessions

    @property
    def in_flight(self) -> int:
        return len(self._ended)

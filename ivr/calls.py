"""Live calls: the one registry that the dialer, the FastAGI sessions and AMI events share.

The dialer holds a concurrency slot for each call until it ends. A call ends when its survey
session finishes, or, if no session ever ran (the FastAGI server was unreachable), when AMI
reports the channel's hangup. Keyed by our own attempt id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: the classic AGI script's process has no event loop
    import asyncio


SETTLED_KEPT = 4096  # attempts remembered as closed by their session (far more than in flight)


@dataclass
class CallRegistry:
    """Attempts in flight, the survey sessions running, and a wake-up for each call's end."""

    _ended: dict[int, asyncio.Event] = field(default_factory=dict)
    sessions: set[int] = field(default_factory=set)
    # Attempts whose session wrote the result itself, the latest SETTLED_KEPT, oldest first:
    # the AMI hangup that trails such a call needs no settling from the dialer.
    _settled: dict[int, None] = field(default_factory=dict)
    # Set when the attempt's survey session starts, for the dialer waiting on it (wait_session).
    _starting: dict[int, asyncio.Event] = field(default_factory=dict)

    def track(self, attempt_id: int) -> asyncio.Event:
        """Start tracking a call; return the event set when it ends."""
        ended = self._ended.get(attempt_id)
        if ended is None:
            import asyncio

            ended = self._ended[attempt_id] = asyncio.Event()
        return ended

    def end(self, attempt_id: int) -> None:
        """Say a call has ended (idempotent)."""
        ev = self._ended.pop(attempt_id, None)
        if ev is not None:
            ev.set()

    def session_started(self, attempt_id: int) -> None:
        """A survey session has started (and stored the call as answered)."""
        self.sessions.add(attempt_id)
        started = self._starting.pop(attempt_id, None)
        if started is not None:
            started.set()

    async def wait_session(self, attempt_id: int, timeout_s: float) -> bool:
        """Wait up to timeout_s for the attempt's survey session to start here; True once it
        has (it stored the call as answered: see answer_stored)."""
        if self.answer_stored(attempt_id):
            return True
        import asyncio

        started = self._starting[attempt_id] = asyncio.Event()
        try:
            await asyncio.wait_for(started.wait(), timeout_s)
        except TimeoutError:
            pass
        finally:
            self._starting.pop(attempt_id, None)
        return self.answer_stored(attempt_id)

    def session_ended(self, attempt_id: int, *, settled: bool = False) -> None:
        """A session is over; settled: it stored the call's result (the attempt is closed)."""
        self.sessions.discard(attempt_id)
        if settled:
            self._settled[attempt_id] = None
            if len(self._settled) > SETTLED_KEPT:
                del self._settled[next(iter(self._settled))]
        self.end(attempt_id)

    def settled(self, attempt_id: int) -> bool:
        """Say whether a session of this process closed the attempt itself (lately)."""
        return attempt_id in self._settled

    def answer_stored(self, attempt_id: int) -> bool:
        """Say whether a session of this process has stored the call as answered (it does
        before it starts: SurveySessions, survey_started), so the dialer need not."""
        return attempt_id in self.sessions or attempt_id in self._settled

    def holds(self, attempt_id: int) -> bool:
        """Say whether a call or a survey session of this process still holds an attempt."""
        return attempt_id in self._ended or attempt_id in self.sessions

    @property
    def in_flight(self) -> int:
        return len(self._ended)

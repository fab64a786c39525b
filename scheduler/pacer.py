"""Scheduler, pacer: when each Originate may be sent, and which trunk channels are held.

Pure bookkeeping over an injected clock (seconds, monotonic); nothing here sleeps or does I/O.
The dialer asks it three things: how many calls to claim now (`claimable`), which trunk a claimed
number goes out on (`router`, used by the store at claim time), and at what time its Originate
may be sent (`reserve`). Each send time respects the engine-wide pace (`rate` calls a second)
and its trunk's own `cps`, so a slow trunk never holds up a fast one; a trunk whose paced queue
is longer than `ahead` seconds takes no more calls for now, so a claimed attempt is dialled
within seconds of its row being written.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Collection, Sequence

from scheduler.policy import Trunk, choose_trunk

CLAIM_AHEAD_S = 2.0  # claim at most this many seconds of paced Originates at a time

Clock = Callable[[], float]


class Pacer:
    """Book Originate send times on the engine's and each trunk's pace; count trunk channels."""

    def __init__(self, trunks: Sequence[Trunk], rate: float, *, clock: Clock = time.monotonic,
                 ahead: float = CLAIM_AHEAD_S) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, not {rate!r}")
        self.trunks = tuple(trunks)
        self.rate = rate
        self.interval = 1.0 / rate
        self.clock = clock
        self.ahead = ahead
        self._trunk = {t.name: t for t in self.trunks}
        self._held: dict[str, set[int]] = {t.name: set() for t in self.trunks}
        self._trunk_next: dict[str, float] = {t.name: 0.0 for t in self.trunks}
        self._next_send = 0.0  # clock time after the last booked Originate
        self._booked: list[float] = []  # clock times booked for Originates, sorted

    # ------------------------------------------------------------------ channels

    def hold(self, trunk: str, call_id: int) -> None:
        """Count a call on a trunk's channels until `release` (a trunk not configured is kept too)."""
        self._held.setdefault(trunk, set()).add(call_id)

    def release(self, call_id: int) -> None:
        """Free the trunk channel a call held (idempotent)."""
        for held in self._held.values():
            held.discard(call_id)

    def in_use(self) -> dict[str, int]:
        """Return the calls held per trunk."""
        return {name: len(ids) for name, ids in self._held.items()}

    def free_channels(self) -> int:
        """Return the channels free over all configured trunks."""
        return sum(t.channels - len(self._held[t.name]) for t in self.trunks)

    # ------------------------------------------------------------------ pace

    def backlog(self) -> float:
        """Return how many seconds of booked Originates are still to be sent."""
        return max(0.0, self._next_send - self.clock())

    def claimable(self) -> int:
        """Return how many calls may be claimed now: free channels, and about `ahead` seconds
        of Originates at the engine's pace (at least one when the queue is shorter)."""
        left = self.ahead - self.backlog()
        paced = max(1, int(left * self.rate)) if left > 0 else 0
        return min(self.free_channels(), paced)

    def router(self, operator_of: Callable[[str], str | None],
               closed: Collection[str] = ()) -> Callable[[str], str | None]:
        """Return a claim-time router: the number's trunk with a free channel and a short queue.

        It counts what it hands out, so one claim never overfills a trunk, and it refuses a
        trunk whose paced queue already holds more than `ahead` seconds of Originates, and every
        trunk in `closed` (e.g. its registration is rejected on the node being claimed for).
        """
        now = self.clock()
        in_use = self.in_use()
        queued = {t.name: max(0.0, self._trunk_next[t.name] - now) for t in self.trunks}

        def route(number: str) -> str | None:
            open_ = [t for t in self.trunks
                     if queued[t.name] < self.ahead and t.name not in closed]
            trunk = choose_trunk(operator_of(number), open_, in_use)
            if trunk is None:
                return None
            in_use[trunk.name] = in_use.get(trunk.name, 0) + 1
            queued[trunk.name] += 1.0 / trunk.cps
            return trunk.name

        return route

    def booked(self, trunk: str, at: float) -> None:
        """Note a send time on `trunk` booked with other workers (later than this pacer's own,
        when they are busy on it): the trunk's queue is that long for the router too."""
        spec = self._trunk.get(trunk)
        if spec is not None:
            self._trunk_next[trunk] = max(self._trunk_next[trunk], at + 1.0 / spec.cps)

    def reserve(self, trunk: str) -> float:
        """Book the clock time one Originate on `trunk` may be sent at and return it:
        `interval` clear of every other booking and 1/cps after its trunk's last one."""
        now = self.clock()
        interval = self.interval
        spec = self._trunk.get(trunk)
        at = max(now, self._trunk_next.get(trunk, 0.0))
        # The earliest engine-wide slot at or after that, so a later call on a fast trunk may
        # go before an earlier one on a slow trunk.
        self._booked = [t for t in self._booked if t > now - interval]
        for booked in self._booked:  # sorted
            if booked - at >= interval:
                break
            if abs(booked - at) < interval:
                at = booked + interval
        bisect.insort(self._booked, at)
        self._next_send = max(self._next_send, at + interval)
        if spec is not None:
            self._trunk_next[trunk] = at + 1.0 / spec.cps
        return at

"""Protocol layer, round trips: how long quick AGI commands take, per PBX address.

A quick command (SET VARIABLE, GET VARIABLE, CHANNEL STATUS, ANSWER, VERBOSE, HANGUP) does no
waiting of its own inside Asterisk, so its round trip is the PBX's responsiveness: it grows as
the PBX's threads wait for a CPU, well before prompts are delayed and keys lost. ``AGIChannel``
times each quick command and hands the figure to a recorder; the FastAGI server records it
under the peer's address in one ``RoundTrips`` window, which the dialer's admission control
reads (scheduler/admission_watch.py). Commands that play, record or wait for keys are never
timed: their time is the citizen's.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

#: AGI commands whose round trip measures the PBX, not the caller.
QUICK_COMMANDS = frozenset({"SET VARIABLE", "GET VARIABLE", "CHANNEL STATUS", "ANSWER",
                            "VERBOSE", "HANGUP", "GET FULL VARIABLE"})

WINDOW = 64  # round trips kept per address
MAX_AGE_S = 15.0  # a round trip older than this says nothing about now


class RoundTrips:
    """A small rolling window of quick-command round trips (seconds) per PBX address."""

    def __init__(self, *, window: int = WINDOW, max_age_s: float = MAX_AGE_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._window = window
        self._max_age = max_age_s
        self._clock = clock
        self._by_host: dict[str, deque[tuple[float, float]]] = {}

    def record(self, host: str, seconds: float) -> None:
        """Keep one round trip measured against the PBX at host."""
        host = _same_host(host)
        q = self._by_host.get(host)
        if q is None:
            q = self._by_host[host] = deque(maxlen=self._window)
        q.append((self._clock(), seconds))

    def recent(self, host: str) -> list[float]:
        """Return the round trips to host of the last `max_age_s` seconds, oldest first."""
        q = self._by_host.get(_same_host(host))
        if not q:
            return []
        since = self._clock() - self._max_age
        return [s for at, s in q if at >= since]


def _same_host(host: str) -> str:
    """Return host as the FastAGI server sees peers (an IPv4-mapped IPv6 address as IPv4)."""
    host = host.partition("%")[0]
    return host.removeprefix("::ffff:")


__all__ = ["MAX_AGE_S", "QUICK_COMMANDS", "WINDOW", "RoundTrips"]

"""Unit tier: the dialer spaces Originates by 1/calls_per_second, however they were claimed.

The schedule (the send times booked) is checked exactly; the sends themselves are only
checked never to go early, since a loaded machine may wake a task late but never early.
"""

from __future__ import annotations

import asyncio
import itertools
from types import SimpleNamespace
from typing import Any

from ivr.asterisk.ami import HangupEvent
from ivr.calls import CallRegistry
from ivr.config import load_settings
from scheduler.dialer import Dialer
from scheduler.rules import Rules


def dialer(cps: float) -> Dialer:
    settings = load_settings(env={}, overrides={"calls_per_second": cps})
    ami: Any = SimpleNamespace(name="pbx", subscribe=lambda kind, handler: None)
    return Dialer(store=None, ami=[ami], settings=settings, calls=CallRegistry(),  # type: ignore[arg-type]
                  rules=Rules.from_settings(settings))


async def test_bookings_are_spaced_by_the_paced_interval() -> None:
    d = dialer(20)
    booked = [d.pacer.reserve("") for _ in range(6)]
    gaps = [b - a for a, b in itertools.pairwise(booked)]
    assert all(abs(g - 0.05) < 1e-9 for g in gaps), gaps


async def test_pace_never_sends_before_its_booked_time() -> None:
    d = dialer(20)
    loop = asyncio.get_running_loop()
    for _ in range(4):
        before = d.pacer.reserve("")
        await d._wait_until(before)  # what each dial task does before its Originate
        assert loop.time() >= before - 1e-6  # slept until at least the booked time


class _NoStore:
    """A store the dialer must not touch: every call fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the dialer used the store ({name}) for a call already settled")


async def test_a_hangup_after_the_session_stored_the_result_costs_no_store_work() -> None:
    # Issue 12, item 5: the hangup that trails a survey call used to be settled again (five
    # reads and writes that changed nothing); the session's own settling is remembered.
    settings = load_settings(env={}, overrides={})
    ami: Any = SimpleNamespace(name="pbx", subscribe=lambda kind, handler: None)
    calls = CallRegistry()
    d = Dialer(store=_NoStore(), ami=[ami], settings=settings, calls=calls,  # type: ignore[arg-type]
               rules=Rules.from_settings(settings))
    d._by_node["pbx"].add(7)  # a call adopted after a restart: only the hangup frees its slot
    calls.track(7)
    calls.session_started(7)
    calls.session_ended(7, settled=True)
    d.on_hangup(HangupEvent(7, 16, "PJSIP/carrier-1", "1.1"))
    assert not d._tasks  # nothing spawned, nothing read or written
    assert 7 not in d._by_node["pbx"]
    assert calls.settled(7) and not calls.settled(8)
    calls.session_ended(8)  # not settled (its result could not be written): the dialer settles it
    assert not calls.settled(8)

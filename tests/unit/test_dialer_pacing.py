"""Unit tier: the dialer spaces Originates by 1/calls_per_second, however they were claimed.

The schedule (the send times booked) is checked exactly; the sends themselves are only
checked never to go early, since a loaded machine may wake a task late but never early.
"""

from __future__ import annotations

import asyncio
import itertools
from types import SimpleNamespace
from typing import Any

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

"""Unit tier: the dialer spaces Originates by 1/calls_per_second, however they were claimed."""

from __future__ import annotations

import asyncio
import itertools
from types import SimpleNamespace
from typing import Any

from ivr.calls import CallRegistry
from ivr.config import load_settings
from scheduler.dialer import Dialer


async def test_originates_are_spaced_by_the_paced_interval() -> None:
    settings = load_settings(env={}, overrides={"calls_per_second": 20})
    ami: Any = SimpleNamespace(name="pbx")
    dialer = Dialer(store=None, ami=[ami], settings=settings, calls=CallRegistry())  # type: ignore[arg-type]
    loop = asyncio.get_running_loop()
    sent = []
    for _ in range(6):
        await dialer._pace(1 / settings.calls_per_second)
        sent.append(loop.time())
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    # asyncio.sleep never returns early, so the lower bound holds on any machine.
    assert all(g >= 0.05 - 1e-3 for g in gaps), gaps

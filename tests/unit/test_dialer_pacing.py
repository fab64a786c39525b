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

# The dialer's loop sleeps outside the calling window (09:00-20:00 in Karachi by default):
# these tests must not depend on the hour they run at.
ALWAYS: dict[str, object] = {"calling_window": "00:00-24:00"}


def dialer(cps: float) -> Dialer:
    settings = load_settings(env={}, overrides={**ALWAYS, "calls_per_second": cps})
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
    settings = load_settings(env={}, overrides=ALWAYS)
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


class _CountingStore:
    """Has no due work; notes each claim."""

    def __init__(self) -> None:
        self.claims = asyncio.Event()

    async def claim_due(self, *args: Any, **kw: Any) -> list[Any]:
        self.claims.set()
        return []


async def test_with_every_slot_taken_the_loop_sleeps_until_a_call_ends() -> None:
    # Issue 12, item 5: a full node used to wake the loop every IDLE_POLL_S (admission check,
    # calling windows, pacer) for nothing; now it waits for a call to give back its slot.
    settings = load_settings(env={}, overrides={**ALWAYS, "max_concurrent": 1})
    ami: Any = SimpleNamespace(name="pbx", subscribe=lambda kind, handler: None, connected=True)
    store = _CountingStore()
    rounds: list[int] = []
    d = Dialer(store=store, ami=[ami], settings=settings, calls=CallRegistry(),  # type: ignore[arg-type]
               rules=Rules.from_settings(settings), progress=lambda _: rounds.append(1))
    d._by_node["pbx"].add(7)  # the one slot is taken by a call in progress
    d.calls.track(7)
    stop = asyncio.Event()
    loop = asyncio.create_task(d.run(stop=stop))
    try:
        await asyncio.sleep(1.6)  # three IDLE_POLL_S
        assert len(rounds) == 1 and not store.claims.is_set()
        d._release(7)  # the call ended: its slot is free
        await asyncio.wait_for(store.claims.wait(), 3)  # claimed at once, not after SLOT_WAIT_S
    finally:
        stop.set()
        await asyncio.wait_for(loop, 3)


class _EmptyStore:
    """Has no due work; counts the looks."""

    def __init__(self) -> None:
        self.looks = 0

    async def claim_due(self, *args: Any, **kw: Any) -> list[Any]:
        self.looks += 1
        return []


async def test_with_nothing_due_the_loop_looks_less_often_up_to_idle_max() -> None:
    # An idle engine's CPU is mostly its look for due work: 0.5 s, 1 s, then every 2 s.
    settings = load_settings(env={}, overrides=ALWAYS)
    ami: Any = SimpleNamespace(name="pbx", subscribe=lambda kind, handler: None, connected=True)
    store = _EmptyStore()
    d = Dialer(store=store, ami=[ami], settings=settings, calls=CallRegistry(),  # type: ignore[arg-type]
               rules=Rules.from_settings(settings))
    stop = asyncio.Event()
    loop = asyncio.create_task(d.run(stop=stop))
    try:
        await asyncio.sleep(3.2)  # looks at 0, 0.5, 1.5 and 3.5 s: three (seven at 0.5 s)
        assert 1 <= store.looks <= 4
    finally:
        stop.set()
        await asyncio.wait_for(loop, 3)


class _AnsweredMarks:
    """Notes the dialer's own 'answered' writes."""

    def __init__(self) -> None:
        self.answered: list[int] = []

    async def attempt_answered(self, attempt_id: int, now: Any) -> None:
        self.answered.append(attempt_id)


def _answering_ami() -> Any:
    from ivr.asterisk.ami import OriginateResult
    from ivr.models import Outcome

    async def originate(attempt_id: int, *args: Any, **kw: Any) -> OriginateResult:
        return OriginateResult(attempt_id, Outcome.ANSWERED)

    async def wait_lost() -> None:
        await asyncio.Event().wait()  # the node never goes away here

    return SimpleNamespace(name="pbx", subscribe=lambda kind, handler: None, connected=True,
                           originate=originate, wait_lost=wait_lost, forget=lambda _: None)


async def _dial_answered(session_starts: bool, monkeypatch: Any) -> list[int]:
    """Dial one attempt that is answered; its survey session starts here, or never."""
    from datetime import UTC, datetime

    import scheduler.dialer
    from ivr.models import Attempt

    monkeypatch.setattr(scheduler.dialer, "SESSION_WAIT_S", 0.3)
    settings = load_settings(env={}, overrides=ALWAYS)
    store = _AnsweredMarks()
    calls = CallRegistry()
    ami = _answering_ami()
    d = Dialer(store=store, ami=[ami], settings=settings, calls=calls,  # type: ignore[arg-type]
               rules=Rules.from_settings(settings))
    attempt = Attempt(5, 9, "+923001234567", datetime.now(UTC), "en")

    async def session() -> None:
        await asyncio.sleep(0.05)  # the AGI connects just after the Originate's answer
        if session_starts:
            calls.session_started(5)  # as SurveySessions does once survey_started stored it
        await asyncio.sleep(0.5)
        calls.session_ended(5, settled=session_starts)

    other = asyncio.create_task(session())
    await asyncio.wait_for(d._dial(attempt, ami), 5)
    await other
    return store.answered


async def test_an_answered_call_whose_session_starts_here_is_marked_answered_once(
        monkeypatch: Any) -> None:
    # Issue 12, item 5: the session stores the call as answered in its first trip to the
    # database; the dialer waits a moment for it instead of writing the same rows first.
    assert await _dial_answered(True, monkeypatch) == []


async def test_an_answered_call_with_no_session_here_is_marked_answered_by_the_dialer(
        monkeypatch: Any) -> None:
    assert await _dial_answered(False, monkeypatch) == [5]

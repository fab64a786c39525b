"""Unit tier: scheduler.pacer on a fake clock: send times on the engine's and each trunk's pace,
the claim-time router, trunk channels held and freed, and how many calls to claim."""

from __future__ import annotations

import itertools

import pytest

from scheduler.pacer import Pacer
from scheduler.policy import Trunk


class FakeClock:
    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


JAZZ = Trunk("jazz", 2, 5.0, frozenset({"jazz"}))
SLOW = Trunk("slow", 9, 2.0)
FAST = Trunk("fast", 9, 10.0)


def operator(number: str) -> str | None:
    return "jazz" if number.startswith("+92300") else None


def test_bookings_on_one_trunk_keep_the_slower_of_the_two_paces() -> None:
    clock = FakeClock()
    p = Pacer([SLOW], rate=20, clock=clock)
    assert [p.reserve("slow") - 100 for _ in range(3)] == pytest.approx([0.0, 0.5, 1.0])
    q = Pacer([FAST], rate=4, clock=clock)
    assert [q.reserve("fast") - 100 for _ in range(3)] == pytest.approx([0.0, 0.25, 0.5])


def test_a_fast_trunk_goes_between_the_bookings_of_a_slow_one() -> None:
    clock = FakeClock()
    p = Pacer([SLOW, FAST], rate=100, clock=clock)
    slow = [p.reserve("slow") - 100 for _ in range(3)]
    fast = [p.reserve("fast") - 100 for _ in range(3)]
    assert slow == pytest.approx([0.0, 0.5, 1.0])
    assert fast == pytest.approx([0.01, 0.11, 0.21])
    everything = sorted(slow + fast)
    assert all(b - a >= 0.01 - 1e-9 for a, b in itertools.pairwise(everything))


def test_time_passing_frees_the_pace() -> None:
    clock = FakeClock()
    p = Pacer([SLOW], rate=10, clock=clock)
    p.reserve("slow")
    assert p.backlog() == pytest.approx(0.1)
    clock.t += 5.0
    assert p.backlog() == 0.0
    assert p.reserve("slow") == pytest.approx(105.0)  # nothing queued: at once


def test_claimable_is_about_two_seconds_of_dialling_within_free_channels() -> None:
    clock = FakeClock()
    p = Pacer([Trunk("big", 100, 50.0)], rate=4, clock=clock)
    assert p.claimable() == 8  # 2 s at 4 calls a second
    for _ in range(6):
        p.reserve("big")
    assert p.claimable() == 2  # 1.5 s already queued
    for _ in range(2):
        p.reserve("big")
    assert p.claimable() == 0  # more than 2 s queued: claim nothing
    small = Pacer([Trunk("small", 3, 50.0)], rate=50, clock=clock)
    small.hold("small", 1)
    assert small.claimable() == 2  # channels, not the pace, limit it


def test_channels_are_held_and_released_once() -> None:
    p = Pacer([JAZZ, SLOW], rate=5, clock=FakeClock())
    p.hold("jazz", 1)
    p.hold("jazz", 2)
    p.hold("old-trunk", 3)  # a row from before a config change still holds its slot
    assert p.in_use() == {"jazz": 2, "slow": 0, "old-trunk": 1}
    assert p.free_channels() == 9
    p.release(2)
    p.release(2)
    p.release(3)
    assert p.in_use() == {"jazz": 1, "slow": 0, "old-trunk": 0}


def test_router_routes_by_operator_counts_what_it_hands_out_and_refuses_long_queues() -> None:
    clock = FakeClock()
    zong_only = Trunk("zong", 1, 5.0, frozenset({"zong"}), only=True)
    p = Pacer([JAZZ, zong_only, Trunk("national", 1, 5.0)], rate=50, clock=clock)
    route = p.router(operator)
    jazz, other = "+923001234567", "+923331234567"
    assert [route(jazz), route(jazz), route(jazz), route(jazz)] == ["jazz", "jazz", "national", None]
    assert route(other) is None
    slow = Pacer([Trunk("slow", 50, 1.0)], rate=50, clock=clock)
    slow.reserve("slow")  # one second queued already
    assert [slow.router(operator)(other) for _ in range(2)] == ["slow", "slow"]
    route = slow.router(operator)
    assert [route(other), route(other)] == ["slow", None]  # 1 s queued + 1 s = the limit


def test_a_rate_of_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="rate"):
        Pacer([SLOW], rate=0)

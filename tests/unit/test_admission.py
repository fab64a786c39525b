"""Unit: admission control, the pure gate each PBX node passes before new calls are claimed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduler.admission import (
    AdmissionRules,
    Gate,
    Signals,
    cpu_busy,
    cpu_times,
    decide,
    median,
    overloaded,
    recovered,
)

R = AdmissionRules(rtt_high_s=0.25, rtt_low_s=0.10, cpu_high=0.9, cpu_low=0.8, max_channels=100,
                   min_closed_s=3.0)


@pytest.mark.parametrize("signals, why", [
    (Signals(), ""),
    (Signals(agi_rtt_s=0.05, cpu_busy=0.5, channels=10), ""),
    (Signals(agi_rtt_s=0.25), ""),  # at the mark: not past it
    (Signals(agi_rtt_s=0.30), "AGI round trip 300 ms > 250 ms"),
    (Signals(cpu_busy=0.95), "PBX host CPU 95% > 90%"),
    (Signals(channels=100), "100 calls on the node, limit 100"),
])
def test_overloaded_names_the_signal(signals: Signals, why: str) -> None:
    assert overloaded(signals, R) == why


def test_a_mark_of_zero_turns_its_signal_off() -> None:
    off = AdmissionRules(rtt_high_s=0, rtt_low_s=0, cpu_high=0, cpu_low=0, max_channels=0)
    assert overloaded(Signals(agi_rtt_s=9, cpu_busy=1.0, channels=10**6), off) == ""
    assert recovered(Signals(agi_rtt_s=9, cpu_busy=1.0, channels=10**6), off)


# gate before, signals, now -> gate after
@pytest.mark.parametrize("gate, signals, now, after", [
    (Gate(), Signals(agi_rtt_s=0.05), 10.0, Gate()),  # open and well: stays open, unchanged
    (Gate(), Signals(agi_rtt_s=0.4), 10.0, Gate(False, "AGI round trip 400 ms > 250 ms", 10.0)),
    # closed: between the marks it stays closed (hysteresis)
    (Gate(False, "x", 10.0), Signals(agi_rtt_s=0.2), 20.0, Gate(False, "x", 10.0)),
    # closed: below the low mark but too soon
    (Gate(False, "x", 10.0), Signals(agi_rtt_s=0.05), 12.0, Gate(False, "x", 10.0)),
    # closed: below the low mark and long enough: opens
    (Gate(False, "x", 10.0), Signals(agi_rtt_s=0.05), 13.0, Gate(True, "", 13.0)),
    # closed and still past a mark: the reason follows the signal, the time does not move
    (Gate(False, "x", 10.0), Signals(cpu_busy=0.99), 30.0, Gate(False, "PBX host CPU 99% > 90%", 10.0)),
    # nothing measured: a closed gate opens after min_closed_s (an unread signal holds nothing)
    (Gate(False, "x", 10.0), Signals(), 14.0, Gate(True, "", 14.0)),
])
def test_decide(gate: Gate, signals: Signals, now: float, after: Gate) -> None:
    assert decide(gate, signals, R, now) == after


@given(st.lists(st.tuples(st.floats(0, 2), st.floats(0, 1), st.integers(0, 300)), max_size=60))
def test_the_gate_never_opens_while_a_signal_is_past_its_high_mark(
        readings: list[tuple[float, float, int]]) -> None:
    gate = Gate()
    for i, (rtt, cpu, ch) in enumerate(readings):
        s = Signals(agi_rtt_s=rtt, cpu_busy=cpu, channels=ch)
        gate = decide(gate, s, R, float(i))
        if overloaded(s, R):
            assert not gate.open and gate.reason


@pytest.mark.parametrize("bad", [
    dict(rtt_high_s=0.1, rtt_low_s=0.2), dict(cpu_high=1.5), dict(cpu_low=0.95, cpu_high=0.9),
    dict(max_channels=-1), dict(min_closed_s=-1),
])
def test_rules_refuse_nonsense(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="admission"):
        AdmissionRules(**bad)  # type: ignore[arg-type]


def test_median() -> None:
    assert median([]) is None
    assert median([0.3, 0.1, 0.2]) == 0.2
    assert median([0.1, 0.2, 0.3, 0.4]) == pytest.approx(0.25)


def test_cpu_from_proc_stat() -> None:
    a = cpu_times("cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3 4\n")
    b = cpu_times("cpu  250 0 150 750 100 0 0 0 0 0\n")
    assert a == (200, 1000)
    assert cpu_busy(a, b) == pytest.approx(200 / 250)
    assert cpu_busy(a, a) is None
    with pytest.raises(ValueError, match="proc/stat"):
        cpu_times("intr 1 2 3")

"""Scheduler, admission: whether a PBX node may take new calls now. Pure; takes `now`.

Past the knee a PBX delays prompts and loses keys, and a citizen's later keys land on the wrong
question (docs/BENCHMARKS.md, the knee). The dialer therefore stops claiming new calls on a node
before it saturates and starts again when it has recovered, from signals measured for that node:

- the AGI round trip the engine sees on quick commands (SET VARIABLE and the like), which grows
  as the PBX's threads wait for a CPU;
- the calls the engine has on the node, against a configured limit;
- the PBX host's CPU, where it can be read (a node on this machine: /proc/stat).

A gate closes when any signal passes its high mark and opens again only when every signal is
below its low mark and it has stayed closed for `min_closed_s` (hysteresis: no flapping). Calls
not placed stay due; nothing fails because of the gate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AdmissionRules:
    """High and low marks of each signal; a mark of 0 turns that signal off."""

    rtt_high_s: float = 0.25  # median quick-command AGI round trip that closes the gate
    rtt_low_s: float = 0.10  # ... and below which it may open again
    cpu_high: float = 0.92  # PBX host CPU busy fraction (0-1) that closes the gate
    cpu_low: float = 0.80
    max_channels: int = 0  # calls on the node that close the gate (0: no limit of this kind)
    min_closed_s: float = 3.0  # a closed gate stays closed at least this long

    def __post_init__(self) -> None:
        if self.rtt_high_s < 0 or self.rtt_low_s < 0 or self.rtt_low_s > self.rtt_high_s:
            raise ValueError("admission: need 0 <= rtt_low_s <= rtt_high_s")
        if not (0 <= self.cpu_low <= self.cpu_high <= 1):
            raise ValueError("admission: need 0 <= cpu_low <= cpu_high <= 1")
        if self.max_channels < 0 or self.min_closed_s < 0:
            raise ValueError("admission: max_channels and min_closed_s must not be negative")


@dataclass(frozen=True, slots=True)
class Signals:
    """What was measured on one node; None where a signal could not be read."""

    agi_rtt_s: float | None = None
    cpu_busy: float | None = None
    channels: int | None = None


@dataclass(frozen=True, slots=True)
class Gate:
    """One node's admission: open or closed, why, and since when (monotonic seconds)."""

    open: bool = True
    reason: str = ""
    since: float = 0.0


def overloaded(s: Signals, rules: AdmissionRules) -> str:
    """Return why the signals say the node is past its high marks, or "" if it is not."""
    if rules.rtt_high_s and s.agi_rtt_s is not None and s.agi_rtt_s > rules.rtt_high_s:
        return f"AGI round trip {s.agi_rtt_s * 1000:.0f} ms > {rules.rtt_high_s * 1000:.0f} ms"
    if rules.cpu_high and s.cpu_busy is not None and s.cpu_busy > rules.cpu_high:
        return f"PBX host CPU {s.cpu_busy:.0%} > {rules.cpu_high:.0%}"
    if rules.max_channels and s.channels is not None and s.channels >= rules.max_channels:
        return f"{s.channels} calls on the node, limit {rules.max_channels}"
    return ""


def recovered(s: Signals, rules: AdmissionRules) -> bool:
    """Say whether every signal is below its low mark (an unread signal does not hold it)."""
    if rules.rtt_high_s and s.agi_rtt_s is not None and s.agi_rtt_s > rules.rtt_low_s:
        return False
    if rules.cpu_high and s.cpu_busy is not None and s.cpu_busy > rules.cpu_low:
        return False
    return not (rules.max_channels and s.channels is not None
                and s.channels >= rules.max_channels)


def decide(gate: Gate, s: Signals, rules: AdmissionRules, now: float) -> Gate:
    """Return the node's gate after these signals: close past a high mark, reopen when recovered."""
    why = overloaded(s, rules)
    if gate.open:
        return Gate(False, why, now) if why else gate
    if why:
        return Gate(False, why, gate.since)  # still closed; say the current reason
    if now - gate.since >= rules.min_closed_s and recovered(s, rules):
        return Gate(True, "", now)
    return gate


def median(values: Sequence[float]) -> float | None:
    """Return the median of values, or None if there are none."""
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def cpu_times(proc_stat: str) -> tuple[int, int]:
    """Parse /proc/stat's first line into (busy, total) jiffies.

    ``cpu  4705 356 584 3699 23 23 0 0 0 0``: user nice system idle iowait irq softirq steal
    guest guest_nice; idle and iowait are not busy, guest time is already in user.
    """
    first = proc_stat.splitlines()[0].split() if proc_stat.strip() else []
    if len(first) < 5 or first[0] != "cpu":
        raise ValueError("not /proc/stat: its first line must start with 'cpu'")
    values = [int(v) for v in first[1:9]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values)
    return total - idle, total


def cpu_busy(before: tuple[int, int], after: tuple[int, int]) -> float | None:
    """Return the busy fraction between two `cpu_times` readings (None if no time passed)."""
    busy = after[0] - before[0]
    total = after[1] - before[1]
    if total <= 0:
        return None
    return min(1.0, max(0.0, busy / total))

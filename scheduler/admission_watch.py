"""Scheduler, admission watch: measure each PBX node's signals and keep its gate (the edge).

The pure decision is scheduler/admission.py; this module only reads the signals and remembers
each node's gate. Per node: the median of the quick AGI round trips the FastAGI server saw from
the node's host (ivr/asterisk/agi/roundtrip.py), the host's CPU from /proc/stat when the node
runs on this machine (a loopback AMI host), and the calls the dialer has on the node. It logs
one warning when a gate closes, with the reason, and one info line when it opens again, and
keeps the latest reading of every node in a small JSON file for `rabta status` in another
process (`write_state` / `read_state`).
"""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivr.asterisk.agi.roundtrip import RoundTrips
from scheduler.admission import AdmissionRules, Gate, Signals, cpu_busy, cpu_times, decide, median

log = logging.getLogger(__name__)

CPU_EVERY_S = 1.0  # /proc/stat is read at most this often; busy is the share since the last read
STATE_EVERY_S = 5.0  # the state file is rewritten at most this often (and on every change)
STATE_STALE_S = 30.0  # older than this, the state file says nothing about a running engine


def _read_proc_stat() -> str:
    with open("/proc/stat", encoding="ascii") as f:
        return f.read()


@functools.lru_cache(maxsize=256)
def is_local(host: str) -> bool:
    """Tell whether a PBX host is this machine (a loopback address or localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class NodeAdmission:
    """One node's gate and the signals that set it."""

    node: str
    gate: Gate
    signals: Signals

    def as_dict(self) -> dict[str, Any]:
        s = self.signals
        return {"open": self.gate.open, "reason": self.gate.reason,
                "agi_rtt_ms": None if s.agi_rtt_s is None else round(s.agi_rtt_s * 1000, 1),
                "cpu_busy": None if s.cpu_busy is None else round(s.cpu_busy, 3),
                "channels": s.channels}


class AdmissionWatch:
    """The gates of an engine's PBX nodes, from signals measured here."""

    def __init__(self, rules: AdmissionRules, nodes: Iterable[tuple[str, str]],
                 round_trips: RoundTrips, *, clock: Callable[[], float] = time.monotonic,
                 proc_stat: Callable[[], str] | None = _read_proc_stat,
                 state_file: Path | None = None) -> None:
        self.rules = rules
        self.hosts = dict(nodes)  # node name -> PBX host (its AMI host)
        self.round_trips = round_trips
        self.clock = clock
        self._proc_stat = proc_stat
        self._state_file = state_file
        self._gates = {name: Gate(True, "", clock()) for name in self.hosts}
        self._signals = {name: Signals() for name in self.hosts}
        self._cpu_last: tuple[float, tuple[int, int]] | None = None
        self._cpu_busy: float | None = None
        self._state_at = float("-inf")

    # ------------------------------------------------------------------ signals

    def _cpu(self) -> float | None:
        """Return the CPU busy fraction of this machine over the last second or so."""
        if self._proc_stat is None or not self.rules.cpu_high:
            return None
        now = self.clock()
        if self._cpu_last is not None and now - self._cpu_last[0] < CPU_EVERY_S:
            return self._cpu_busy
        try:
            reading = cpu_times(self._proc_stat())
        except (OSError, ValueError):
            self._proc_stat = None  # no /proc/stat here: the signal is not read
            return None
        if self._cpu_last is not None:
            self._cpu_busy = cpu_busy(self._cpu_last[1], reading)
        self._cpu_last = (now, reading)
        return self._cpu_busy

    def signals(self, node: str, channels: int) -> Signals:
        """Measure one node's signals now."""
        host = self.hosts.get(node, "")
        rtt = median(self.round_trips.recent(host)) if self.rules.rtt_high_s else None
        cpu = self._cpu() if self.rules.cpu_high and is_local(host) else None
        return Signals(agi_rtt_s=rtt, cpu_busy=cpu, channels=channels)

    # ------------------------------------------------------------------ gates

    def check(self, node: str, channels: int) -> Gate:
        """Measure a node, decide its gate, log a change; return the gate."""
        now = self.clock()
        signals = self.signals(node, channels)
        before = self._gates.get(node, Gate(True, "", now))
        after = decide(before, signals, self.rules, now)
        self._gates[node] = after
        self._signals[node] = signals
        changed = after.open != before.open
        if changed and not after.open:
            log.warning("admission: node %s closed to new calls: %s", node, after.reason)
        elif changed:
            log.info("admission: node %s open again after %.1f s", node, now - before.since)
        if changed or now - self._state_at >= STATE_EVERY_S:
            self._write_state(now)
        return after

    def room(self, node: str, channels: int) -> int | None:
        """Return how many more calls the node may take under max_channels (None: no limit)."""
        if not self.rules.max_channels:
            return None
        return max(0, self.rules.max_channels - channels)

    def states(self) -> dict[str, NodeAdmission]:
        """Return every node's latest gate and signals."""
        return {n: NodeAdmission(n, self._gates[n], self._signals[n]) for n in self._gates}

    def _write_state(self, now: float) -> None:
        self._state_at = now
        if self._state_file is None:
            return
        state = {"at": time.time(), "nodes": {n: a.as_dict() for n, a in self.states().items()}}
        tmp = self._state_file.with_name(self._state_file.name + ".tmp")
        try:
            tmp.write_text(json.dumps(state))
            os.replace(tmp, self._state_file)
        except OSError as exc:
            log.debug("admission: cannot write %s: %s", self._state_file, exc)


def read_state(path: Path, *, now: float | None = None) -> Mapping[str, dict[str, Any]]:
    """Return the node states a running engine last wrote, or {} if none is fresh."""
    try:
        state = json.loads(path.read_text())
        at = float(state["at"])
        nodes = state["nodes"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    if (now if now is not None else time.time()) - at > STATE_STALE_S or not isinstance(nodes,
                                                                                         dict):
        return {}
    return nodes


def state_path(home: Path) -> Path:
    """Return where an engine keeps its admission state (under its home)."""
    return home / "admission.json"


__all__ = ["AdmissionWatch", "NodeAdmission", "is_local", "read_state", "state_path"]

"""Service, status: one reading of the engine's live state, for /metrics, /healthz and `rabta status`.

`snapshot` reads the store (transactions per status, due now, calls on the line per node and
per trunk, today's attempts) and the engine's own figures (AMI links, survey sessions, FastAGI
connections) into one frozen StatusSnapshot. Without an engine (`rabta status` in another
process) each node's AMI port is probed instead. The edges only render it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from types import MappingProxyType
from typing import Any

from ivr.config import Settings
from ivr.engine import EngineHealth
from ivr.models import FINAL, OPEN, ORDER
from ivr.store import SQLiteStore
from scheduler.admission_watch import read_state, state_path
from scheduler.rules import Rules

__all__ = ["NodeState", "Queue", "StatusSnapshot", "TrunkState", "snapshot"]

Probe = Callable[[str, int], bool]  # (AMI host, port) -> does Asterisk's manager greet?


@dataclass(frozen=True, slots=True)
class NodeState:
    """One PBX node: calls dialling or on the line through it, its limit, its AMI link."""

    name: str
    in_flight: int
    capacity: int
    ami_connected: bool


@dataclass(frozen=True, slots=True)
class TrunkState:
    """One trunk: calls on it now, the channels it may carry, its pace and today's attempts."""

    name: str
    in_flight: int
    capacity: int
    cps: float
    attempts_today: int


@dataclass(frozen=True, slots=True)
class Queue:
    """What the store says: transactions per status and today's calls."""

    statuses: Mapping[str, int]  # every status, 0 included, in the order of the road
    waiting: int
    due_now: int
    next_due_at: str | None
    attempts_today: Mapping[str, int]  # by outcome ("in_progress": not ended)
    surveys_today: Mapping[str, int]  # answered calls today by result
    in_flight_by_node: Mapping[str, int]
    in_flight_by_trunk: Mapping[str, int]
    attempts_today_by_trunk: Mapping[str, int]

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    @property
    def final(self) -> int:
        return sum(n for s, n in self.statuses.items() if s in FINAL)

    @property
    def open(self) -> int:
        return sum(n for s, n in self.statuses.items() if s in OPEN)


@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    """The engine's live state at one moment; `queue` is None when the store was not read."""

    at: datetime
    nodes: tuple[NodeState, ...]
    queue: Queue | None = None
    trunks: tuple[TrunkState, ...] = ()
    sessions: int | None = None  # survey sessions running (only with an engine)
    agi: Mapping[str, int] = field(default_factory=dict)  # FastAGI connections by fate
    # Admission control per node: open, reason, agi_rtt_ms, cpu_busy, channels (the running
    # engine's; from another process, what it last wrote; empty when none runs).
    admission: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        """Tell whether calls can go out: at least one PBX node answers on AMI."""
        return any(n.ami_connected for n in self.nodes)

    @property
    def all_nodes_up(self) -> bool:
        return all(n.ami_connected for n in self.nodes)

    def as_dict(self, settings: Settings) -> dict[str, Any]:
        """Return the snapshot as `rabta status --json` prints it."""
        out: dict[str, Any] = {}
        q = self.queue
        if q is not None:
            out.update(statuses=dict(q.statuses), waiting=q.waiting, due_now=q.due_now,
                       next_due_at=q.next_due_at, attempts_today=dict(q.attempts_today),
                       surveys_today=dict(q.surveys_today),
                       in_flight_by_node=dict(q.in_flight_by_node),
                       in_flight_by_trunk=dict(q.in_flight_by_trunk),
                       attempts_today_by_trunk=dict(q.attempts_today_by_trunk))
        out.update(
            ami_answering=self.all_nodes_up,
            calling_window=settings.calling_window, max_concurrent=settings.max_concurrent,
            nodes={n.name: {"in_flight": n.in_flight, "capacity": n.capacity}
                   for n in self.nodes},
            ami_connected={n.name: n.ami_connected for n in self.nodes},
            trunks={t.name: {"in_flight": t.in_flight, "capacity": t.capacity, "cps": t.cps,
                             "attempts_today": t.attempts_today} for t in self.trunks})
        out["admission"] = {n: dict(a) for n, a in self.admission.items()}
        if self.sessions is not None:
            out["sessions"] = self.sessions
            out["agi"] = dict(self.agi)
        return out


def _day_start(now: datetime, zone: tzinfo) -> datetime:
    return now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)


async def _queue(store: SQLiteStore, now: datetime, zone: tzinfo) -> Queue:
    s = await store.live_summary(now, _day_start(now, zone))
    counts = s["statuses"]
    return Queue(statuses={st.value: counts.get(st.value, 0) for st in ORDER},
                 waiting=s["waiting"], due_now=s["due_now"], next_due_at=s["next_due_at"],
                 attempts_today=s["attempts_today"], surveys_today=s["surveys_today"],
                 in_flight_by_node=s["in_flight_by_node"],
                 in_flight_by_trunk=s["in_flight_by_trunk"],
                 attempts_today_by_trunk=s["attempts_today_by_trunk"])


async def snapshot(store: SQLiteStore, settings: Settings, now: datetime, zone: tzinfo, *,
                   engine: EngineHealth | None = None, probe: Probe | None = None,
                   read_store: bool = True) -> StatusSnapshot:
    """Read the live state once: the store (unless read_store is False) and the engine's links.

    With an engine, its AMI links say which nodes are up; without one, `probe` is asked for
    each node's AMI port (in a thread: it is a blocking connect). /healthz passes
    read_store=False: a load balancer's check every few seconds need not count the queue.
    """
    queue = await _queue(store, now, zone) if read_store else None
    names = settings.pbx_nodes()
    if engine is not None:  # the engine's own links are the truth about its nodes
        up = dict(engine.ami)
        names = [(name, "", 0) for name in up]
    elif probe is not None:
        answers = await asyncio.gather(*(asyncio.to_thread(probe, host, port)
                                         for _, host, port in names))
        up = {name: ok for (name, _, _), ok in zip(names, answers, strict=True)}
    else:
        up = dict.fromkeys((n for n, _, _ in names), False)
    in_node = queue.in_flight_by_node if queue else {}
    nodes = tuple(NodeState(name, in_node.get(name, 0), settings.max_concurrent, up[name])
                  for name, _, _ in names)
    trunks: tuple[TrunkState, ...] = ()
    if queue is not None:
        # The engine's rules were built once at its start; without one, build them here.
        rules = (engine.trunks if engine is not None and engine.trunks
                 else Rules.from_settings(settings).trunks)
        trunks = tuple(TrunkState(t.name, queue.in_flight_by_trunk.get(t.name, 0), t.channels,
                                  t.cps, queue.attempts_today_by_trunk.get(t.name, 0))
                       for t in rules)
    if engine is None:
        return StatusSnapshot(now, nodes, queue, trunks,
                              admission=read_state(state_path(settings.home)))
    return StatusSnapshot(now, nodes, queue, trunks, engine.sessions,
                          MappingProxyType(dict(engine.agi)),
                          {n: a.as_dict() for n, a in engine.admission.items()})

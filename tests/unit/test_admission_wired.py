"""Unit tier: admission control wired in: settings -> rules, signals per node, the dialer's gate.

Fake signals and a fake clock throughout: quick AGI round trips recorded by hand, /proc/stat
as text, the dialer's store a recorder of claims.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ivr.asterisk.agi.roundtrip import RoundTrips
from ivr.calls import CallRegistry
from ivr.config import load_settings
from ivr.errors import ConfigError
from scheduler.admission import AdmissionRules
from scheduler.admission_watch import AdmissionWatch, is_local, read_state
from scheduler.dialer import Dialer
from scheduler.rules import Rules
from tests.unit.test_agi_channel import make_channel


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def watch(clock: Clock, rules: AdmissionRules, *, host: str = "127.0.0.1",
          proc_stat: Any = None, state: Path | None = None) -> tuple[AdmissionWatch, RoundTrips]:
    trips = RoundTrips(clock=clock)
    return AdmissionWatch(rules, [("pbx", host)], trips, clock=clock, proc_stat=proc_stat,
                          state_file=state), trips


# ---------------------------------------------------------------- settings -> rules


def test_the_marks_come_from_settings_and_zero_turns_a_signal_off() -> None:
    s = load_settings(env={}, overrides={"admission_rtt_high_ms": 300, "admission_rtt_low_ms": 120,
                                         "admission_max_channels": 3, "admission_cpu_high": 0})
    a = Rules.from_settings(s).admission
    assert (a.rtt_high_s, a.rtt_low_s, a.max_channels, a.cpu_high, a.cpu_low) == (
        0.3, 0.12, 3, 0, 0)
    off = Rules.from_settings(load_settings(env={}, overrides={"admission_rtt_high_ms": 0}))
    assert off.admission.rtt_high_s == 0  # its low mark (100 by default) no longer matters


def test_a_low_mark_above_its_high_mark_is_a_config_error_naming_the_keys() -> None:
    s = load_settings(env={}, overrides={"admission_rtt_high_ms": 50, "admission_rtt_low_ms": 100})
    with pytest.raises(ConfigError, match="admission_rtt_low_ms"):
        Rules.from_settings(s)


def test_an_out_of_range_mark_is_refused_where_it_is_read() -> None:
    with pytest.raises(ConfigError, match="admission_cpu_high"):
        load_settings(env={"RABTA_ADMISSION_CPU_HIGH": "1.5"})


# ---------------------------------------------------------------- round trips


def test_round_trips_are_kept_per_host_and_forgotten_when_old() -> None:
    clock = Clock()
    trips = RoundTrips(clock=clock, max_age_s=10)
    trips.record("::ffff:127.0.0.1", 0.2)
    trips.record("10.0.0.2", 0.9)
    clock.t += 5
    trips.record("127.0.0.1", 0.4)
    assert trips.recent("127.0.0.1") == [0.2, 0.4]
    clock.t += 6
    assert trips.recent("127.0.0.1") == [0.4]
    assert trips.recent("10.0.0.2") == []
    assert trips.recent("unknown") == []


async def test_the_channel_times_quick_commands_only() -> None:
    seen: list[float] = []
    channel, _ = make_channel("200 result=1", "200 result=0 endpos=0", "200 result=1 (x)")
    channel._round_trip = seen.append
    await channel.set_variable("A", "b")  # quick
    await channel.stream_file("hello")  # plays: the citizen's time, never timed
    await channel.get_variable("A")  # quick
    assert len(seen) == 2 and all(0 <= s < 1 for s in seen)


# ---------------------------------------------------------------- the watch


def test_a_gate_closes_with_one_warning_and_opens_with_one_info(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    w, trips = watch(clock, AdmissionRules(rtt_high_s=0.25, rtt_low_s=0.1, cpu_high=0,
                                           cpu_low=0, min_closed_s=3))
    caplog.set_level(logging.INFO, logger="scheduler.admission_watch")
    for _ in range(3):
        trips.record("127.0.0.1", 0.4)
    assert not w.check("pbx", 2).open
    assert not w.check("pbx", 2).open  # still closed: no second warning
    trips.record("127.0.0.1", 0.05)  # median still high
    clock.t += 16  # the slow round trips are now too old to count
    trips.record("127.0.0.1", 0.05)
    assert w.check("pbx", 2).open
    assert w.check("pbx", 2).open
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert messages == [
        ("WARNING", "admission: node pbx closed to new calls: AGI round trip 400 ms > 250 ms"),
        ("INFO", "admission: node pbx open again after 16.0 s")]


def test_host_cpu_is_read_only_for_a_node_on_this_machine() -> None:
    clock = Clock()
    stats = iter(["cpu  100 0 0 900 0 0 0 0 0 0\n", "cpu  190 0 0 910 0 0 0 0 0 0\n"])
    rules = AdmissionRules(rtt_high_s=0, rtt_low_s=0, cpu_high=0.8, cpu_low=0.5)
    w, _ = watch(clock, rules, proc_stat=lambda: next(stats))
    assert w.check("pbx", 0).open  # first reading: nothing to compare with yet
    clock.t += 1.5
    gate = w.check("pbx", 0)
    assert not gate.open and gate.reason == "PBX host CPU 90% > 80%"
    remote, _ = watch(clock, rules, host="10.1.2.3", proc_stat=lambda: 1 / 0)
    assert remote.check("pbx", 0).open and remote.states()["pbx"].signals.cpu_busy is None
    assert is_local("localhost") and is_local("::1") and not is_local("pbx.example")


def test_max_channels_closes_the_gate_and_bounds_what_may_be_claimed() -> None:
    clock = Clock()
    w, _ = watch(clock, AdmissionRules(rtt_high_s=0, rtt_low_s=0, cpu_high=0, cpu_low=0,
                                       max_channels=3, min_closed_s=0))
    assert w.room("pbx", 1) == 2
    assert not w.check("pbx", 3).open
    assert w.check("pbx", 2).open


def test_the_state_file_tells_another_process_and_goes_stale(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "admission.json"
    w, trips = watch(clock, AdmissionRules(cpu_high=0, cpu_low=0), state=path)
    trips.record("127.0.0.1", 0.5)
    w.check("pbx", 4)
    state = read_state(path)
    assert state["pbx"]["open"] is False and state["pbx"]["agi_rtt_ms"] == 500.0
    assert state["pbx"]["channels"] == 4 and "500 ms" in state["pbx"]["reason"]
    written = json.loads(path.read_text())["at"]
    assert read_state(path, now=written + 31) == {}
    assert read_state(tmp_path / "none.json") == {}
    path.write_text("garbage")
    assert read_state(path) == {}


# ---------------------------------------------------------------- the dialer


class Store:
    """Records what the dialer claims; has nothing due (the loop only asks)."""

    def __init__(self) -> None:
        self.limits: list[int] = []

    async def claim_due(self, now: datetime, limit: int, **_: Any) -> list[Any]:
        self.limits.append(limit)
        return []

    async def status_counts(self) -> dict[str, int]:
        return {"pending": 5}


async def _run(d: Dialer, rounds: int, between: Any = None) -> None:
    """Run the dialer's loop for some rounds; `between(round)` runs at each idle sleep."""
    stop = asyncio.Event()
    count = 0

    async def sleep(_stop: asyncio.Event, _seconds: float) -> None:
        nonlocal count
        count += 1
        if between:
            between(count)
        if count >= rounds:
            stop.set()

    d._sleep = sleep  # type: ignore[method-assign]
    await d.run(stop=stop)


async def test_the_dialer_claims_nothing_on_a_closed_node_and_resumes_when_it_opens() -> None:
    settings = load_settings(env={}, overrides={"calling_window": "00:00-24:00"})
    clock = Clock()
    w, trips = watch(clock, AdmissionRules(rtt_high_s=0.25, rtt_low_s=0.1, cpu_high=0,
                                           cpu_low=0, min_closed_s=3))
    ami: Any = SimpleNamespace(name="pbx", connected=True, subscribe=lambda kind, h: None)
    store = Store()
    d = Dialer(store=store, ami=[ami], settings=settings,  # type: ignore[arg-type]
               calls=CallRegistry(), rules=Rules.from_settings(settings),
               clock=lambda: datetime.now(UTC), admission=w)
    await _run(d, 2)
    assert len(store.limits) == 2  # open: it asks the store each round
    for _ in range(5):
        trips.record("127.0.0.1", 0.6)  # the PBX slows down
    store.limits.clear()

    def recover(n: int) -> None:
        clock.t += 1
        if n == 6:
            clock.t += 20  # the slow round trips age out
            trips.record("127.0.0.1", 0.02)

    await _run(d, 10, recover)
    # Closed for rounds 1-6: nothing claimed, nothing failed; open again from round 7 on.
    assert len(store.limits) == 4 and all(limit > 0 for limit in store.limits)
    assert w.states()["pbx"].gate.open


async def test_the_dialer_never_claims_past_max_channels() -> None:
    settings = load_settings(env={}, overrides={"calling_window": "00:00-24:00"})
    clock = Clock()
    w, _ = watch(clock, AdmissionRules(rtt_high_s=0, rtt_low_s=0, cpu_high=0, cpu_low=0,
                                       max_channels=3, min_closed_s=0))
    ami: Any = SimpleNamespace(name="pbx", connected=True, subscribe=lambda kind, h: None)
    store = Store()
    d = Dialer(store=store, ami=[ami], settings=settings,  # type: ignore[arg-type]
               calls=CallRegistry(), rules=Rules.from_settings(settings), admission=w)
    d._by_node["pbx"] |= {1}
    await _run(d, 1)
    assert store.limits == [2]
    d._by_node["pbx"] |= {2, 3}
    await _run(d, 1)
    assert store.limits == [2]  # three on the node: closed, nothing asked


# ---------------------------------------------------------------- where it shows


async def test_status_metrics_and_the_cli_show_each_gate(store: Any, tmp_path: Path) -> None:
    import io
    from zoneinfo import ZoneInfo

    from ivr.cli.status import write_status
    from ivr.config import Settings
    from ivr.engine import EngineHealth
    from ivr.services.status import snapshot
    from ivr.web.app import Metrics
    from scheduler.admission import Gate, Signals
    from scheduler.admission_watch import NodeAdmission

    settings = Settings(home=tmp_path, cache=tmp_path)
    closed = NodeAdmission("rabta-pbx", Gate(False, "AGI round trip 400 ms > 250 ms", 1.0),
                           Signals(agi_rtt_s=0.4, cpu_busy=0.5, channels=7))
    health = EngineHealth({"rabta-pbx": True}, 0, {}, admission={"rabta-pbx": closed})
    snap = await snapshot(store, settings, datetime.now(UTC), ZoneInfo("UTC"), engine=health)
    summary = snap.as_dict(settings)
    assert summary["admission"] == {"rabta-pbx": {
        "open": False, "reason": "AGI round trip 400 ms > 250 ms", "agi_rtt_ms": 400.0,
        "cpu_busy": 0.5, "channels": 7}}
    out = io.StringIO()
    write_status(settings, summary | {"ami_by_node": {"rabta-pbx": True}}, False, out)
    assert ("admission rabta-pbx: CLOSED to new calls (AGI round trip 400 ms > 250 ms); "
            "AGI round trip ms 400, host CPU 50%, calls 7") in out.getvalue()
    metrics = Metrics()
    metrics.refresh(snap)
    from prometheus_client import generate_latest
    text = generate_latest(metrics.registry).decode()
    assert 'rabta_admission_open{node="rabta-pbx"} 0.0' in text
    assert 'rabta_admission_agi_rtt_seconds{node="rabta-pbx"} 0.4' in text
    assert 'rabta_admission_calls{node="rabta-pbx"} 7.0' in text


async def test_the_engine_shares_one_round_trip_window_between_fastagi_and_the_dialer(
        store: Any, tmp_path: Path) -> None:
    from ivr.config import Settings
    from ivr.engine import Engine

    settings = Settings(home=tmp_path, cache=tmp_path, ami_secret="x" * 20,
                        nodes=("a@127.0.0.1:5038", "b@10.0.0.7:5038"))
    engine = Engine(settings, store)
    assert engine.dialer.admission is engine.admission
    assert engine.agi.round_trips is engine.admission.round_trips
    assert engine.admission.hosts == {"a": "127.0.0.1", "b": "10.0.0.7"}
    assert set(engine.health().admission) == {"a", "b"}

"""Benchmark: the knee of the dialer on this machine (sustained calls/s, peak concurrent calls).

Steps through offered loads (calls per second). At each level it loads cps x seconds scripted
citizens who all answer and complete the survey (`s1s4s2`) over real SIP with RFC 4733 DTMF, runs
the real engine in this process until idle, and measures: the achieved rate (steady state: the
spread of the calls' answer and end times), the peak number of survey calls on the line, answers
lost (a citizen whose stored answers differ from the script), failed calls, and the CPU of the
engine, the PBX, the carrier simulator and the whole machine, read from the kernel over the
same interval (per call over the level, in cores on its plateau).

The knee is the highest level, counting up from the lowest, that achieves >= 90% of the offered
rate with no answer lost and no call failed. What saturates first is read at the level after it;
the levels above the knee and a projection from the highest clean plateau are printed too.

    python bench/knee.py                 # levels 4,6,...,16 calls/s, 45 s each (9-11 min)
    python bench/knee.py --quick         # smoke run: levels 2,4, 10 s each
    python bench/knee.py --levels 6,12 --compare   # each level without, then with admission

With --compare each level runs twice in the one invocation: once with admission control off (every
mark 0: the dialer dials as fast as it is told) and once with it on (scheduler/admission.py, the
marks of the settings or of the --admission-* flags), and a table of the two is printed: completed
rate, answers stored wrong or lost, failed calls, engine and PBX CPU, how long the gate was shut.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cpu_per_call import TICK, cpu_seconds

from ivr import cli, phone
from ivr.config import Settings, load_settings, replace
from ivr.engine import Engine
from ivr.lab import rootfs, simulator
from ivr.models import Transaction
from ivr.store import SQLiteStore, open_store
from ivr.store.sqlite import parse_ts

KEYS = "s1s4s2"
EXPECTED = {"visit_confirmed": "1", "rating": "4", "bribe": "2"}
CORES = os.cpu_count() or 1
SAMPLING_CPU = [0.0]  # CPU seconds this process spent running the Asterisk CLI for samples
NODE = dict(node="rabta-knee", sip_port=5360, carrier_sip_port=5370, ami_port=5338,
            agi_port=4873, rtp_start=40000)


@dataclass
class Level:
    """One offered load and what came of it."""

    offered: float  # calls per second asked of the dialer
    calls: int
    max_concurrent: int
    wall_s: float = 0.0  # engine started until it was idle
    completed: int = 0  # completed with every answer exactly as scripted
    lost: int = 0  # citizens whose stored answers differ from the script
    failed: int = 0  # transactions not completed
    answer_rate: float = 0.0  # calls answered per second (the dialling rate achieved)
    rate: float = 0.0  # completed calls per second, steady state
    call_s: float = 0.0  # median survey call, answer to end
    peak_calls: int = 0  # survey sessions on the line at once (engine's count)
    peak_pbx: int = 0  # PBX channels at once (sampled by CLI, coarser)
    engine_cpu: float = 0.0  # CPU seconds over the whole level
    pbx_cpu: float = 0.0
    carrier_cpu: float = 0.0
    plateau_s: float = 0.0  # how long the peak number of calls was (nearly) held
    engine_cores: float = 0.0  # CPU use on the plateau, in cores
    loop_cores: float = 0.0  # the engine's event-loop thread alone
    pbx_cores: float = 0.0
    carrier_cores: float = 0.0
    machine_cores: float = 0.0  # every process on the machine
    load1: float = 0.0  # highest 1-minute load average seen
    timed_out: bool = False
    statuses: dict[str, int] = field(default_factory=dict)  # transactions by status at the end
    outcomes: dict[str, int] = field(default_factory=dict)  # the dialer's Originate results
    lost_answers: dict[str, int] = field(default_factory=dict)  # what was stored instead
    admission: bool = False  # admission control on for this run (off: every mark 0)
    wrong: int = 0  # citizens with an answer stored that the script did not give (not missing)
    closed_s: float = 0.0  # seconds (sampled every 0.5 s) with the node's gate closed
    closes: int = 0  # times the gate closed
    peak_admitted: int = 0  # calls the dialer had on the node at once (its own count)

    @property
    def ratio(self) -> float:
        return self.engine_cpu / self.pbx_cpu if self.pbx_cpu else math.nan

    @property
    def other_cores(self) -> float:
        """Cores that processes other than these three used on the plateau (contention)."""
        return self.machine_cores - self.engine_cores - self.pbx_cores - self.carrier_cores

    @property
    def ok(self) -> bool:
        return (self.rate >= 0.9 * self.offered and not self.lost and not self.failed
                and not self.timed_out)


def threads(pid: int | str) -> dict[str, float]:
    """Return CPU seconds used so far by each thread of a process."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[task.name] = (int(fields[11]) + int(fields[12])) / TICK
    return out


def machine_busy() -> float:
    """Return CPU seconds all cores have spent busy (not idle, not iowait) since boot."""
    v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / TICK


def channel_count(inst: rootfs.Instance) -> int:
    """Return how many channels an Asterisk has up, or -1 if its CLI did not say in time.

    Spawning the CLI costs this process CPU; it is counted in SAMPLING_CPU and not charged to
    the engine.
    """
    t = time.thread_time()
    try:
        return int(rootfs.cli(inst, "core show channels count", timeout=5).split()[0])
    except Exception:
        return -1
    finally:
        SAMPLING_CPU[0] += time.thread_time() - t


async def wait_quiet(node: rootfs.Node, timeout: float = 90.0) -> None:
    """Wait until neither Asterisk has a channel left (the previous level is gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = [await asyncio.to_thread(channel_count, i) for i in node.instances]
        if counts == [0, 0]:
            return
        await asyncio.sleep(1.0)
    raise RuntimeError(f"channels still up after {timeout:.0f} s: {counts}")


def snapshot(pbx_pid: int, car_pid: int, on_line: int) -> list[float]:
    """[time, calls in the survey, CPU s of engine, its event loop, PBX, carrier, all cores]."""
    loop = threads("self")[str(os.getpid())]
    return [time.monotonic(), on_line, time.process_time() - SAMPLING_CPU[0], loop, cpu_seconds(pbx_pid),
            cpu_seconds(car_pid), machine_busy()]


async def run_level(settings: Settings, store: SQLiteStore, node: rootfs.Node, lv: Level,
                    numbers: list[str], office: str, timeout: float, trace: bool) -> None:
    """Dial one level's citizens until idle; fill in lv."""
    visited = datetime.now(UTC) - timedelta(hours=3)
    await store.add_transactions([
        Transaction(office=office, ref=f"{office}-{i}", name="", mobile=phone.normalize(n),
                    service="police", district="Lahore", official="o", visited_at=visited,
                    language="en") for i, n in enumerate(numbers)], datetime.now(UTC))
    pbx_pid, car_pid = rootfs.pid_of(node.pbx), rootfs.pid_of(node.carrier)
    assert pbx_pid and car_pid, "an Asterisk instance is not running"
    off = {} if lv.admission else dict(admission_rtt_high_ms=0.0, admission_cpu_high=0.0,
                                       admission_max_channels=0)
    engine = Engine(replace(settings, calls_per_second=lv.offered,
                            max_concurrent=lv.max_concurrent, **off), store)
    await engine.start()
    done = asyncio.Event()
    snaps = [snapshot(pbx_pid, car_pid, 0)]

    async def sample() -> None:
        n, pbx = 0, -1
        was_shut = False
        while not done.is_set():
            await asyncio.sleep(0.5)
            n += 1
            lv.peak_calls = max(lv.peak_calls, len(engine.calls.sessions))
            lv.peak_admitted = max(lv.peak_admitted, engine.calls.in_flight)
            gates = engine.admission.states()
            shut = any(not a.gate.open for a in gates.values())
            if shut:
                lv.closed_s += 0.5
            if shut and not was_shut:
                lv.closes += 1
            was_shut = shut
            if n % 4 == 0:  # the CLI is a process of its own: every 2 s is enough
                pbx = await asyncio.to_thread(channel_count, node.pbx)
                lv.peak_pbx = max(lv.peak_pbx, pbx)
                lv.load1 = max(lv.load1, os.getloadavg()[0])
                snaps.append(snapshot(pbx_pid, car_pid, len(engine.calls.sessions)))
            if trace and n % 10 == 0:
                print(f"    {time.monotonic() - snaps[0][0]:5.0f} s: {engine.calls.in_flight} in flight, "
                      f"{len(engine.calls.sessions)} in the survey, {pbx} PBX channels, "
                      f"{engine.dialer.stats.outcomes}", flush=True)

    sampler = asyncio.create_task(sample())
    try:
        await asyncio.wait_for(engine.dialer.run(until_idle=True), timeout)
    except TimeoutError:
        lv.timed_out = True
    finally:
        last = snapshot(pbx_pid, car_pid, 0)
        done.set()
        await sampler
        lv.outcomes = dict(engine.dialer.stats.outcomes)
        await engine.close()
    first = snaps[0]
    lv.wall_s = last[0] - first[0]
    lv.engine_cpu, lv.pbx_cpu, lv.carrier_cpu = (last[i] - first[i] for i in (2, 4, 5))
    # The plateau: from the first to the last sample with >= 90% of the peak on the line. CPU
    # use there, in cores, is what this load costs when sustained (the whole level averages in
    # the ramps); too short a plateau falls back to the whole level.
    top = [x for x in snaps if x[1] >= 0.9 * lv.peak_calls and x[1] > 0]
    a, b = (top[0], top[-1]) if len(top) >= 2 and top[-1][0] - top[0][0] >= 4 else (first, last)
    lv.plateau_s = b[0] - a[0]
    lv.engine_cores, lv.loop_cores, lv.pbx_cores, lv.carrier_cores, lv.machine_cores = (
        (b[i] - a[i]) / lv.plateau_s for i in (2, 3, 4, 5, 6))
    await score(store, lv, office)


async def score(store: SQLiteStore, lv: Level, office: str) -> None:
    """Count completed calls, lost answers and failures; rates from the attempts' timestamps."""
    rows = [r for r in await store.results() if r["office"] == office]
    lv.statuses = dict(Counter(r["status"] for r in rows))
    lv.completed = sum(1 for r in rows if r["status"] == "completed" and r["answers"] == EXPECTED)
    lv.lost = sum(1 for r in rows if r["answers"] != EXPECTED)
    lv.wrong = sum(1 for r in rows if any(EXPECTED.get(k) != v for k, v in r["answers"].items()))
    lv.failed = sum(1 for r in rows if r["status"] != "completed")
    lv.lost_answers = dict(Counter(json.dumps(r["answers"], sort_keys=True) for r in rows
                                   if r["answers"] != EXPECTED))
    async with store._db.execute(
            "SELECT a.answered_at, a.ended_at, a.result FROM attempts a "
            "JOIN transactions t ON t.id = a.transaction_id WHERE t.office = ?", (office,)) as cur:
        attempts = list(await cur.fetchall())

    def at(text: str) -> datetime:
        t = parse_ts(text)
        assert t is not None
        return t

    def spread_rate(times: list[datetime]) -> float:
        if len(times) < 2:
            return 0.0
        span = (max(times) - min(times)).total_seconds()
        return (len(times) - 1) / span if span else math.inf

    # started_at is written when a batch is claimed, before pacing: answered_at is the real pace.
    lv.answer_rate = spread_rate([at(a[0]) for a in attempts if a[0]])
    ok = [(at(a[0]), at(a[1])) for a in attempts if a[2] == "completed" and a[0] and a[1]]
    lv.rate = spread_rate([end for _, end in ok])
    if ok:
        lv.call_s = statistics.median((end - ans).total_seconds() for ans, end in ok)


def print_table(levels: list[Level]) -> None:
    head = (f"{'cps':>5} {'calls':>5} {'cap':>4} {'wall s':>6} {'ans/s':>6} {'done/s':>6} "
            f"{'call s':>6} {'peak':>4} {'pbx ch':>6} {'lost':>4} {'fail':>4} | {'plat s':>6} "
            f"{'engine':>6} {'loop':>5} {'PBX':>5} {'carr':>5} {'other':>5} {'all':>5} | "
            f"{'eng ms':>6} {'PBX ms':>6} {'ratio':>6} {'load1':>5}")
    print(head)
    print("-" * len(head))
    for v in levels:
        n = max(v.completed, 1)
        print(f"{v.offered:>5g} {v.calls:>5} {v.max_concurrent:>4} {v.wall_s:>6.1f} "
              f"{v.answer_rate:>6.2f} {v.rate:>6.2f} {v.call_s:>6.1f} {v.peak_calls:>4} "
              f"{v.peak_pbx:>6} {v.lost:>4} {v.failed:>4} | {v.plateau_s:>6.0f} "
              f"{v.engine_cores:>6.2f} {v.loop_cores:>5.2f} {v.pbx_cores:>5.2f} "
              f"{v.carrier_cores:>5.2f} {v.other_cores:>5.2f} {v.machine_cores:>5.2f} | "
              f"{v.engine_cpu / n * 1000:>6.1f} {v.pbx_cpu / n * 1000:>6.1f} {v.ratio:>6.3f} "
              f"{v.load1:>5.2f}")
    print("peak: survey calls on the line at once (engine's count); pbx ch: PBX channels (CLI, every 2 s)\n"
          "plat s: seconds with >= 90% of the peak on the line; CPU there, in cores: engine process, its\n"
          "event-loop thread, PBX, carrier simulator, other processes (e.g. someone's tests), machine\n"
          "eng ms, PBX ms: CPU per completed call over the whole level; ratio = eng ms / PBX ms")


def saturation(v: Level) -> str:
    """Say which resource was nearest its limit on one level's plateau."""
    shares = {"engine's event loop (1 core)": v.loop_cores,
              f"machine's {CORES} cores": v.machine_cores / CORES}
    name, frac = max(shares.items(), key=lambda kv: kv[1])
    users = {"PBX": v.pbx_cores, "carrier simulator": v.carrier_cores, "engine": v.engine_cores}
    top = max(users, key=lambda k: users[k])  # of the three
    users["other processes"] = v.other_cores
    detail = ", ".join(f"{k} {c:.2f}" for k, c in users.items())
    return (f"at {v.offered:g} calls/s the nearest limit is the {name}, {frac:.0%} busy "
            f"(cores: {detail}, everything {v.machine_cores:.2f}; biggest user: {top})")


def print_comparison(done: list[Level]) -> None:
    """Print each offered rate without and with admission control, side by side."""
    print(f"{'cps':>5} {'admission':>9} {'calls':>5} {'done':>5} {'done/s':>6} {'wrong':>5} "
          f"{'lost':>5} {'fail':>4} {'peak':>4} {'shut s':>6} {'closes':>6} {'wall s':>6} "
          f"{'eng s':>6} {'PBX s':>6} {'ratio':>6} {'other':>5}")
    for v in sorted(done, key=lambda v: (v.offered, v.admission)):
        print(f"{v.offered:>5g} {'on' if v.admission else 'off':>9} {v.calls:>5} "
              f"{v.completed:>5} {v.rate:>6.2f} {v.wrong:>5} {v.lost:>5} {v.failed:>4} "
              f"{v.peak_admitted:>4} {v.closed_s:>6.1f} {v.closes:>6} {v.wall_s:>6.0f} "
              f"{v.engine_cpu:>6.1f} {v.pbx_cpu:>6.1f} {v.ratio:>6.3f} {v.other_cores:>5.2f}")
    print("done: completed with every answer as scripted; wrong: an answer stored that the "
          "script did not give;\nlost: any answer not as scripted (wrong or missing); peak: "
          "calls the dialer had at once;\nshut s / closes: time and times the node's gate was "
          "closed; eng s, PBX s: CPU seconds over the run;\nother: cores other processes used "
          "on the plateau (a shared machine)")


async def main(levels: list[float], seconds: float, call_s: float, cap: int, trace: bool,
               compare: bool = False, marks: dict[str, float] | None = None) -> None:
    home = Path(tempfile.mkdtemp(prefix="rabta-knee-"))
    env = {k: v for k, v in os.environ.items() if k == "RABTA_CACHE"}
    settings = load_settings(env=env, overrides=dict(
        home=str(home), **NODE, calling_window="00:00-24:00", max_concurrent=cap,
        calls_per_second=1, log_level="WARNING", retry_delays=(), partial_callbacks=0,
        **(marks or {})))
    modes = (False, True) if compare else (False,)
    plan = [Level(cps, max(1, round(cps * seconds)), min(cap, math.ceil(cps * call_s * 1.5)),
                  admission=on) for cps in levels for on in modes]
    numbers = [[f"03007{li:02d}{i:04d}" for i in range(lv.calls)] for li, lv in enumerate(plan)]
    print(f"{CORES} cores; levels {', '.join(f'{c:g}' for c in levels)} calls/s, {seconds:g} s of "
          f"dialling each; node {NODE['node']} (SIP {NODE['sip_port']}/{NODE['carrier_sip_port']})",
          flush=True)
    cli.asterisk_up(settings, quiet=True)
    node = rootfs.node_for(settings)
    done: list[Level] = []
    try:
        book = simulator.parse_phonebook(
            "number,action,keys,ring_s,hangup_s\n"
            + "".join(f"{n},answer,{KEYS},,\n" for ns in numbers for n in ns))
        rootfs.install_phonebook(node.carrier, simulator.render_dialplan(book))
        store = await open_store(home / "knee.db")
        try:
            for li, lv in enumerate(plan):
                await wait_quiet(node)
                print(f"level {lv.offered:g} calls/s: {lv.calls} calls, max {lv.max_concurrent} "
                      f"at once, admission control {'on' if lv.admission else 'off'} ...",
                      flush=True)
                # A level's calls are done within ~90 s of its last dial; far longer is a hang.
                # Admission control may stretch a level (calls wait, due): give it longer.
                await run_level(settings, store, node, lv, numbers[li], f"knee{li}",
                                timeout=(4 if lv.admission else 2) * seconds + 150, trace=trace)
                done.append(lv)
                print(f"  {lv.completed}/{lv.calls} completed at {lv.rate:.2f}/s, peak {lv.peak_calls}"
                      f" on the line, {lv.lost} lost, {lv.failed} failed, {lv.wall_s:.0f} s"
                      + ("; TIMED OUT" if lv.timed_out else "")
                      + (f"; statuses {lv.statuses}, originate results {lv.outcomes}, answers "
                         f"stored instead of the script's: {lv.lost_answers}" if not lv.ok else ""),
                      flush=True)
                if lv.timed_out:
                    break  # calls may still be up on the PBX: higher levels would mean nothing
        finally:
            await store.close()
    finally:
        cli.asterisk_down(settings, quiet=True)
    report([v for v in done if not v.admission])
    if compare:
        print("\nWITHOUT AND WITH ADMISSION CONTROL (marks: "
              + ", ".join(f"{k}={getattr(settings, k):g}" for k in (
                  "admission_rtt_high_ms", "admission_rtt_low_ms", "admission_cpu_high",
                  "admission_cpu_low", "admission_max_channels", "admission_min_closed_s"))
              + ")")
        print_comparison(done)
        print(json.dumps({"compare": [asdict(v) | {"ratio": v.ratio} for v in done]}))


def projection(done: list[Level]) -> None:
    """Extrapolate from the highest clean plateau: at what rate each process would fill its limit."""
    base = next((v for v in reversed(done) if v.ok), done[-1] if done else None)
    if base is None or not base.rate or not base.loop_cores:
        return
    if base.calls / base.offered <= base.call_s:
        return  # dialling ended before the first call did: the plateau was never a steady state
    per = {"PBX": base.pbx_cores / base.rate, "carrier simulator": base.carrier_cores / base.rate,
           "engine": base.engine_cores / base.rate}
    print(f"PROJECTION from the {base.offered:g}/s plateau, cores per call/s: "
          + ", ".join(f"{k} {c:.4f}" for k, c in per.items())
          + f". This node alone fills {CORES} cores at ~{CORES / sum(per.values()):.0f} calls/s; "
          f"PBX + engine alone (a real trunk, no simulator) at ~{CORES / (per['PBX'] + per['engine']):.0f}; "
          f"the engine's event loop fills one core at ~{base.rate / base.loop_cores:.0f}.")


def report(done: list[Level]) -> None:
    print()
    print_table(done)
    knee: Level | None = None
    for v in done:
        if not v.ok:
            break
        knee = v
    # What saturates first is read at the level after the knee (the top level if none failed).
    after = next((v for v in done if knee is None or v.offered > knee.offered),
                 done[-1] if done else None)
    print()
    if knee:
        print(f"KNEE: {knee.rate:.2f} completed calls/s sustained (offered {knee.offered:g}), "
              f"peak {knee.peak_calls} concurrent survey calls, 0 answers lost; "
              f"engine/PBX CPU per call = {knee.ratio:.3f}")
    else:
        print("KNEE: not reached; even the lowest level lost answers, failed calls or fell short")
    if after:
        why = [] if after.ok else [w for w, bad in (
            (f"rate {after.rate:.2f}/s < 90% of {after.offered:g}", after.rate < 0.9 * after.offered),
            (f"{after.lost} answers lost", after.lost), (f"{after.failed} calls failed", after.failed),
            ("timed out", after.timed_out)) if bad]
        print(f"NEXT LEVEL: {'; '.join(why) or 'still fine (the knee is above the levels tried)'}")
        print(f"SATURATES FIRST: {saturation(after)}")
    above = [v for v in done if knee is None or v.offered > knee.offered]
    if above:
        print("ABOVE THE KNEE: " + ", ".join(
            f"{v.offered:g}/s {'passed' if v.ok else f'lost {v.lost}'} (machine {v.machine_cores:.2f} "
            f"cores busy)" for v in above))
    projection(done)
    print(json.dumps({"cores": CORES, "knee": asdict(knee) if knee else None,
                      "knee_ratio": knee.ratio if knee else None,
                      "levels": [asdict(v) | {"ratio": v.ratio} for v in done]}))


if __name__ == "__main__":
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Runs its own node (rabta-knee: SIP 5360/5370, AMI 5338, FastAGI 4873, RTP 40000-49999) "
               "and a fresh store in a temp dir; tears the node down at the end.")
    p.add_argument("--levels", default="4,6,8,10,12,14,16",
                   help="offered loads to step through, calls per second (default: %(default)s)")
    p.add_argument("--seconds", type=float, default=45.0,
                   help="seconds of dialling per level: calls = cps x seconds (default: %(default)s)")
    p.add_argument("--call-seconds", type=float, default=40.0,
                   help="expected survey call length, to size each level's concurrency limit "
                        "as cps x this x 1.5 (default: %(default)s)")
    p.add_argument("--max-concurrent", type=int, default=1000,
                   help="upper bound on any level's concurrency limit (default: %(default)s)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: levels 2,4 with 10 s of dialling each")
    p.add_argument("--compare", action="store_true",
                   help="run each level twice: without, then with admission control")
    for key in ("rtt_high_ms", "rtt_low_ms", "cpu_high", "cpu_low", "max_channels",
                "min_closed_s"):
        p.add_argument(f"--admission-{key.replace('_', '-')}", type=float, default=None,
                       help=f"admission_{key} for the runs with admission control "
                            f"(default: the setting's default)")
    p.add_argument("--trace", action="store_true",
                   help="print calls in flight, in the survey and on the PBX every 5 s")
    a = p.parse_args()
    if a.quick:
        a.levels, a.seconds = "2,4", 10.0
    marks = {f"admission_{k}": (int(v) if k == "max_channels" else v)
             for k in ("rtt_high_ms", "rtt_low_ms", "cpu_high", "cpu_low", "max_channels",
                       "min_closed_s") if (v := getattr(a, f"admission_{k}")) is not None}
    asyncio.run(main([float(x) for x in a.levels.split(",")], a.seconds, a.call_seconds,
                     a.max_concurrent, a.trace, a.compare, marks))

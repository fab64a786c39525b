"""Benchmark: engine CPU per completed survey call, as a ratio of the PBX's CPU per call.

Runs a real node (PBX + carrier simulator in the rootfs) on its own ports, N scripted citizens
who all complete the survey over SIP, and the real engine in this process. CPU is read from
the kernel for all three processes over the same run, so the ratio holds on a noisy machine.

    python bench/cpu_per_call.py --calls 100
    python bench/cpu_per_call.py --calls 100 --loop asyncio   # on Python's own event loop
    python bench/cpu_per_call.py --calls 100 --profile /tmp/engine.prof   # where it goes
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ivr import cli, phone
from ivr.cli.common import run_loop
from ivr.config import load_settings
from ivr.engine import Engine
from ivr.lab import rootfs, simulator
from ivr.models import Transaction
from ivr.store import open_store

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """Return user+system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK



async def main(calls: int, concurrency: int, profile: str | None = None) -> None:
    home = Path(tempfile.mkdtemp(prefix="rabta-bench-"))
    env = {k: v for k, v in os.environ.items() if k == "RABTA_CACHE"}
    settings = load_settings(env=env, overrides=dict(
        home=str(home), node="rabta-bench", sip_port=5260, carrier_sip_port=5270,
        ami_port=5238, agi_port=4773, rtp_start=30000, calling_window="00:00-24:00",
        max_concurrent=concurrency, calls_per_second=10, log_level="WARNING", retry_delays=(),
        partial_callbacks=0))  # an unfinished survey is not called back: the run ends
    cli.asterisk_up(settings, quiet=True)
    node = rootfs.node_for(settings)
    try:
        numbers = [f"0300888{i:04d}" for i in range(calls)]
        book = simulator.parse_phonebook(
            "number,action,keys,ring_s,hangup_s\n"
            + "".join(f"{n},answer,s1s4s2,,\n" for n in numbers))
        rootfs.install_phonebook(node.carrier, simulator.render_dialplan(book))
        store = await open_store(home / "bench.db")
        visited = datetime.now(UTC) - timedelta(hours=3)
        await store.add_transactions([
            Transaction(office="bench", ref=f"b{i}", name="", mobile=phone.normalize(n),
                        service="police", district="Lahore", official="o", visited_at=visited,
                        language="en") for i, n in enumerate(numbers)], visited)
        pbx_pid, car_pid = rootfs.pid_of(node.pbx), rootfs.pid_of(node.carrier)
        assert pbx_pid and car_pid
        engine = Engine(settings, store)
        await engine.start()
        # The main thread's own CPU (the event loop: dialer, AMI, FastAGI, flows), not wall
        # time, which on a busy machine counts every wait for a CPU as the function's.
        profiler = cProfile.Profile(time.thread_time) if profile else None
        th0 = time.thread_time()  # the event loop's own thread (the rest: aiosqlite's)
        os0 = os.times()  # user and system time of the whole engine process
        e0, p0, c0, t0 = time.process_time(), cpu_seconds(pbx_pid), cpu_seconds(car_pid), time.monotonic()
        if profiler is not None:
            profiler.enable()
        await engine.dialer.run(until_idle=True)
        if profiler is not None:
            profiler.disable()
        e1, p1, c1, t1 = time.process_time(), cpu_seconds(pbx_pid), cpu_seconds(car_pid), time.monotonic()
        loop_thread = time.thread_time() - th0
        os1 = os.times()
        if profiler is not None and profile:
            profiler.dump_stats(profile)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        await engine.close()
        results = await store.results()
        await store.close()
    finally:
        cli.asterisk_down(settings, quiet=True)
    completed = sum(1 for r in results if r["status"] == "completed"
                    and r["answers"] == {"visit_confirmed": "1", "rating": "4", "bribe": "2"})
    engine_cpu, pbx_cpu, car_cpu = e1 - e0, p1 - p0, c1 - c0
    print(f"calls: {calls}, completed with both answers: {completed}, "
          f"concurrency: {concurrency}, wall: {t1 - t0:.1f} s")
    print(f"engine CPU: {engine_cpu:.2f} s ({engine_cpu / max(completed, 1) * 1000:.1f} ms/call)")
    print(f"  of which the event loop's thread: {loop_thread:.2f} s, "
          f"other threads (SQLite): {engine_cpu - loop_thread:.2f} s")
    print(f"  in user space: {os1.user - os0.user:.2f} s, "
          f"in the kernel: {os1.system - os0.system:.2f} s")
    print(f"PBX CPU: {pbx_cpu:.2f} s ({pbx_cpu / max(completed, 1) * 1000:.1f} ms/call)")
    print(f"carrier simulator CPU: {car_cpu:.2f} s")
    print(f"engine CPU per call / PBX CPU per call = {engine_cpu / pbx_cpu:.3f}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=100)
    p.add_argument("--concurrency", type=int, default=30)
    p.add_argument("--loop", choices=("uvloop", "asyncio"),
                   help="the engine's event loop (default: the event_loop setting, uvloop)")
    p.add_argument("--profile", metavar="FILE",
                   help="profile the engine with cProfile while the calls run (its CPU figures "
                        "are then inflated by the profiler: measure without it)")
    a = p.parse_args()
    # The loop the engine runs on (the event_loop setting: uvloop by default), or --loop's.
    settings = load_settings(env={}, overrides={"event_loop": a.loop} if a.loop else {})
    print(f"event loop: {settings.event_loop}")
    run_loop(settings, main(a.calls, a.concurrency, a.profile))

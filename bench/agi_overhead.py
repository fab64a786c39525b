"""Benchmark: per-call overhead of the two AGI transports, FastAGI and the classic script, in one run.

One node (PBX + carrier simulator in the rootfs, its own ports) and the real engine in this
process. The same N scripted citizens complete the same survey over SIP twice: first with
agi_transport = "fastagi" (the survey runs in the engine), then, after `rabta asterisk up`
re-renders the dialplan, with "classic" (one Python process per call inside the rootfs).

CPU comes from the kernel: the engine's own (time.process_time), the PBX's own, and the
classic scripts' (their CPU is added to the PBX's children's time when Asterisk reaps them:
fields cutime+cstime of /proc/<pbx>/stat). The PBX's own CPU per call is the baseline both
phases share, so the ratios hold on a noisy machine.

    python bench/agi_overhead.py --calls 40
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ivr import cli, phone
from ivr.config import Settings, load_settings, replace
from ivr.engine import Engine
from ivr.lab import rootfs, simulator
from ivr.models import Transaction
from ivr.store import open_store

TICK = os.sysconf("SC_CLK_TCK")
NODE = dict(node="rabta-agibench", sip_port=5560, carrier_sip_port=5570, ami_port=5538,
            agi_port=4973, rtp_start=30000)
# What each citizen presses and what must be stored (update both if the surveys change).
KEYS = "s1s4s2"
ANSWERS = {"visit_confirmed": "1", "rating": "4", "bribe": "2"}


def cpu(pid: int) -> tuple[float, float]:
    """Return (own, reaped children's) user+system CPU seconds of a process so far."""
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TICK, (int(f[13]) + int(f[14])) / TICK


@dataclass
class Phase:
    transport: str
    completed: int
    wall: float
    engine: float
    pbx: float
    scripts: float
    fastagi_sessions: int

    def per_call(self, seconds: float) -> float:
        return seconds / max(self.completed, 1) * 1000


async def phase(settings: Settings, home: Path, calls: int, tag: str) -> Phase:
    """Dial calls scripted citizens through the node as configured; measure."""
    node = rootfs.node_for(settings)
    cli.asterisk_up(settings, quiet=True)  # re-renders the dialplan and reloads if running
    digit = "1" if tag == "f" else "2"
    numbers = [f"0300777{digit}{i:03d}" for i in range(calls)]
    book = simulator.parse_phonebook("number,action,keys,ring_s,hangup_s\n"
                                     + "".join(f"{n},answer,{KEYS},,\n" for n in numbers))
    rootfs.install_phonebook(node.carrier, simulator.render_dialplan(book))
    store = await open_store(settings.db_url)
    visited = datetime.now(UTC) - timedelta(hours=3)
    await store.add_transactions([
        Transaction(office="bench", ref=f"{tag}{i}", name="", mobile=phone.normalize(n),
                    service="police", district="Lahore", official="o", visited_at=visited,
                    language="en") for i, n in enumerate(numbers)], visited)
    pid = rootfs.pid_of(node.pbx)
    assert pid
    engine = Engine(settings, store)
    await engine.start()
    e0, (p0, s0), t0 = time.process_time(), cpu(pid), time.monotonic()
    await engine.dialer.run(until_idle=True)
    e1, t1 = time.process_time(), time.monotonic()
    await engine.close()
    await asyncio.sleep(1.0)  # the last scripts exit and are reaped
    p1, s1 = cpu(pid)
    results = [r for r in await store.results() if r["ref"].startswith(tag)]
    await store.close()
    completed = sum(1 for r in results if r["status"] == "completed" and r["answers"] == ANSWERS)
    return Phase(settings.agi_transport, completed, t1 - t0, e1 - e0, p1 - p0, s1 - s0,
                 engine.agi.stats.completed)


async def main(calls: int, concurrency: int) -> None:
    home = Path(tempfile.mkdtemp(prefix="rabta-agibench-"))
    env = {k: v for k, v in os.environ.items() if k == "RABTA_CACHE"}
    base = load_settings(env=env, overrides=dict(
        **NODE, home=str(home), calling_window="00:00-24:00", max_concurrent=concurrency,
        calls_per_second=10, log_level="WARNING", retry_delays=()))
    try:
        fast = await phase(replace(base, agi_transport="fastagi"), home, calls, "f")
        classic = await phase(replace(base, agi_transport="classic"), home, calls, "c")
    finally:
        cli.asterisk_down(replace(base, agi_transport="classic"), quiet=True)
    for ph in (fast, classic):
        print(f"{ph.transport}: {ph.completed}/{calls} completed, wall {ph.wall:.1f} s "
              f"({ph.wall / max(ph.completed, 1) * 1000:.0f} ms/call at concurrency {concurrency}); "
              f"engine {ph.per_call(ph.engine):.1f} ms/call, scripts {ph.per_call(ph.scripts):.1f} "
              f"ms/call, PBX {ph.per_call(ph.pbx):.1f} ms/call; FastAGI sessions {ph.fastagi_sessions}")
    fast_total = fast.engine
    classic_total = classic.engine + classic.scripts
    session_fast = fast.engine - classic.engine  # what running the survey costs the engine
    print(f"Rabta CPU per call (engine + scripts): fastagi {fast.per_call(fast_total):.1f} ms, "
          f"classic {classic.per_call(classic_total):.1f} ms; "
          f"ratio classic/fastagi = {classic.per_call(classic_total) / fast.per_call(fast_total):.2f}")
    print(f"survey session only: fastagi (engine CPU difference) {fast.per_call(session_fast):.1f} ms, "
          f"classic script {classic.per_call(classic.scripts):.1f} ms; ratio = "
          f"{classic.per_call(classic.scripts) / max(fast.per_call(session_fast), 1e-9):.1f}")
    print(f"against the PBX's own CPU per call (baseline): fastagi "
          f"{fast_total / fast.pbx:.3f}, classic {classic_total / classic.pbx:.3f}")
    print(f"wall per completed call, classic/fastagi = "
          f"{(classic.wall / max(classic.completed, 1)) / (fast.wall / max(fast.completed, 1)):.2f}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--calls", type=int, default=40)
    p.add_argument("--concurrency", type=int, default=20)
    a = p.parse_args()
    asyncio.run(main(a.calls, a.concurrency))

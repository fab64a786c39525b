"""Benchmark: the engine's CPU per FastAGI survey session, without a PBX (issue 12, item 5).

The session half of bench/cpu_per_call.py, where no PBX is needed: the real FastAGIServer and
SurveySessions over a real SQLite store in this process, and a scripted Asterisk in a child
process (plain sockets, one thread per call, `--concurrency` at a time) that sends the header
block and answers every command at once as Asterisk would (keys 1, 4, 2: visit confirmed,
rating 4, no bribe). CPU is this process's (time.process_time: the event loop and aiosqlite's
thread), per completed session. --code runs another checkout's engine (e.g. main's), so two
trees can be compared in one sitting on a busy machine.

    python bench/session_cpu.py --sessions 300
    python bench/session_cpu.py --sessions 300 --code /path/to/main
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HEADERS = ("agi_network: yes\nagi_network_script: survey\nagi_request: agi://127.0.0.1/survey\n"
           "agi_channel: PJSIP/carrier-1\nagi_uniqueid: 1.1\nagi_arg_1: {}\n\n")


def answer(command: str, keys: list[str]) -> str:
    """Return what Asterisk answers to one AGI command in this scripted call."""
    if command.startswith("GET DATA"):
        return f"200 result={keys.pop(0) if keys else ''}"
    if command.startswith("STREAM FILE"):
        return "200 result=0 endpos=8000"
    return "200 result=1"


def fake_asterisk(port: int, attempts: list[int], concurrency: int) -> None:
    """Run one scripted call per attempt against the FastAGI port, `concurrency` at a time."""
    gate = threading.Semaphore(concurrency)

    def call(attempt: int) -> None:
        try:
            with socket.create_connection(("127.0.0.1", port)) as s, s.makefile("rb") as r:
                s.sendall(HEADERS.format(attempt).encode())
                keys = list("142")
                for raw in r:
                    command = raw.decode().strip()
                    s.sendall((answer(command, keys) + "\n").encode())
                    if command.startswith("HANGUP"):
                        break
        finally:
            gate.release()

    threads = []
    for attempt in attempts:
        gate.acquire()
        t = threading.Thread(target=call, args=(attempt,))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()


async def engine(n: int, concurrency: int) -> None:
    from ivr.asterisk.agi.server import FastAGIServer
    from ivr.calls import CallRegistry
    from ivr.config import load_settings
    from ivr.flows.session import SurveySessions
    from ivr.models import Transaction
    from ivr.store import open_store
    from scheduler import policy

    home = Path(tempfile.mkdtemp(prefix="rabta-sessions-"))
    settings = load_settings(env={}, overrides=dict(home=str(home), early_key_s=0,
                                                    log_level="WARNING"))
    store = await open_store(home / "bench.db")
    now = datetime.now(UTC)
    await store.add_transactions(
        [Transaction(office="bench", ref=f"s{i}", name="", mobile=f"+92300{i:07d}",
                     service="police", district="Lahore", official="o",
                     visited_at=now - timedelta(hours=3), language="en") for i in range(n)],
        now - timedelta(hours=1))
    attempts = await store.claim_due(now + timedelta(seconds=5), n)
    retry = policy.RetryRules()
    sessions = SurveySessions(store, settings, CallRegistry(), next_step=lambda r, a, c, t:
                              policy.after_survey(r, a, c, t, retry))
    server = FastAGIServer({"survey": sessions}, port=0)
    await server.start()
    cpu0, wall0 = time.process_time(), time.monotonic()
    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--fake-asterisk", str(server.port), str(concurrency),
        *(str(a.id) for a in attempts))
    await child.wait()
    await server.wait_idle()
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    rows: list[dict[str, Any]] = await store.results()
    done = sum(1 for r in rows if r["status"] == "completed"
               and r["answers"] == {"visit_confirmed": "1", "rating": "4", "bribe": "2"})
    await server.close()
    await store.close()
    print(f"sessions: {n}, completed with all three answers: {done}, wall {wall:.1f} s")
    print(f"engine CPU per session: {cpu / max(done, 1) * 1000:.2f} ms")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--fake-asterisk":
        fake_asterisk(int(sys.argv[2]), [int(a) for a in sys.argv[4:]], int(sys.argv[3]))
        sys.exit(0)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, default=300)
    p.add_argument("--concurrency", type=int, default=10)
    p.add_argument("--code", type=Path, default=Path(__file__).resolve().parents[1],
                   help="the checkout whose engine runs")
    a = p.parse_args()
    sys.path.insert(0, str(a.code.resolve()))  # its ivr, scheduler and surveys come first
    print(f"code: {a.code.resolve()}")
    asyncio.run(engine(a.sessions, a.concurrency))

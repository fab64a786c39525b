"""Benchmark: the engine's CPU per trip to SQLite's thread and per AGI command, in isolation.

An empty trip to aiosqlite's thread, a one-row write transaction in one trip, and one AGI
command (STREAM FILE) against a peer process that answers at once: each on the engine's
event loop, hot in cache, as CPU microseconds of this process per operation. The AGI command
is also timed without the per-command timeout (`asyncio.timeout`), and the trips are quoted
against the AGI command measured in the same run.

    python bench/wakeup_costs.py
    python bench/wakeup_costs.py --loop asyncio --n 5000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ivr.asterisk.agi.channel import AGIChannel
from ivr.cli.common import run_loop
from ivr.config import load_settings
from ivr.store.database import SQLiteDatabase, parse_url


def _answer_forever(sock: socket.socket) -> None:
    """The peer: answer every command line at once, as Asterisk does a finished prompt."""
    conn, _ = sock.accept()
    with conn, conn.makefile("rb") as lines:
        for _ in lines:
            conn.sendall(b"200 result=0 endpos=1234\n")


async def agi_command_us(n: int, timeout: float | None) -> float:
    """CPU microseconds of this process per AGI command, the peer in a child process."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    address = server.getsockname()
    pid = os.fork()
    if pid == 0:
        try:
            _answer_forever(server)
        finally:
            os._exit(0)
    server.close()
    reader, writer = await asyncio.open_connection(*address)
    channel = AGIChannel(reader, writer, {"agi_network_script": "bench"},
                         command_timeout=timeout)
    for _ in range(200):  # warm up
        await channel.stream_file("rabta/en/q1", "123")
    t0 = time.process_time()
    for _ in range(n):
        await channel.stream_file("rabta/en/q1", "123")
    spent = time.process_time() - t0
    writer.close()
    await writer.wait_closed()  # the peer reads its end of file and exits
    await asyncio.to_thread(os.waitpid, pid, 0)
    return spent / n * 1e6


async def trip_us(n: int) -> tuple[float, float, float]:
    """CPU microseconds per empty trip (all threads, loop thread) and per one-trip write."""
    home = Path(tempfile.mkdtemp(prefix="rabta-wakeup-"))
    db = await SQLiteDatabase.open(parse_url(f"sqlite:///{home / 'bench.db'}"), migrate=False)
    try:
        conn: Any = db.conn
        async with db.write() as tx:
            await tx.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)")
            await tx.execute("INSERT INTO t VALUES (1, 0)")
        t0, l0 = time.process_time(), time.thread_time()
        for _ in range(n):
            await conn._execute(lambda: None)
        empty, loop_side = time.process_time() - t0, time.thread_time() - l0
        t0 = time.process_time()
        for _ in range(n):
            async with db.write() as tx:
                await tx.defer("UPDATE t SET v = v + 1 WHERE id = 1")
        write = time.process_time() - t0
        return empty / n * 1e6, loop_side / n * 1e6, write / n * 1e6
    finally:
        await db.close()


async def main(n: int) -> None:
    agi = await agi_command_us(n, 3600.0)
    agi_bare = await agi_command_us(n, None)
    empty, loop_side, write = await trip_us(n)
    print(f"AGI command (STREAM FILE), with its timeout: {agi:.1f} us CPU")
    print(f"AGI command without the timeout: {agi_bare:.1f} us ({agi_bare / agi:.2f} of it)")
    print(f"empty trip to SQLite's thread: {empty:.1f} us ({empty / agi:.2f} AGI commands), "
          f"of which the loop thread {loop_side:.1f} us")
    print(f"one-row write transaction in one trip: {write:.1f} us ({write / agi:.2f} AGI commands)")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10000, help="operations of each kind (10000)")
    p.add_argument("--loop", choices=("uvloop", "asyncio"),
                   help="the event loop (default: the event_loop setting, uvloop)")
    a = p.parse_args()
    settings = load_settings(env={}, overrides={"event_loop": a.loop} if a.loop else {})
    print(f"event loop: {settings.event_loop}")
    run_loop(settings, main(a.n))

"""Benchmark: /login's latency while slow and huge requests hammer a real `rabta web`, in one run.

A `rabta web` process on loopback (its own home and a free port). Phase 1 measures GET /login
alone: --requests requests, --concurrency at a time. Phase 2 measures the same while
--slow sockets send a request head one byte a second (slowloris; each reconnects when the
server cuts it off) and --huge clients post 20 MiB bodies to /login as fast as loopback goes
(each reconnects when refused). The figure is the ratio of phase 2's p95 to phase 1's, both
from the same run; and the server's peak memory (VmHWM) with its RSS before and after.

    python bench/web_hostile.py                      # 200 slow sockets, 20 huge posts
    python bench/web_hostile.py --slow 50 --huge 5   # lighter, while developing
    python bench/web_hostile.py --code /path/to/older/checkout   # the same against older code

Everything is bounded: each phase stops after --seconds at the latest.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ivr.store import open_store

HUGE = 20 * 2**20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


async def _login_latencies(url: str, n: int, concurrency: int, deadline: float) -> list[float]:
    out: list[float] = []
    gate = asyncio.Semaphore(concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        async def one() -> None:
            async with gate:
                if time.monotonic() > deadline:
                    return
                start = time.perf_counter()
                async with http.get(url + "/login") as r:
                    await r.read()
                    assert r.status == 200, r.status
                out.append(time.perf_counter() - start)
        await asyncio.gather(*(one() for _ in range(n)))
    return out


async def _slowloris(port: int, stop: asyncio.Event, stats: dict[str, int]) -> None:
    head = b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 4000 + b"\r\n\r\n"
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.5)
            continue
        stats["slow_connects"] += 1
        try:
            for byte in head:
                if stop.is_set():
                    break
                writer.write(bytes([byte]))
                await writer.drain()
                try:  # a byte a second; the server closing the socket ends this one
                    if await asyncio.wait_for(reader.read(1), 1.0) == b"":
                        stats["slow_cut"] += 1
                        break
                except TimeoutError:
                    pass
        except (ConnectionError, OSError):
            stats["slow_cut"] += 1
        finally:
            writer.close()


async def _huge_post(port: int, stop: asyncio.Event, stats: dict[str, int]) -> None:
    chunk = b"a" * 65536
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.5)
            continue
        try:
            writer.write(b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                         b"application/x-www-form-urlencoded\r\nContent-Length: "
                         + str(HUGE).encode() + b"\r\n\r\nusername=")
            answer = asyncio.create_task(reader.readline())
            sent = 0
            while sent < HUGE and not stop.is_set() and not answer.done():
                writer.write(chunk)
                await writer.drain()
                sent += len(chunk)
            status = await asyncio.wait_for(answer, 5)
            stats["huge_refused" if b" 413 " in status else "huge_other"] += 1
        except (ConnectionError, OSError, TimeoutError):
            stats["huge_cut"] += 1
        finally:
            writer.close()


def _p95(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=20)[18] * 1000 if len(xs) >= 20 else float("nan")


async def _make_db(home: Path) -> None:
    store = await open_store(home / "rabta.db")
    await store.close()


def _serve(home: Path, port: int, code: str) -> subprocess.Popen[bytes]:
    rabta = Path(sys.executable).parent / "rabta"
    env = {**os.environ, "RABTA_WEB_PORT": str(port), "RABTA_LOG_LEVEL": "WARNING"}
    if code:  # serve another checkout's code (e.g. the one before a change) for comparison
        env["PYTHONPATH"] = code
    with (home / "web.log").open("w") as log:
        return subprocess.Popen([str(rabta), "--home", str(home), "web"], env=env, stdout=log,
                                stderr=subprocess.STDOUT)


async def run(args: argparse.Namespace, proc: subprocess.Popen[bytes], home: Path,
              port: int) -> None:
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                async with aiohttp.ClientSession() as http, http.get(url + "/login") as r:
                    if r.status == 200:
                        break
            except aiohttp.ClientError:
                await asyncio.sleep(0.2)
        rss_start = _kib(proc.pid, "VmRSS")
        alone = await _login_latencies(url, args.requests, args.concurrency,
                                       time.monotonic() + args.seconds)
        stop = asyncio.Event()
        stats = dict.fromkeys(("slow_connects", "slow_cut", "huge_refused", "huge_other",
                               "huge_cut"), 0)
        attackers = [asyncio.create_task(_slowloris(port, stop, stats)) for _ in range(args.slow)]
        attackers += [asyncio.create_task(_huge_post(port, stop, stats))
                      for _ in range(args.huge)]
        await asyncio.sleep(args.warmup)  # let the sockets pile up first
        open_fds = len(os.listdir(f"/proc/{proc.pid}/fd"))
        loaded = await _login_latencies(url, args.requests, args.concurrency,
                                        time.monotonic() + args.seconds)
        rss_loaded = _kib(proc.pid, "VmRSS")
        stop.set()
        await asyncio.wait(attackers, timeout=10)
        peak = _kib(proc.pid, "VmHWM")
    finally:
        proc.send_signal(signal.SIGINT)  # rabta web stops on Ctrl-C
        await asyncio.to_thread(proc.wait, 60)
    errors = [line for line in (home / "web.log").read_text().splitlines() if "ERROR" in line]
    p_alone, p_loaded = _p95(alone), _p95(loaded)
    print(f"rabta web on loopback; {args.requests} GET /login, {args.concurrency} at a time")
    print(f"alone:        n={len(alone)} median {statistics.median(alone) * 1000:.1f} ms, "
          f"p95 {p_alone:.1f} ms")
    print(f"under attack: n={len(loaded)} median {statistics.median(loaded) * 1000:.1f} ms, "
          f"p95 {p_loaded:.1f} ms  ({args.slow} slow sockets, {args.huge} x 20 MiB posts; "
          f"server fds open: {open_fds})")
    print(f"p95 ratio under attack / alone: {p_loaded / p_alone:.2f}")
    print(f"server memory: RSS {rss_start / 1024:.0f} MiB at start, "
          f"{rss_loaded / 1024:.0f} MiB under attack, peak (VmHWM) {peak / 1024:.0f} MiB")
    print(f"attackers: {stats}")
    print(f"ERROR lines in the server log: {len(errors)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--slow", type=int, default=200)
    parser.add_argument("--huge", type=int, default=20)
    parser.add_argument("--warmup", type=float, default=12.0,
                        help="seconds the attack runs before measuring (past the read timeout)")
    parser.add_argument("--code", default="", help="serve this checkout's ivr/ instead")
    parser.add_argument("--seconds", type=float, default=60.0, help="each phase's bound")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="rabta-webbench-"))
    asyncio.run(_make_db(home))
    port = _free_port()
    proc = _serve(home, port, args.code)
    try:
        asyncio.run(run(args, proc, home, port))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    main()

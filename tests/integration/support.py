"""Integration tier helpers: scripted citizens, the carrier's phone book and CDRs, a real engine."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ivr import phone
from ivr.config import Settings, replace
from ivr.engine import Engine
from ivr.lab import rootfs, simulator
from ivr.models import Transaction
from ivr.store import SQLiteStore

# RABTA_TEST_SLOT=N (0-9) moves the test node's names and ports, so two checkouts can run
# the integration tier side by side on one machine (RTP ranges may overlap: Asterisk skips
# ports in use).
SLOT = int(os.environ.get("RABTA_TEST_SLOT", "0"))
_SHIFT = 1000 * SLOT
TEST_NODE = dict(
    node=f"rabta-test{SLOT or ''}", sip_port=5160 + _SHIFT, carrier_sip_port=5170 + _SHIFT,
    ami_port=5138 + _SHIFT, agi_port=4673 + _SHIFT,
    rtp_start=20000, calling_window="00:00-24:00", retry_delay=1.0, ring_timeout=6.0,
    max_concurrent=20, calls_per_second=10.0, digit_timeout=4.0, retry_delays=(),
    callback_delay=1.0, partial_callbacks=1,
    # The test machine is shared: its CPU says nothing about the test PBX, so admission control
    # reads only the AGI round trip (and admission_max_channels where a test sets it).
    admission_cpu_high=0.0,
)

# A scripted citizen who completes the bundled surveys (phone book format in
# docs/ARCHITECTURE.md): after answering, confirm the visit, rate 5, then "no" to the bribe
# question; and what that stores.
SURVEY_KEYS = "s1s5s2"
SURVEY_ANSWERS = {"visit_confirmed": "1", "rating": "5", "bribe": "2"}


@dataclass(frozen=True)
class Citizen:
    """One scripted citizen and what the store must say about them afterwards."""

    number: str
    action: str
    keys: str = ""
    ring_s: str = ""
    hangup_s: str = ""
    in_book: bool = True


def install_phonebook(settings: Settings, citizens: Sequence[Citizen]) -> None:
    """Write the carrier simulator's phone book and reload its dialplan (no restart)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(simulator.COLUMNS)
    for c in citizens:
        if c.in_book:
            w.writerow([c.number, c.action, c.keys, c.ring_s, c.hangup_s])
    book = simulator.parse_phonebook(buf.getvalue(), "test phone book")
    rootfs.install_phonebook(rootfs.node_for(settings).carrier, simulator.render_dialplan(book))


def carrier_cdr_counts(settings: Settings) -> Counter[str]:
    """Count the calls the carrier simulator received, per dialled number (from its CDRs)."""
    carrier = rootfs.node_for(settings).carrier
    path = carrier.host_path(f"{carrier.log_dir}/cdr-csv/Master.csv")
    counts: Counter[str] = Counter()
    if path.exists():
        for row in csv.reader(path.read_text().splitlines()):
            if len(row) > 2:
                counts[row[2]] += 1  # dst: the extension the PBX dialled
    return counts


def transactions_for(citizens: Sequence[Citizen], prefix: str) -> list[Transaction]:
    visited = datetime.now(UTC) - timedelta(hours=3)
    return [
        Transaction(office=f"{prefix}-office-{i % 4}", ref=f"{prefix}-{i:03d}", name="",
                    mobile=phone.normalize(c.number), service=("police", "health")[i % 2],
                    district=("Lahore", "Multan", "Sialkot")[i % 3], official=f"official-{i % 5}",
                    visited_at=visited, language=("en", "ur")[i % 2])
        for i, c in enumerate(citizens)
    ]


# The test node's settings a `rabta run` worker process needs, as RABTA_* variables.
_WORKER_KEYS = ("node", "sip_port", "carrier_sip_port", "ami_port", "agi_port", "rtp_start",
                "calling_window", "retry_delay", "ring_timeout", "digit_timeout",
                "callback_delay", "partial_callbacks")


def worker_env(settings: Settings, database_url: str, **extra: str) -> dict[str, str]:
    """The environment of an engine worker process (`rabta run`) on the test node's settings,
    over database_url; extra: more settings (key=value, e.g. worker_lease="6")."""
    env = {**os.environ, "RABTA_HOME": str(settings.home), "RABTA_CACHE": str(settings.cache),
           "RABTA_DATABASE_URL": database_url, "RABTA_RETRY_DELAYS": ""}
    for key in _WORKER_KEYS:
        env[f"RABTA_{key.upper()}"] = str(getattr(settings, key))
    env |= {f"RABTA_{k.upper()}": v for k, v in extra.items()}
    return env


async def start_worker(env: dict[str, str], name: str, log_dir: Path) -> asyncio.subprocess.Process:
    """Start `rabta run --until-idle` as worker `name`; its log goes to log_dir/name.log."""
    with (log_dir / f"{name}.log").open("wb") as log:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ivr.cli", "run", "--until-idle", "--no-progress",
            env={**env, "RABTA_WORKER": name}, stdout=asyncio.subprocess.DEVNULL, stderr=log)


async def run_until_idle(settings: Settings, store: SQLiteStore, timeout: float = 600.0,
                         **changes: object) -> Engine:
    """Run a real engine (FastAGI + AMI + dialer) until nothing is left to do."""
    engine = Engine(replace(settings, **changes) if changes else settings, store)
    await engine.start()
    try:
        await asyncio.wait_for(engine.run_until_idle(), timeout)
    finally:
        await engine.close()
    return engine


class TCPProxy:
    """A loopback TCP relay whose connections a test can cut, as a network fault would."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.connections = 0
        self._pairs: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._pairs.append((writer, up_w))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except ConnectionError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))

    def cut(self) -> int:
        """Abort every relayed connection at once; return how many were cut."""
        pairs, self._pairs = self._pairs, []
        for a, b in pairs:
            a.transport.abort()
            b.transport.abort()
        return len(pairs)

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


def wait_carrier_idle(settings: Settings, timeout: float = 60.0) -> None:
    """Wait until the carrier simulator has no channels left (its CDRs are then complete)."""
    import time

    carrier = rootfs.node_for(settings).carrier
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = rootfs.cli(carrier, "core show channels count")
        if out.strip().startswith("0 active channels"):
            return
        time.sleep(0.5)
    raise AssertionError(f"carrier still has calls after {timeout:.0f} s: {out.strip()}")


async def answers_snapshot(store: SQLiteStore) -> set[tuple[int, str, str]]:
    """Every answer row as (attempt, question, value)."""
    async with store._db.execute("SELECT attempt_id, question, value FROM answers") as cur:
        return {(r[0], r[1], r[2]) for r in await cur.fetchall()}

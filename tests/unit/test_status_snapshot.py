"""One status snapshot (ivr.services.status) behind /metrics, /healthz and `rabta status`."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer

from ivr import cli
from ivr.config import Settings
from ivr.engine import EngineHealth
from ivr.models import ORDER, Outcome, Transaction, TxStatus
from ivr.services.status import snapshot
from ivr.store import SQLiteStore, open_store
from ivr.web.app import create_app

NOW = datetime.now(UTC).replace(microsecond=0)
ZONE = ZoneInfo("Asia/Karachi")


def _visits(n: int) -> list[Transaction]:
    return [Transaction(office="DC Office Lahore", ref=f"S{i}", name="",
                        mobile=f"+92300{i:07d}", service="Domicile", district="Lahore",
                        official="Bilal", visited_at=NOW - timedelta(hours=1))
            for i in range(n)]


async def _seed(store: SQLiteStore) -> None:
    """Three visits: one on the line, one busy and waiting for a retry, one pending."""
    await store.add_transactions(_visits(3), NOW)
    first, second = await store.claim_due(NOW, 2, "rabta-pbx")
    await store.survey_started(first.id, NOW)
    await store.attempt_failed(second.id, Outcome.BUSY, NOW, next_status=TxStatus.SCHEDULED,
                               next_try_at=NOW + timedelta(minutes=5))


async def test_snapshot_with_an_engine_reads_its_links_and_every_status(
        store: SQLiteStore, tmp_path: Path) -> None:
    await _seed(store)
    settings = Settings(home=tmp_path / "home", cache=tmp_path / "cache")
    health = EngineHealth({"rabta-pbx": True, "other-pbx": False}, sessions=1,
                          agi={"accepted": 2, "completed": 1})
    snap = await snapshot(store, settings, NOW, ZONE, engine=health)
    assert snap.queue is not None
    assert list(snap.queue.statuses) == [s.value for s in ORDER]  # every one, 0 included
    assert {k: v for k, v in snap.queue.statuses.items() if v} == {
        "pending": 1, "scheduled": 1, "in_call": 1}
    assert (snap.queue.total, snap.queue.final, snap.queue.open) == (3, 0, 3)
    assert [(n.name, n.in_flight, n.ami_connected) for n in snap.nodes] == [
        ("rabta-pbx", 1, True), ("other-pbx", 0, False)]
    assert snap.healthy and not snap.all_nodes_up
    assert (snap.sessions, dict(snap.agi)) == (1, {"accepted": 2, "completed": 1})
    assert snap.queue.attempts_today == {"busy": 1, "answered": 1}
    light = await snapshot(store, settings, NOW, ZONE, engine=health, read_store=False)
    assert light.queue is None and light.nodes[0].ami_connected


async def test_snapshot_without_an_engine_probes_each_node(store: SQLiteStore,
                                                           tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", cache=tmp_path / "cache",
                        nodes=("a@127.0.0.1:5038", "b@127.0.0.2:5039"))
    asked: list[tuple[str, int]] = []

    def probe(host: str, port: int) -> bool:
        asked.append((host, port))
        return port == 5038

    snap = await snapshot(store, settings, NOW, ZONE, probe=probe)
    assert sorted(asked) == [("127.0.0.1", 5038), ("127.0.0.2", 5039)]
    assert [(n.name, n.ami_connected) for n in snap.nodes] == [("a", True), ("b", False)]
    assert snap.sessions is None and snap.healthy and not snap.all_nodes_up


# ------------------------------------------------------------------ the three readers agree


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for var in [v for v in os.environ if v.startswith("RABTA_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("RABTA_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    old_term = signal.getsignal(signal.SIGTERM)
    yield tmp_path / "t.db"
    signal.signal(signal.SIGTERM, old_term)


async def _scrape(settings: Settings) -> tuple[str, dict[str, Any]]:
    store = await open_store(settings.db_path)
    try:
        await _seed(store)
        engine = SimpleNamespace(health=lambda: EngineHealth({"rabta-pbx": True}, 0, {}))
        app = create_app(settings, store, engine)  # type: ignore[arg-type]
        async with TestClient(TestServer(app)) as c:
            metrics = await (await c.get("/metrics")).text()
            health = await (await c.get("/healthz")).json()
        return metrics, health
    finally:
        await store.close()


def test_metrics_healthz_and_rabta_status_show_one_reading(
        home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(home=tmp_path / "home", cache=tmp_path / "cache", database=str(home))
    metrics, health = asyncio.run(_scrape(settings))
    assert health == {"ok": True, "ami_connected": True, "nodes": {"rabta-pbx": True}}
    capsys.readouterr()
    # No PBX answers AMI in a unit test: `rabta status` shows the reading and exits 1.
    assert cli.main(["--database", str(home), "status", "--json"]) == 1
    status = json.loads(capsys.readouterr().out)
    scraped = {line.split('"')[1]: float(line.rsplit(" ", 1)[1])
               for line in metrics.splitlines() if line.startswith("rabta_transactions{")}
    assert scraped == {k: float(v) for k, v in status["statuses"].items()}
    assert f"rabta_transactions_due {float(status['due_now'])}" in metrics
    assert status["nodes"]["rabta-pbx"] == {"in_flight": 1, "capacity": settings.max_concurrent}
    assert 'rabta_calls_in_flight{node="rabta-pbx"} 1.0' in metrics

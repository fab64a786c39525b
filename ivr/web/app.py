"""Web, app factory: /metrics for Prometheus and /healthz for load balancers and admins.

The web layer asks the engine and the store; it never speaks AMI itself. Gauges are computed
at scrape time from the store, so they are right even after a restart.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ivr.config import Settings
from ivr.engine import Engine
from ivr.services import status
from ivr.services.status import StatusSnapshot
from ivr.store import SQLiteStore

ENGINE = web.AppKey("engine", Engine)
STORE = web.AppKey("store", SQLiteStore)
SETTINGS = web.AppKey("settings", Settings)


class Metrics:
    """The engine's Prometheus metrics in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.transactions = Gauge("rabta_transactions", "Transactions by status", ["status"],
                                  registry=r)
        self.due = Gauge("rabta_transactions_due", "Transactions due to be dialled now",
                         registry=r)
        self.in_flight = Gauge("rabta_calls_in_flight", "Calls dialling or on the line, by node",
                               ["node"], registry=r)
        self.attempts_today = Gauge("rabta_attempts_today", "Dial attempts today by outcome",
                                    ["outcome"], registry=r)
        self.trunk_in_flight = Gauge("rabta_trunk_calls_in_flight",
                                     "Calls dialling or on the line, by trunk", ["trunk"],
                                     registry=r)
        self.trunk_capacity = Gauge("rabta_trunk_channels", "Channels a trunk may carry",
                                    ["trunk"], registry=r)
        self.trunk_today = Gauge("rabta_trunk_attempts_today", "Dial attempts today by trunk",
                                 ["trunk"], registry=r)
        self.ami_up = Gauge("rabta_ami_connected", "1 if the AMI link is logged in", ["node"],
                            registry=r)
        self.sessions = Gauge("rabta_fastagi_sessions", "Survey sessions running now",
                              registry=r)
        self.agi = Counter("rabta_fastagi_connections", "FastAGI connections by fate",
                           ["fate"], registry=r)
        self._agi_seen: dict[str, int] = {}

    def refresh(self, snap: StatusSnapshot) -> None:
        """Set the gauges from one status snapshot (ivr.services.status)."""
        q = snap.queue
        assert q is not None
        for name, n in q.statuses.items():
            self.transactions.labels(name).set(n)
        self.due.set(q.due_now)
        for node in snap.nodes:
            self.in_flight.labels(node.name).set(node.in_flight)
            self.ami_up.labels(node.name).set(1 if node.ami_connected else 0)
        for node_name, n in q.in_flight_by_node.items():  # calls of a node no longer configured
            self.in_flight.labels(node_name).set(n)
        for outcome, n in q.attempts_today.items():
            self.attempts_today.labels(outcome).set(n)
        for t in snap.trunks:
            self.trunk_in_flight.labels(t.name).set(t.in_flight)
            self.trunk_capacity.labels(t.name).set(t.capacity)
            self.trunk_today.labels(t.name).set(t.attempts_today)
        self.sessions.set(snap.sessions or 0)
        for fate, n in snap.agi.items():
            delta = n - self._agi_seen.get(fate, 0)
            if delta > 0:
                self.agi.labels(fate).inc(delta)
            self._agi_seen[fate] = n


METRICS = web.AppKey("metrics", Metrics)


async def _snapshot(request: web.Request, read_store: bool) -> StatusSnapshot:
    settings = request.app[SETTINGS]
    return await status.snapshot(request.app[STORE], settings, datetime.now(UTC),
                                 ZoneInfo(settings.timezone),
                                 engine=request.app[ENGINE].health(), read_store=read_store)


async def metrics(request: web.Request) -> web.Response:
    m = request.app[METRICS]
    m.refresh(await _snapshot(request, read_store=True))
    return web.Response(body=generate_latest(m.registry),
                        headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthz(request: web.Request) -> web.Response:
    # Healthy while at least one PBX node answers on AMI: the dialer works through it.
    snap = await _snapshot(request, read_store=False)
    nodes = {n.name: n.ami_connected for n in snap.nodes}
    ok = snap.healthy
    body = {"ok": ok, "ami_connected": ok, "nodes": nodes}
    return web.json_response(body, status=200 if ok else 503)


def create_app(settings: Settings, store: SQLiteStore,
               engine: Engine | None = None) -> web.Application:
    """Build the web app around a store, and an engine for /metrics and /healthz if given."""
    from ivr.web import api, auth, cases, dashboard, prompts  # here: they import this module's keys

    app = web.Application(client_max_size=20 * 2**20 + 2**16)  # prompt uploads (ivr.prompt_files)
    app[SETTINGS] = settings
    app[STORE] = store
    if engine is not None:
        app[ENGINE] = engine
        app[METRICS] = Metrics()
        app.router.add_get("/metrics", metrics)
        app.router.add_get("/healthz", healthz)
    auth.setup(app)
    api.setup(app)
    cases.setup(app)
    dashboard.setup(app)
    prompts.setup(app)
    return app

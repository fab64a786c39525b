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

from ivr.config import Settings, trunk_rules
from ivr.engine import Engine
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

    async def refresh(self, store: SQLiteStore, engine: Engine, settings: Settings) -> None:
        """Read current figures from the store and the engine."""
        zone = ZoneInfo(settings.timezone)
        day_start = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
        s = await store.live_summary(datetime.now(UTC), day_start)
        for status in ("pending", "scheduled", "dialing", "in_call", "completed", "partial",
                       "unreachable", "opted_out", "expired"):
            self.transactions.labels(status).set(s["statuses"].get(status, 0))
        self.due.set(s["due_now"])
        for node, n in s["in_flight_by_node"].items():
            self.in_flight.labels(node).set(n)
        for outcome, n in s["attempts_today"].items():
            self.attempts_today.labels(outcome).set(n)
        trunks, _ = trunk_rules(settings)
        for t in trunks:
            self.trunk_in_flight.labels(t.name).set(s["in_flight_by_trunk"].get(t.name, 0))
            self.trunk_capacity.labels(t.name).set(t.channels)
            self.trunk_today.labels(t.name).set(s["attempts_today_by_trunk"].get(t.name, 0))
        for ami in engine.amis:
            self.ami_up.labels(ami.name).set(1 if ami.connected else 0)
        self.sessions.set(len(engine.calls.sessions))
        for fate, n in vars(engine.agi.stats).items():
            delta = n - self._agi_seen.get(fate, 0)
            if delta > 0:
                self.agi.labels(fate).inc(delta)
            self._agi_seen[fate] = n


METRICS = web.AppKey("metrics", Metrics)


async def metrics(request: web.Request) -> web.Response:
    m = request.app[METRICS]
    await m.refresh(request.app[STORE], request.app[ENGINE], request.app[SETTINGS])
    return web.Response(body=generate_latest(m.registry),
                        headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthz(request: web.Request) -> web.Response:
    # Healthy while at least one PBX node answers on AMI: the dialer works through it.
    nodes = {a.name: a.connected for a in request.app[ENGINE].amis}
    ok = any(nodes.values())
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
    from ivr.web import accountability  # issue 16: its own module, its own routes
    accountability.setup(app)
    return app

"""Web, app factory: the routes on the shared edge (ivr.web.common), /metrics for Prometheus
and /healthz for load balancers and admins, and the server's own read limits.

The web layer asks the engine and the store; it never speaks AMI itself. Gauges are computed
at scrape time from the store, so they are right even after a restart. /metrics and the detail
of /healthz (node names) are for operators: they need `metrics_token` as a Bearer token, or,
with no token set, a request from the machine itself that no proxy forwarded.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ivr.config import Settings
from ivr.engine import Engine
from ivr.services import status
from ivr.services.status import StatusSnapshot
from ivr.sms.metrics import SmsGauges
from ivr.store import SQLiteStore
from ivr.web import (
    accountability,
    accounts,
    api,
    assets,
    auth,
    cases,
    common,
    dashboard,
    i18n,
    prompts,
    sms,
)
from ivr.web.common import ENGINE, SETTINGS, STORE, WWW_AUTHENTICATE, Handler, json_error

__all__ = ["ENGINE", "SETTINGS", "STORE", "create_app", "make_runner"]

log = logging.getLogger(__name__)


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
        self.admission_open = Gauge("rabta_admission_open",
                                    "1 if the node takes new calls, 0 if admission control "
                                    "closed it", ["node"], registry=r)
        self.admission_rtt = Gauge("rabta_admission_agi_rtt_seconds",
                                   "Median quick AGI command round trip to the node",
                                   ["node"], registry=r)
        self.admission_cpu = Gauge("rabta_admission_cpu_busy",
                                   "Busy fraction of the node's host CPU (a local node)",
                                   ["node"], registry=r)
        self.admission_calls = Gauge("rabta_admission_calls",
                                     "Calls the dialer has on the node", ["node"], registry=r)
        self.agi = Counter("rabta_fastagi_connections", "FastAGI connections by fate",
                           ["fate"], registry=r)
        self._agi_seen: dict[str, int] = {}
        self.sms = SmsGauges(r)

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
        for node_name, a in snap.admission.items():
            self.admission_open.labels(node_name).set(1 if a.get("open") else 0)
            if a.get("agi_rtt_ms") is not None:
                self.admission_rtt.labels(node_name).set(a["agi_rtt_ms"] / 1000)
            if a.get("cpu_busy") is not None:
                self.admission_cpu.labels(node_name).set(a["cpu_busy"])
            if a.get("channels") is not None:
                self.admission_calls.labels(node_name).set(a["channels"])
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
    await m.sms.refresh(request.app[STORE])  # SMS by kind and state (ivr.sms.metrics)
    return web.Response(body=generate_latest(m.registry),
                        headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthz(request: web.Request) -> web.Response:
    # Healthy while at least one PBX node answers on AMI: the dialer works through it.
    snap = await _snapshot(request, read_store=False)
    nodes = {n.name: n.ami_connected for n in snap.nodes}
    ok = snap.healthy
    body: dict[str, Any] = {"ok": ok}
    if operator(request):  # node names are for operators, "ok" for any load balancer
        body.update(ami_connected=ok, nodes=nodes)
    return web.json_response(body, status=200 if ok else 503)


_FORWARDED = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


def operator(request: web.Request) -> bool:
    """Tell whether a request may read operators' figures (/metrics, /healthz's detail).

    With `metrics_token` set: only with `Authorization: Bearer <token>`. Without: only from
    this machine (loopback) and not relayed by a proxy on it.
    """
    token = request.app[SETTINGS].metrics_token
    if token:
        scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(sent.strip().encode(),
                                                                   token.encode())
    try:
        loopback = ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False
    return loopback and not any(h in request.headers for h in _FORWARDED)


def _operators_only(handler: Handler) -> Handler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        if not operator(request):
            raise json_error(web.HTTPUnauthorized, "operators only: send the metrics token",
                             headers=WWW_AUTHENTICATE)
        return await handler(request)
    return guarded


def create_app(settings: Settings, store: SQLiteStore,
               engine: Engine | None = None) -> web.Application:
    """Build the web app around a store, and an engine for /metrics and /healthz if given."""
    # Each route's body limit is set per request by the edge (common.limits_middleware).
    app = web.Application(client_max_size=settings.web_max_body)
    app[SETTINGS] = settings
    app[STORE] = store
    if engine is not None:
        app[ENGINE] = engine
        app[METRICS] = Metrics()
        app.router.add_get("/metrics", _operators_only(metrics))
        app.router.add_get("/healthz", healthz)
    common.setup(app)
    auth.setup(app)
    api.setup(app)
    cases.setup(app)
    dashboard.setup(app)
    prompts.setup(app)
    sms.setup(app)  # Kannel's callbacks, the replies queue (docs/SMS.md)
    accountability.setup(app)  # integrity, scorecards, deadlines, monthly report, arms
    accounts.setup(app)  # accounts from the browser, own passwords, reset links
    i18n.setup(app, ZoneInfo(settings.timezone))
    assets.setup(app, settings.web_compression)  # last: /static/{name} after the font's route
    return app


_MALFORMED = ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Bad request"
              "</title></head><body><h1>Bad request</h1><p>The request was not valid HTTP."
              "</p></body></html>")


class _EdgeHandler(RequestHandler):
    """aiohttp's connection handler, answering a request it cannot even parse (a bad header
    character, a line too long) with our page and headers, logged in one line, no traceback."""

    def handle_error(self, request: BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if status >= 500:
            response = super().handle_error(request, status, exc, message)
        else:
            log.info("refused a malformed request from %s: %s", request.remote,
                     str(exc or message).splitlines()[0][:200])
            if request.writer.output_size > 0:
                raise ConnectionError("the response had begun; the connection is dropped")
            response = web.Response(status=status, text=_MALFORMED, content_type="text/html")
            response.force_close()
        response.headers.update(common.PAGE_HEADERS)
        response.headers["Server"] = common.SERVER_NAME
        return response


class _EdgeServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _EdgeHandler(self, loop=self._loop, **self._kwargs)


class _Runner(web.AppRunner):
    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _EdgeServer  # the same server, whose connections use _EdgeHandler
        return server


def make_runner(app: web.Application, settings: Settings) -> web.AppRunner:
    """Return a runner for the app whose connections wait at most web_read_timeout for a request.

    aiohttp closes a connection that has not sent a whole request head within its keep-alive
    timeout (counted from the connection or the last response): a slow-headers client
    (slowloris) is cut off after that long. Bodies have the same limit (common.read_body).
    A request too malformed to parse gets our own 400 page and headers (_EdgeHandler).
    """
    return _Runner(app, keepalive_timeout=settings.web_read_timeout,
                   max_line_size=8190, max_field_size=8190)

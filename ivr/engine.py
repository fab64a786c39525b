"""Engine: wires the store, AMI, the FastAGI server and the dialer into one process.

Entry points (`rabta run`, `rabta serve`, `rabta demo`, tests) build an Engine from Settings;
nothing below this module reaches for config or constructs its own clients.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields

from ivr.asterisk import variables as V
from ivr.asterisk.agi.roundtrip import RoundTrips
from ivr.asterisk.agi.server import FastAGIServer
from ivr.asterisk.ami import AMI
from ivr.calls import CallRegistry
from ivr.config import Settings
from ivr.directcalls import DirectCalls
from ivr.errors import AMIConnectionError, TelephonyError
from ivr.flows.session import SurveySessions
from ivr.flows.studio import StudioSessions
from ivr.lab import rootfs
from ivr.sms.sender import SmsSender
from ivr.store import SQLiteStore
from ivr.trunks import Trunk
from scheduler import policy
from scheduler.admission_watch import AdmissionWatch, NodeAdmission, state_path
from scheduler.dialer import Dialer
from scheduler.rules import Rules

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EngineHealth:
    """What the engine itself knows and the store does not: links, sessions, connections."""

    ami: Mapping[str, bool]  # PBX node name -> AMI logged in
    sessions: int  # survey sessions running now
    agi: Mapping[str, int]  # FastAGI connections so far, by fate (ServerStats' counters)
    trunks: tuple[Trunk, ...] = ()  # the trunks the engine dials through (its Rules, built once)
    admission: Mapping[str, NodeAdmission] = field(default_factory=dict)  # gate per node


class Engine:
    """One engine process: FastAGI sessions plus the dialer, sharing one store."""

    def __init__(self, settings: Settings, store: SQLiteStore, *, rules: Rules | None = None,
                 progress: Callable[[Dialer], None] | None = None) -> None:
        self.settings = settings
        self.store = store
        # Built once (by the entry point, or here) and shared by the dialer, the survey
        # sessions, click-to-call and /metrics.
        self.rules = rules = rules or Rules.from_settings(settings)
        self.calls = CallRegistry()
        self.sessions = SurveySessions(
            store, settings, self.calls,
            next_step=lambda result, attempts, callbacks, now: policy.after_survey(
                result, attempts, callbacks, now, rules.retry))
        round_trips = RoundTrips()  # quick AGI round trips per PBX address: admission control
        self.agi = FastAGIServer(
            {V.SCRIPT_SURVEY: self.sessions, V.SCRIPT_STUDIO: StudioSessions(store, settings)},
            host=settings.agi_host, port=settings.agi_port,
            allow=settings.agi_allow, header_timeout=settings.agi_header_timeout,
            reuse_port=settings.agi_reuse_port, round_trips=round_trips)
        self.admission = AdmissionWatch(
            rules.admission, [(name, host) for name, host, _ in settings.pbx_nodes()],
            round_trips, state_file=state_path(settings.home) if settings.home.is_dir() else None)
        secret = rootfs.ami_secret(settings)
        self.amis = [AMI(host, port, settings.ami_user, secret, name=name,
                         ping_interval=settings.ami_ping_interval)
                     for name, host, port in settings.pbx_nodes()]
        self.ami = self.amis[0]
        # Each subscribes to the AMI events it needs (hangups of attempts; of direct calls).
        self.dialer = Dialer(store, self.amis, settings, self.calls, rules, progress=progress,
                             admission=self.admission)
        self.direct_calls = DirectCalls(store, self.amis, settings, rules)  # click-to-call
        self.sms = SmsSender.from_settings(store, settings, rules)  # None: SMS off (no sms_url)

    def health(self) -> EngineHealth:
        """Return the engine's own live figures (for /metrics, /healthz; ivr.services.status)."""
        stats = self.agi.stats
        return EngineHealth(ami={a.name: a.connected for a in self.amis},
                            sessions=len(self.calls.sessions),
                            agi={f.name: getattr(stats, f.name) for f in fields(stats)},
                            trunks=tuple(self.rules.trunks),
                            admission=self.admission.states())

    async def start(self) -> None:
        """Listen for FastAGI, connect AMI, and settle calls a previous run left open."""
        try:
            await self.agi.start()
        except OSError as exc:
            raise TelephonyError(
                f"FastAGI cannot listen on {self.settings.agi_host}:{self.settings.agi_port}: "
                f"{exc.strerror} (another engine running? set RABTA_AGI_PORT)") from None
        log.info("FastAGI listening on %s:%d", self.settings.agi_host, self.agi.port)
        results = await asyncio.gather(*(a.connect(required=False) for a in self.amis))
        if not any(results):
            raise AMIConnectionError(
                "no PBX node answers on AMI (is Asterisk up? `rabta asterisk status`)")
        for ami, ok in zip(self.amis, results, strict=True):
            if not ok:
                log.warning("%s: AMI not answering; dialling through the other nodes until "
                            "it comes back", ami.name)
        await self.dialer.reconcile()
        if self.sms is not None:
            self.sms.start()

    async def __aenter__(self) -> Engine:
        """Start (closing what did start if it fails); `async with` closes on the way out."""
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def run_until_idle(self) -> None:
        """Dial until nothing is left to do, then hand over the SMS those calls made due."""
        await self.dialer.run(until_idle=True)
        if self.sms is not None:
            await self.sms.drain()

    async def close(self) -> None:
        """Stop accepting work and close connections (answers already given are stored)."""
        if self.sms is not None:
            await self.sms.close()
        await self.direct_calls.close()
        await asyncio.gather(*(a.close() for a in self.amis))
        await self.agi.close()

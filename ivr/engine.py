"""Engine: wires the store, AMI, the FastAGI server and the dialer into one process.

Entry points (`rabta run`, `rabta serve`, `rabta demo`, tests) build an Engine from Settings;
nothing below this module reaches for config or constructs its own clients.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ivr.asterisk import rootfs
from ivr.asterisk import variables as V
from ivr.asterisk.agi.server import FastAGIServer
from ivr.asterisk.ami import AMI
from ivr.calls import CallRegistry
from ivr.config import Settings
from ivr.directcalls import DirectCalls
from ivr.errors import AMIConnectionError, TelephonyError
from ivr.flows.session import SurveySessions
from ivr.flows.studio import StudioSessions
from ivr.store import SQLiteStore
from scheduler import policy
from scheduler.dialer import Dialer

log = logging.getLogger(__name__)


class Engine:
    """One engine process: FastAGI sessions plus the dialer, sharing one store."""

    def __init__(self, settings: Settings, store: SQLiteStore, *,
                 progress: Callable[[Dialer], None] | None = None) -> None:
        self.settings = settings
        self.store = store
        self.calls = CallRegistry()
        # The dialer builds the rules from settings once; the sessions share them.
        self.sessions = SurveySessions(
            store, settings, self.calls,
            next_step=lambda result, attempts, callbacks, now: policy.after_survey(
                result, attempts, callbacks, now, self.dialer.retry))
        self.agi = FastAGIServer(
            {V.SCRIPT_SURVEY: self.sessions, V.SCRIPT_STUDIO: StudioSessions(store, settings)},
            host=settings.agi_host, port=settings.agi_port,
            allow=settings.agi_allow, header_timeout=settings.agi_header_timeout,
            reuse_port=settings.agi_reuse_port)
        secret = rootfs.ami_secret(settings)
        self.amis = [AMI(host, port, settings.ami_user, secret, name=name,
                         ping_interval=settings.ami_ping_interval,
                         on_hangup=lambda ev: self.dialer.on_hangup(ev))
                     for name, host, port in settings.pbx_nodes()]
        self.ami = self.amis[0]
        self.dialer = Dialer(store, self.amis, settings, self.calls, progress=progress)
        self.direct_calls = DirectCalls(store, self.amis, settings)  # officials' click-to-call

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

    async def close(self) -> None:
        """Stop accepting work and close connections (answers already given are stored)."""
        await self.direct_calls.close()
        await asyncio.gather(*(a.close() for a in self.amis))
        await self.agi.close()

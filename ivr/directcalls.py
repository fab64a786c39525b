"""Click-to-call, beside the road: an official calls a citizen back through Rabta's own PBX.

    web "call this citizen" -> DirectCalls.call() -> row in direct_calls (before anything is sent)
      -> Originate Channel=<official's phone on the trunk>, Context=rabta-bridge, Exten=s,
         Variable=RABTA_CALL=<id>, RABTA_BRIDGE_TO=<citizen's dial string>
      -> the official answers -> [rabta-bridge] Dial()s the citizen and bridges the two
      -> the official's channel hangs up -> AMI Hangup event with RABTA_CALL and
         RABTA_BRIDGE_STATUS (the citizen leg's DIALSTATUS) -> the row is closed

The web layer never speaks AMI: it asks this service, which the engine wires. It subscribes to
the AMI links' ChannelHangup events and reads its own channel variables from them
(`ended_call`), so the protocol layer knows nothing of direct calls. The official never learns
the citizen's number from Rabta (the PBX dials it); logs mask both numbers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from ivr import phone
from ivr.asterisk import variables as V
from ivr.asterisk.ami import AMI, ChannelHangup
from ivr.config import Settings
from ivr.errors import AMIConnectionError, AMIError, TelephonyError
from ivr.models import Outcome
from ivr.store import SQLiteStore
from scheduler import dialstring
from scheduler.rules import Rules

log = logging.getLogger(__name__)

RING_OFFICIAL_S = 30.0  # how long the official's own phone rings before we give up


def _now() -> datetime:
    return datetime.now(UTC)


def ended_call(event: ChannelHangup) -> tuple[int, str] | None:
    """Return (call id, the citizen leg's DIALSTATUS) if the hangup ends a direct call.

    The official's channel carries ``RABTA_CALL=42`` and, once [rabta-bridge] has dialled the
    citizen, ``RABTA_BRIDGE_STATUS=ANSWER`` (or BUSY, NOANSWER ...; empty if never dialled).
    """
    call = event.variables.get(V.CALL, "")
    if not (call.isascii() and call.isdigit()):
        return None
    return int(call), event.variables.get(V.BRIDGE_STATUS, "")


class DirectCalls:
    """Place officials' direct calls over the engine's AMI links and record what came of them."""

    def __init__(self, store: SQLiteStore, amis: Sequence[AMI], settings: Settings,
                 rules: Rules, clock: Callable[[], datetime] = _now) -> None:
        self.store = store
        self.amis = list(amis)
        self.settings = settings
        self.rules = rules
        self.clock = clock
        self._tasks: set[asyncio.Task[None]] = set()
        self.ended: dict[int, asyncio.Event] = {}  # call id -> set once its row is closed
        for ami in self.amis:
            ami.subscribe(ChannelHangup, self._on_channel_hangup)

    def dial_string(self, number: str) -> str:
        """Return the PBX's dial string for a number, on the trunk the dialer would pick first."""
        return dialstring.dial_string(self.rules, number,
                                      dialstring.preferred_trunk(self.rules, number))

    async def call(self, caller: str, official_phone: str, transaction_id: int,
                   citizen_number: str) -> int:
        """Record and start a direct call (the official's phone first); return its id at once."""
        ami = next((a for a in self.amis if a.connected), None)
        if ami is None:
            raise AMIConnectionError("no PBX node answers on AMI: the call cannot be placed")
        official = self.dial_string(official_phone)
        citizen = self.dial_string(citizen_number)
        call_id = await self.store.add_direct_call(caller, transaction_id, official_phone,
                                                   self.clock())
        self.ended[call_id] = asyncio.Event()
        task = asyncio.get_running_loop().create_task(
            self._place(ami, call_id, official, citizen), name=f"direct-call-{call_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        log.info("direct call %d by %s: ringing %s, then %s", call_id, caller,
                 phone.mask(official_phone), phone.mask(citizen_number))
        return call_id

    async def _place(self, ami: AMI, call_id: int, official: str, citizen: str) -> None:
        try:
            result = await ami.originate(
                call_id, official, context=V.CTX_BRIDGE, ring_timeout=RING_OFFICIAL_S,
                variables={V.CALL: str(call_id), V.BRIDGE_TO: citizen},
                caller_id=self.settings.caller_id, survey=False)
            outcome = result.outcome
        except (AMIError, TelephonyError) as exc:
            log.warning("direct call %d not placed: %s", call_id, exc)
            outcome = Outcome.UNKNOWN
        log.info("direct call %d: the official's phone %s", call_id, outcome)
        await self.store.direct_call_official(call_id, outcome.value, self.clock())
        if outcome is not Outcome.ANSWERED:
            self.ended[call_id].set()

    def _on_channel_hangup(self, event: ChannelHangup) -> None:
        ended = ended_call(event)
        if ended is not None:
            self.on_hangup(*ended)

    def on_hangup(self, call_id: int, citizen_status: str) -> None:
        """Close a direct call's row when the official's channel hangs up (from AMI)."""
        task = asyncio.get_running_loop().create_task(self._ended(call_id, citizen_status))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _ended(self, call_id: int, citizen_status: str) -> None:
        log.info("direct call %d ended: citizen leg %s", call_id, citizen_status or "not dialled")
        await self.store.direct_call_ended(call_id, citizen_status, self.clock())
        event = self.ended.get(call_id)
        if event is not None:
            event.set()

    async def close(self) -> None:
        """Wait briefly for calls being recorded, then cancel what is left."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

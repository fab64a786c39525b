"""Protocol layer, AMI: panoramisk's Manager, wrapped so that each of its known defects is guarded.

Guards (see FINDINGS.md):
- panoramisk re-sends unanswered actions after a reconnect: an Originate would be dialled
  twice. Every action we send is "forgetable", so nothing is ever re-sent.
- An Async Originate queued just before Asterisk stops never resolves: ours has its own
  deadline, and a lost connection resolves every pending originate as Outcome.UNKNOWN at once.
- Its keep-alive sends Ping but never checks the Pong: we ping ourselves and drop a link
  whose Pong does not come back, which makes panoramisk reconnect.

Calls are matched by our own id: Originate sets __RABTA_ATTEMPT, manager.conf's channelvars
makes every channel event carry it, and one function maps Reason and cause to an Outcome.

Events reach the layers above by subscription: ``ami.subscribe(HangupEvent, handler)`` for the
hangups of survey attempts, ``ami.subscribe(ChannelHangup, handler)`` for every hangup with
its channel variables (click-to-call reads its own variables there). A handler that raises is
logged and never stops the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from panoramisk import Manager
from panoramisk.actions import Action

from ivr.asterisk import variables as V
from ivr.errors import AMIConnectionError, AMIError
from ivr.models import Outcome

log = logging.getLogger(__name__)

# Every action name we send, lower case: none of them is ever re-sent after a reconnect.
_NEVER_RESEND = ("login", "ping", "originate", "coreshowchannels", "hangup", "logoff",
                 "pjsipshowregistrationsoutbound")

# OriginateResponse Reason is the last AST_CONTROL_* frame the dialled channel gave.
REASON_FAILED, REASON_HANGUP, REASON_RINGING, REASON_ANSWERED = 0, 1, 3, 4
REASON_BUSY, REASON_CONGESTION = 5, 8

# Q.850 hangup causes that say more than the Reason does.
_CAUSES = {
    17: Outcome.BUSY,  # user busy
    18: Outcome.NO_ANSWER,  # no user responding
    19: Outcome.NO_ANSWER,  # no answer from user (user alerted)
    20: Outcome.NO_ANSWER,  # subscriber absent
    21: Outcome.REJECTED,  # call rejected
    1: Outcome.FAILED,  # unallocated number
    3: Outcome.FAILED,  # no route to destination
    28: Outcome.FAILED,  # invalid number format
    34: Outcome.CONGESTION,  # no circuit available
    38: Outcome.CONGESTION,  # network out of order
    41: Outcome.CONGESTION,  # temporary failure
    42: Outcome.CONGESTION,  # switching equipment congestion
    44: Outcome.CONGESTION,  # requested circuit not available
    47: Outcome.CONGESTION,  # resource unavailable
}
_REASONS = {
    REASON_ANSWERED: Outcome.ANSWERED,
    REASON_BUSY: Outcome.BUSY,
    REASON_CONGESTION: Outcome.CONGESTION,
    REASON_RINGING: Outcome.NO_ANSWER,
}


def outcome_from(reason: int | None, cause: int | None = None) -> Outcome:
    """Map an OriginateResponse Reason and the channel's hangup cause to one Outcome.

    Real transcripts (tests/unit/test_ami_outcome.py) from Asterisk 22 over PJSIP:
    ``Response: Success / Reason: 4`` answered; ``Reason: 5`` busy (486);
    ``Reason: 8`` congestion (503); ``Reason: 3`` rang until our timeout;
    ``Reason: 1`` with ``Cause: 21`` rejected (403/603); ``Reason: 0`` nothing came back.
    """
    if reason == REASON_ANSWERED:
        return Outcome.ANSWERED
    if cause is not None and cause in _CAUSES:
        return _CAUSES[cause]
    if reason in _REASONS:
        return _REASONS[reason]
    if reason == REASON_HANGUP:
        return Outcome.REJECTED  # the far end hung up before answering, with no better cause
    return Outcome.FAILED


@dataclass(frozen=True, slots=True)
class OriginateResult:
    """What became of one Originate, typed."""

    attempt_id: int
    outcome: Outcome
    reason: int | None = None
    cause: int | None = None
    channel: str = ""
    uniqueid: str = ""


@dataclass(frozen=True, slots=True)
class HangupEvent:
    """A channel that carried one of our attempts has hung up."""

    attempt_id: int
    cause: int | None
    channel: str
    uniqueid: str


@dataclass(frozen=True, slots=True)
class ChannelHangup:
    """Any channel has hung up; `variables` are the channel variables the event carried."""

    cause: int | None
    channel: str
    uniqueid: str
    variables: Mapping[str, str] = field(default_factory=dict)


AMIEvent = TypeVar("AMIEvent", HangupEvent, ChannelHangup)


def chan_variables(event: Mapping[str, Any]) -> dict[str, str]:
    """Return the ChanVariable headers of an AMI event as a dict (one header or many)."""
    raw = event.get("ChanVariable")
    items = raw if isinstance(raw, list) else [raw] if raw else []
    out = {}
    for item in items:
        key, _, value = str(item).partition("=")
        out[key] = value
    return out


def attempt_of(event: Mapping[str, Any]) -> int | None:
    """Return our attempt id carried by an AMI channel event, if any."""
    value = chan_variables(event).get(V.ATTEMPT, "")
    return int(value) if value.isdigit() else None


@dataclass(frozen=True)
class Registration:
    """One outbound registration as the PBX holds it."""

    name: str  # the registration section, e.g. "carrier-reg"
    endpoint: str  # its endpoint (line=yes), "" if none is named
    status: str  # Registered | Unregistered | Rejected | Stopped ...


def registration_of(event: Mapping[str, Any]) -> Registration:
    """Read an OutboundRegistrationDetail event::

        Event: OutboundRegistrationDetail
        ObjectType: registration
        ObjectName: carrier-reg
        Endpoint: carrier
        Status: Rejected
    """
    return Registration(str(event.get("ObjectName", "")), str(event.get("Endpoint", "") or ""),
                        str(event.get("Status", "")))


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class AMI:
    """One AMI connection to one PBX node, with login, reconnect, checked pings and originate."""

    def __init__(self, host: str, port: int, username: str, secret: str, *,
                 name: str = "pbx", ping_interval: float = 5.0,
                 reconnect_delay: float = 1.0) -> None:
        self.name = name
        self._ping_interval = ping_interval
        self._subscribers: dict[type[Any], list[Callable[[Any], None]]] = {}
        self._ready = asyncio.Event()
        self._lost = asyncio.Event()  # set when a logged-in connection drops, until the next login
        self._pending: dict[str, asyncio.Future[OriginateResult]] = {}
        # The one hangup-cause cache: attempt id -> Q.850 cause, for attempts being originated
        # (it tells busy from rejected) and for those whose result stayed unknown, until the
        # caller forgets them (the dialer settles an unknown result with it).
        self._watched: set[int] = set()
        self._causes: dict[int, int] = {}
        self._pinger: asyncio.Task[None] | None = None
        self._closing = False
        self.reconnects = 0
        self._manager = Manager(
            host=host, port=port, username=username, secret=secret,
            events="call,reporting", forgetable_actions=_NEVER_RESEND,
            ping_delay=10**9, ping_interval=10**9,  # its pinger never checks the Pong; ours does
            reconnect_timeout=reconnect_delay,
            on_login=self._logged_in, on_disconnect=self._disconnected,
        )
        self._manager.register_event("Hangup", self._hangup)

    # ------------------------------------------------------------------ events

    def subscribe(self, kind: type[AMIEvent],
                  handler: Callable[[AMIEvent], None]) -> Callable[[], None]:
        """Call handler with every event of that kind; return a function that unsubscribes."""
        handlers = self._subscribers.setdefault(kind, [])
        handlers.append(handler)

        def unsubscribe() -> None:
            if handler in handlers:
                handlers.remove(handler)

        return unsubscribe

    def _publish(self, event: HangupEvent | ChannelHangup) -> None:
        for handler in list(self._subscribers.get(type(event), ())):
            try:
                handler(event)
            except Exception:  # one subscriber's bug must not cost the others their event
                log.exception("%s: a subscriber to %s failed", self.name, type(event).__name__)

    def hangup_cause(self, attempt_id: int) -> int | None:
        """Return the hangup cause seen for an attempt originated here, if one came."""
        return self._causes.get(attempt_id)

    def forget(self, attempt_id: int) -> None:
        """Stop keeping an attempt's hangup cause (its caller has settled it; idempotent)."""
        self._watched.discard(attempt_id)
        self._causes.pop(attempt_id, None)

    # ------------------------------------------------------------------ connection

    @property
    def connected(self) -> bool:
        return self._ready.is_set()

    async def wait_lost(self) -> None:
        """Return when the connection drops (at once if it is not logged in now)."""
        if self.connected:
            await self._lost.wait()

    async def connect(self, timeout: float = 10.0, *, required: bool = True) -> bool:
        """Connect and log in; return whether it happened in time.

        required: raise AMIConnectionError (and stop trying) if not; otherwise keep trying in
        the background (panoramisk reconnects) and return False.
        """
        self._manager.loop = asyncio.get_running_loop()
        self._manager.connect()
        try:
            await self.wait_ready(timeout)
        except AMIConnectionError:
            if required:
                self._manager.close()
                raise
        if self._pinger is None:
            self._pinger = asyncio.create_task(self._ping_loop(), name=f"ami-ping-{self.name}")
        return self.connected

    async def wait_ready(self, timeout: float) -> None:
        """Wait until logged in; raise AMIConnectionError after timeout."""
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            raise AMIConnectionError(
                f"{self.name}: no AMI login within {timeout:g} s "
                f"(is Asterisk up? `rabta asterisk status`)") from None

    def _logged_in(self, manager: Manager) -> None:
        if not manager.authenticated:
            log.error("%s: AMI login refused (check ami_user / ami secret)", self.name)
            return
        if self.reconnects:
            log.warning("%s: AMI reconnected", self.name)
        else:
            log.info("%s: AMI logged in", self.name)
        self._lost.clear()
        self._ready.set()

    def _disconnected(self, manager: Manager, exc: Any) -> None:
        was_ready = self._ready.is_set()
        self._ready.clear()
        self._lost.set()
        if self._closing:
            return
        if was_ready:
            self.reconnects += 1
            log.warning("%s: AMI connection lost; %d originate(s) in flight become unknown",
                        self.name, len(self._pending))
        # Their OriginateResponse will never come on a new connection: resolve them now.
        for action_id, fut in list(self._pending.items()):
            if not fut.done():
                attempt = int(action_id.rsplit("-", 1)[1])
                fut.set_result(OriginateResult(attempt, Outcome.UNKNOWN))

    def drop(self) -> None:
        """Abort the TCP connection as a network fault would (panoramisk then reconnects)."""
        proto = self._manager.protocol
        if proto is not None and getattr(proto, "transport", None) is not None:
            proto.transport.abort()

    async def _ping_loop(self) -> None:
        while True:
            await asyncio.sleep(self._ping_interval)
            if not self.connected:
                continue
            try:
                await self.ping(timeout=max(2.0, self._ping_interval))
            except AMIError:
                log.warning("%s: no Pong from AMI; dropping the connection", self.name)
                self.drop()

    async def ping(self, timeout: float = 5.0) -> float:
        """Send Ping and wait for the Pong; return the round trip in seconds."""
        start = time.monotonic()
        resp = await self._send({"Action": "Ping"}, timeout)
        if str(resp.get("Ping", "")).lower() != "pong" and not resp.success:
            raise AMIError(f"{self.name}: bad Ping answer {resp!r}")
        return time.monotonic() - start

    async def _send(self, action: dict[str, Any], timeout: float) -> Any:
        if not self.connected:
            raise AMIConnectionError(f"{self.name}: AMI not connected")
        fut = self._manager.send_action(action)
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            raise AMIError(f"{self.name}: no answer to {action['Action']} in {timeout:g} s") from None

    async def __aenter__(self) -> AMI:
        """Connect (required: AMIConnectionError if no node answers in time)."""
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Log off and close; pending originates resolve as UNKNOWN."""
        self._closing = True
        if self._pinger is not None:
            self._pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pinger
        self._ready.clear()
        self._manager.close()
        for action_id, fut in list(self._pending.items()):
            if not fut.done():
                fut.set_result(OriginateResult(int(action_id.rsplit("-", 1)[1]), Outcome.UNKNOWN))

    # ------------------------------------------------------------------ calls

    async def originate(self, attempt_id: int, channel: str, *, context: str,
                        exten: str = "s", priority: int = 1, ring_timeout: float = 30.0,
                        variables: Mapping[str, str] | None = None,
                        caller_id: str = "", survey: bool = True) -> OriginateResult:
        """Dial channel for one attempt and wait for its OriginateResponse (own deadline).

        survey=False: a call that is no survey attempt (an official's direct call): it
        carries no RABTA_ATTEMPT, and its id lives in a space of its own (negative inside,
        so a survey attempt with the same number is never confused with it).
        """
        if not self.connected:
            raise AMIConnectionError(f"{self.name}: AMI not connected")
        action_id = f"rabta-{self.name}-{'' if survey else 'call-'}{attempt_id}"
        ours = {V.inherit(V.ATTEMPT): str(attempt_id)} if survey else {}
        allvars = {**ours, **(variables or {})}
        slot = attempt_id if survey else -attempt_id  # a direct call never meets a cause
        for key, value in allvars.items():  # a Variable header is one line: no smuggling
            if any(c in f"{key}{value}" for c in "\r\n,"):
                raise AMIError(f"variable {key!r} holds a forbidden character")
        action: dict[str, Any] = {
            "Action": "Originate", "ActionID": action_id, "Channel": channel,
            "Context": context, "Exten": exten, "Priority": str(priority),
            "Timeout": str(int(ring_timeout * 1000)), "Async": "true",
            "Variable": [f"{k}={v}" for k, v in allvars.items()],
        }
        if caller_id:
            action["CallerID"] = caller_id
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[OriginateResult] = loop.create_future()
        self._pending[action_id] = fut
        if survey:  # a direct call carries no RABTA_ATTEMPT, so no cause is ever kept for it
            self._watched.add(attempt_id)
        result = OriginateResult(attempt_id, Outcome.UNKNOWN)
        try:
            sent = self._manager.send_action(Action(action))
            sent.add_done_callback(lambda f: self._originate_answered(f, fut, slot))
            deadline = ring_timeout + 30.0  # Asterisk answers within the ring timeout + setup
            try:
                result = await asyncio.wait_for(asyncio.shield(fut), deadline)
            except TimeoutError:
                log.warning("%s: no OriginateResponse for attempt %d in %.0f s",
                            self.name, attempt_id, deadline)
            return result
        finally:
            self._pending.pop(action_id, None)
            if survey and result.outcome is not Outcome.UNKNOWN:
                self.forget(attempt_id)  # settled; an unknown one is kept for its caller

    def _originate_answered(self, sent: asyncio.Future[Any],
                            fut: asyncio.Future[OriginateResult], attempt: int) -> None:
        """Handle panoramisk's answer: ["queued" response, OriginateResponse event]."""
        if fut.done() or sent.cancelled():
            return
        if sent.exception() is not None:
            fut.set_exception(AMIError(f"{self.name}: originate failed: {sent.exception()}"))
            return
        messages = sent.result()
        messages = messages if isinstance(messages, list) else [messages]
        event = next((m for m in messages if m.get("Event") == "OriginateResponse"), None)
        if event is None:  # refused outright, e.g. "Permission denied"
            fut.set_exception(AMIError(
                f"{self.name}: originate refused: {messages[0].get('Message', messages[0])}"))
            return
        reason = _int(event.get("Reason"))
        if reason == REASON_ANSWERED or self._causes.get(attempt) is not None:
            self._resolve(fut, attempt, reason, event)
        else:
            # The Hangup event with the cause may trail the response by a moment.
            asyncio.get_running_loop().call_later(
                0.3, self._resolve, fut, attempt, reason, event)

    def _resolve(self, fut: asyncio.Future[OriginateResult], attempt: int, reason: int | None,
                 event: Any) -> None:
        if fut.done():
            return
        cause = self._causes.get(attempt)
        fut.set_result(OriginateResult(
            attempt, outcome_from(reason, cause), reason, cause,
            str(event.get("Channel", "")), str(event.get("Uniqueid", ""))))

    def _hangup(self, manager: Manager, event: Any) -> None:
        cause = _int(event.get("Cause"))
        channel, uniqueid = str(event.get("Channel", "")), str(event.get("Uniqueid", ""))
        self._publish(ChannelHangup(cause, channel, uniqueid, chan_variables(event)))
        attempt = attempt_of(event)
        if attempt is None:
            return
        if attempt in self._watched and cause is not None:
            self._causes[attempt] = cause
        self._publish(HangupEvent(attempt, cause, channel, uniqueid))

    async def channels(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Return the live channels (CoreShowChannels) with their variables."""
        resp = await self._send({"Action": "CoreShowChannels"}, timeout)
        events = resp if isinstance(resp, list) else [resp]
        return [dict(e) | {"vars": chan_variables(e)} for e in events
                if str(e.get("Event", "")) == "CoreShowChannel"]

    async def registrations(self, timeout: float = 10.0) -> list[Registration]:
        """Return the PBX's outbound registrations and their states.

        PJSIPShowRegistrationsOutbound needs write=reporting (the engine's user has it); its
        answer is one OutboundRegistrationDetail per registration (ObjectName, Endpoint,
        Status: Registered | Unregistered | Rejected | Stopped), then ...DetailComplete.
        A PBX without any registration may answer with an error: that is an empty list.
        """
        resp = await self._send({"Action": "PJSIPShowRegistrationsOutbound"}, timeout)
        events = resp if isinstance(resp, list) else [resp]
        first = events[0] if events else {}
        if str(first.get("Response", "")).lower() == "error" and \
                "permission" in str(first.get("Message", "")).lower():
            raise AMIError(f"{self.name}: PJSIPShowRegistrationsOutbound refused "
                           f"({first.get('Message')}): give the AMI user write = reporting")
        return [registration_of(e) for e in events
                if str(e.get("Event", "")) == "OutboundRegistrationDetail"]

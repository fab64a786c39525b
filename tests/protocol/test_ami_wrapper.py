"""Protocol tier: our AMI wrapper against a scripted AMI server over real sockets.

Each panoramisk defect from FINDINGS.md gets a test: an Originate in flight when the link
drops is never sent again after the reconnect; a half-open link (Pings unanswered) is noticed
and replaced; a queued Originate whose response never comes resolves as unknown.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ivr.asterisk.ami import AMI, ChannelHangup, HangupEvent
from ivr.config import Settings
from ivr.directcalls import DirectCalls, ended_call
from ivr.errors import AMIConnectionError, AMIError
from ivr.models import Outcome, Transaction
from ivr.store import open_store
from scheduler.rules import Rules


@dataclass
class FakeAMI:
    """A loopback AMI server with scriptable behaviour, recording what it receives."""

    answer_pings: bool = True
    originate_reply: str = "queue-then-respond"  # | "silent" | "queue-only" | "refuse"
    reason: int = 4
    cause: int | None = None
    actions: list[dict[str, str]] = field(default_factory=list)
    connections: int = 0
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    got_originate: asyncio.Event = field(default_factory=asyncio.Event)
    server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.sockets[0].getsockname()[1]

    def originates(self) -> list[dict[str, str]]:
        return [a for a in self.actions if a.get("Action") == "Originate"]

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)

    def cut(self) -> None:
        for w in self.writers:
            w.transport.abort()
        self.writers.clear()

    async def _client(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(w)
        w.write(b"Asterisk Call Manager/11.0.0\r\n")
        try:
            while True:
                block = await r.readuntil(b"\r\n\r\n")
                action: dict[str, str] = {}
                for line in block.decode().strip().split("\r\n"):
                    k, _, v = line.partition(": ")
                    action[k] = v if k not in action else f"{action[k]},{v}"
                self.actions.append(action)
                self._reply(action, w)
                await w.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return

    def _reply(self, a: dict[str, str], w: asyncio.StreamWriter) -> None:
        aid = a.get("ActionID", "")
        name = a.get("Action")
        if name == "Login":
            w.write(f"Response: Success\r\nActionID: {aid}\r\nMessage: Authentication "
                    f"accepted\r\n\r\n".encode())
            # Real Asterisk sends this after a login; panoramisk re-sends queued actions on it.
            w.write(b"Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n")
        elif name == "Ping" and self.answer_pings:
            w.write(f"Response: Success\r\nActionID: {aid}\r\nPing: Pong\r\n\r\n".encode())
        elif name == "Originate":
            self.got_originate.set()
            if self.originate_reply == "silent":
                return
            if self.originate_reply == "refuse":
                w.write(f"Response: Error\r\nActionID: {aid}\r\nMessage: Permission denied"
                        f"\r\n\r\n".encode())
                return
            w.write(f"Response: Success\r\nActionID: {aid}\r\nMessage: Originate "
                    f"successfully queued\r\n\r\n".encode())
            if self.originate_reply == "queue-only":
                return
            attempt = aid.rsplit("-", 1)[1]
            if self.cause is not None:
                w.write(f"Event: Hangup\r\nChannel: PJSIP/carrier-1\r\nUniqueid: u1\r\n"
                        f"ChanVariable: RABTA_ATTEMPT={attempt}\r\nCause: {self.cause}"
                        f"\r\n\r\n".encode())
            w.write(f"Event: OriginateResponse\r\nActionID: {aid}\r\nResponse: "
                    f"{'Success' if self.reason == 4 else 'Failure'}\r\nChannel: "
                    f"PJSIP/carrier-1\r\nReason: {self.reason}\r\nUniqueid: u1\r\n\r\n".encode())


@pytest.fixture
async def fake() -> AsyncIterator[FakeAMI]:
    f = FakeAMI()
    await f.start()
    yield f
    f.cut()
    assert f.server is not None
    f.server.close()


async def _ami(fake: FakeAMI, on_hangup: Callable[[HangupEvent], None] | None = None,
               **kw: object) -> AMI:
    ami = AMI("127.0.0.1", fake.port, "rabta", "s3cret", name="t", reconnect_delay=0.2, **kw)  # type: ignore[arg-type]
    if on_hangup is not None:
        ami.subscribe(HangupEvent, on_hangup)
    await ami.connect(timeout=5)
    return ami


async def _wait(predicate: object, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]  # noqa: ASYNC110 - a state poll
            await asyncio.sleep(0.02)


async def test_answered_originate_is_typed_and_carries_our_attempt_id(fake: FakeAMI) -> None:
    ami = await _ami(fake)
    try:
        result = await ami.originate(42, "PJSIP/923001234567@carrier", context="rabta-survey",
                                     ring_timeout=5, variables={"__RABTA_LANGUAGE": "ur"})
    finally:
        await ami.close()
    assert result.outcome is Outcome.ANSWERED and result.attempt_id == 42
    sent = fake.originates()[0]
    assert sent["Variable"] == "__RABTA_ATTEMPT=42,__RABTA_LANGUAGE=ur"
    assert sent["Async"] == "true" and sent["Timeout"] == "5000"
    assert sent["Context"] == "rabta-survey"


async def test_busy_is_told_apart_by_the_hangup_cause(fake: FakeAMI) -> None:
    fake.reason, fake.cause = 0, 17  # what Asterisk 22 PJSIP really sends for a 486
    hangups: list[HangupEvent] = []
    ami = await _ami(fake, on_hangup=hangups.append)
    try:
        result = await ami.originate(7, "PJSIP/1@carrier", context="rabta-survey", ring_timeout=5)
    finally:
        await ami.close()
    assert result.outcome is Outcome.BUSY and result.cause == 17
    assert hangups and hangups[0].attempt_id == 7


async def test_originate_lost_in_a_drop_is_never_sent_again(fake: FakeAMI) -> None:
    fake.originate_reply = "silent"  # the link dies before Asterisk even says "queued"
    ami = await _ami(fake)
    try:
        task = asyncio.create_task(
            ami.originate(9, "PJSIP/1@carrier", context="rabta-survey", ring_timeout=30))
        await asyncio.wait_for(fake.got_originate.wait(), 5)
        fake.cut()
        result = await asyncio.wait_for(task, 5)  # resolved at once, not after 60 s
        await _wait(lambda: ami.connected and fake.connections >= 2)
        await asyncio.sleep(0.5)  # panoramisk re-sends right after the new login, if at all
    finally:
        await ami.close()
    assert result.outcome is Outcome.UNKNOWN
    assert len(fake.originates()) == 1, "panoramisk re-sent the Originate after reconnecting"


async def test_queued_originate_without_response_resolves_unknown(fake: FakeAMI) -> None:
    fake.originate_reply = "queue-only"
    ami = await _ami(fake)
    try:
        task = asyncio.create_task(
            ami.originate(5, "PJSIP/1@carrier", context="rabta-survey", ring_timeout=30))
        await asyncio.wait_for(fake.got_originate.wait(), 5)
        fake.cut()  # e.g. Asterisk shutting down
        result = await asyncio.wait_for(task, 5)
    finally:
        await ami.close()
    assert result.outcome is Outcome.UNKNOWN


async def test_refused_originate_raises(fake: FakeAMI) -> None:
    fake.originate_reply = "refuse"
    ami = await _ami(fake)
    try:
        with pytest.raises(AMIError, match="Permission denied"):
            await ami.originate(1, "PJSIP/1@carrier", context="rabta-survey", ring_timeout=5)
    finally:
        await ami.close()


async def test_half_open_link_is_noticed_by_the_pong_check(fake: FakeAMI) -> None:
    ami = await _ami(fake, ping_interval=0.3)
    try:
        assert await ami.ping() >= 0
        fake.answer_pings = False  # the TCP link looks open but nothing comes back
        await _wait(lambda: fake.connections >= 2, timeout=15)
        fake.answer_pings = True
        await _wait(lambda: ami.connected)
    finally:
        await ami.close()
    assert ami.reconnects >= 1


async def test_originate_while_disconnected_raises_without_sending(fake: FakeAMI) -> None:
    ami = await _ami(fake)
    await ami.close()
    with pytest.raises(AMIConnectionError):
        await ami.originate(3, "PJSIP/1@carrier", context="rabta-survey", ring_timeout=5)
    assert fake.originates() == []


async def test_variable_smuggling_is_refused(fake: FakeAMI) -> None:
    ami = await _ami(fake)
    try:
        with pytest.raises(AMIError, match="forbidden"):
            await ami.originate(3, "PJSIP/1@carrier", context="rabta-survey",
                                variables={"__RABTA_LANGUAGE": "ur\r\nAction: Command"})
    finally:
        await ami.close()
    assert fake.originates() == []


# ---------------------------------------------------------------------------- direct calls


def _send_event(fake: FakeAMI, text: str) -> None:
    for w in fake.writers:
        w.write(text.encode())


async def test_a_direct_call_is_no_survey_attempt_and_its_hangup_is_told_apart(
        fake: FakeAMI) -> None:
    hangups: list[HangupEvent] = []
    calls: list[tuple[int, str]] = []
    ami = await _ami(fake, on_hangup=hangups.append)
    ami.subscribe(ChannelHangup, lambda ev: calls.extend([e for e in [ended_call(ev)] if e]))
    try:
        result = await ami.originate(42, "PJSIP/923007770001@carrier", context="rabta-bridge",
                                     ring_timeout=5, survey=False,
                                     variables={"RABTA_CALL": "42",
                                                "RABTA_BRIDGE_TO": "PJSIP/923001234567@carrier"})
        assert result.outcome is Outcome.ANSWERED
        _send_event(fake, "Event: Hangup\r\nChannel: PJSIP/carrier-2\r\nUniqueid: u2\r\n"
                          "ChanVariable: RABTA_ATTEMPT=\r\nChanVariable: RABTA_CALL=42\r\n"
                          "ChanVariable: RABTA_BRIDGE_STATUS=ANSWER\r\nCause: 16\r\n\r\n")
        await _wait(lambda: calls)
    finally:
        await ami.close()
    sent = fake.originates()[0]
    assert sent["ActionID"].endswith("-call-42")
    assert "RABTA_ATTEMPT" not in sent["Variable"]  # the dialer never mistakes it for attempt 42
    assert sent["Variable"] == "RABTA_CALL=42,RABTA_BRIDGE_TO=PJSIP/923001234567@carrier"
    assert calls == [(42, "ANSWER")] and hangups == []


async def test_direct_calls_service_records_both_legs(fake: FakeAMI, tmp_path: Path) -> None:
    store = await open_store(tmp_path / "t.db")
    ami = await _ami(fake)
    now = datetime.now(UTC)
    try:
        await store.add_transactions([Transaction(
            office="o", ref="r", name="", mobile="+923001234567", service="s", district="d",
            official="", visited_at=now)], now)
        tx = await store.transaction("o", "r")
        assert tx is not None and tx.id is not None
        settings = Settings(home=tmp_path / "h", cache=tmp_path / "c")
        service = DirectCalls(store, [ami], settings, Rules.from_settings(settings))
        call_id = await service.call("amna", "+923007770001", tx.id, "+923001234567")
        await _wait(lambda: fake.originates())
        sent = fake.originates()[0]
        assert sent["Channel"] == "PJSIP/923007770001@carrier"  # the official first
        assert sent["Context"] == "rabta-bridge" and sent["Exten"] == "s"
        assert f"RABTA_CALL={call_id}" in sent["Variable"]
        assert "RABTA_BRIDGE_TO=PJSIP/923001234567@carrier" in sent["Variable"]
        _send_event(fake, f"Event: Hangup\r\nChannel: PJSIP/carrier-3\r\nUniqueid: u3\r\n"
                          f"ChanVariable: RABTA_CALL={call_id}\r\n"
                          f"ChanVariable: RABTA_BRIDGE_STATUS=NOANSWER\r\n\r\n")
        await asyncio.wait_for(service.ended[call_id].wait(), 10)
        await _wait(lambda: not service._tasks)
        row = await store.direct_call(call_id)
        assert row is not None
        assert (row["caller"], row["official_outcome"], row["citizen_status"]) == (
            "amna", "answered", "NOANSWER")
        assert row["ended_at"] is not None
        await service.close()
    finally:
        await ami.close()
        await store.close()


async def test_wait_lost_returns_when_the_link_drops_and_waits_again_after_the_login(
        fake: FakeAMI) -> None:
    ami = await _ami(fake)
    try:
        waiting = asyncio.create_task(ami.wait_lost())
        await asyncio.sleep(0.2)
        assert not waiting.done()  # logged in: nothing to report
        fake.cut()
        await asyncio.wait_for(waiting, 5)
        await _wait(lambda: ami.connected)
        again = asyncio.create_task(ami.wait_lost())
        await asyncio.sleep(0.2)
        assert not again.done()  # the new login cleared it
        again.cancel()
    finally:
        await ami.close()

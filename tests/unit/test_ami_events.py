"""Unit tier: AMI events by subscription, and the one hangup-cause cache.

panoramisk hands each Hangup event to the wrapper as a mapping; these tests hand it the same
mappings (headers as a real Asterisk 22 sends them) without a socket.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from ivr.asterisk.ami import AMI, ChannelHangup, HangupEvent
from ivr.directcalls import ended_call


def hangup(*variables: str, cause: str = "16") -> dict[str, Any]:
    return {"Event": "Hangup", "Channel": "PJSIP/carrier-00000001", "Uniqueid": "1732838400.1",
            "Cause": cause, "ChanVariable": list(variables)}


async def test_subscribers_get_typed_events_of_their_kind() -> None:
    ami = AMI("127.0.0.1", 1, "rabta", "s", name="t")
    attempts: list[HangupEvent] = []
    channels: list[ChannelHangup] = []
    ami.subscribe(HangupEvent, attempts.append)
    ami.subscribe(ChannelHangup, channels.append)
    ami._hangup(None, hangup("RABTA_ATTEMPT=42", "RABTA_CALL=", cause="17"))
    ami._hangup(None, hangup("RABTA_ATTEMPT=", "RABTA_CALL=7", "RABTA_BRIDGE_STATUS=BUSY"))
    assert attempts == [HangupEvent(42, 17, "PJSIP/carrier-00000001", "1732838400.1")]
    assert [c.variables.get("RABTA_CALL") for c in channels] == ["", "7"]
    assert channels[1].cause == 16


async def test_unsubscribe_stops_the_events() -> None:
    ami = AMI("127.0.0.1", 1, "rabta", "s", name="t")
    seen: list[HangupEvent] = []
    unsubscribe = ami.subscribe(HangupEvent, seen.append)
    ami._hangup(None, hangup("RABTA_ATTEMPT=1"))
    unsubscribe()
    unsubscribe()  # idempotent
    ami._hangup(None, hangup("RABTA_ATTEMPT=2"))
    assert [e.attempt_id for e in seen] == [1]


async def test_a_failing_subscriber_never_costs_the_others_their_event(
        caplog: pytest.LogCaptureFixture) -> None:
    ami = AMI("127.0.0.1", 1, "rabta", "s", name="t")
    seen: list[HangupEvent] = []

    def broken(event: HangupEvent) -> None:
        raise RuntimeError("a bug in one subscriber")

    ami.subscribe(HangupEvent, broken)
    ami.subscribe(HangupEvent, seen.append)
    with caplog.at_level(logging.ERROR):
        ami._hangup(None, hangup("RABTA_ATTEMPT=5"))
    assert [e.attempt_id for e in seen] == [5]
    assert "subscriber to HangupEvent failed" in caplog.text


async def test_the_cause_is_kept_only_for_attempts_this_link_originated_until_forgotten() -> None:
    ami = AMI("127.0.0.1", 1, "rabta", "s", name="t")
    ami._watched.add(9)  # what originate() does for a survey attempt
    ami._hangup(None, hangup("RABTA_ATTEMPT=9", cause="17"))
    ami._hangup(None, hangup("RABTA_ATTEMPT=10", cause="21"))  # not ours to keep
    assert ami.hangup_cause(9) == 17
    assert ami.hangup_cause(10) is None
    ami.forget(9)
    assert ami.hangup_cause(9) is None
    ami._hangup(None, hangup("RABTA_ATTEMPT=9", cause="17"))  # forgotten: no longer kept
    assert ami.hangup_cause(9) is None


@pytest.mark.parametrize(("variables", "ended"), [
    (("RABTA_CALL=42", "RABTA_BRIDGE_STATUS=ANSWER"), (42, "ANSWER")),
    (("RABTA_CALL=42",), (42, "")),  # the official never answered: the citizen was not dialled
    (("RABTA_CALL=", "RABTA_ATTEMPT=42"), None),  # a survey call
    (("RABTA_CALL=4x",), None),
    (("RABTA_CALL=٤٢",), None),  # Arabic-Indic digits are digits to str.isdigit, not to us
    ((), None),
])
def test_click_to_call_reads_its_own_variables(variables: tuple[str, ...],
                                               ended: tuple[int, str] | None) -> None:
    event = ChannelHangup(16, "PJSIP/carrier-1", "u1",
                          dict(v.split("=", 1) for v in variables))
    assert ended_call(event) == ended

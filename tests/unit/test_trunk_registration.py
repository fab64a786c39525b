"""Unit tier: a trunk whose registration is not Registered carries no call; its calls wait.

The pure rule (scheduler.policy.unregistered_trunks), the pacer's router skipping a closed
trunk, the AMI event read, and the dialer reading a node's registrations through a scripted AMI.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest

from ivr.asterisk.ami import Registration, registration_of
from ivr.calls import CallRegistry
from ivr.config import load_settings
from ivr.errors import AMIError
from scheduler import dialer as dialer_mod
from scheduler.dialer import Dialer, trunk_states
from scheduler.pacer import Pacer
from scheduler.policy import Trunk, unregistered_trunks
from scheduler.rules import Rules

SIP = ("carrier host=127.0.0.1:5071 register=yes username=pbx password=long-enough-secret",)


@pytest.mark.parametrize(("states", "held"), [
    ({"carrier": "Registered"}, {}),
    ({"carrier": "Rejected"}, {"carrier": "Rejected"}),
    ({"carrier": "Unregistered"}, {"carrier": "Unregistered"}),
    ({}, {"carrier": "missing"}),  # the PBX has no such registration at all
    ({"other": "Registered"}, {"carrier": "missing"}),
])
def test_only_a_registered_trunk_carries_calls(states: dict[str, str],
                                               held: dict[str, str]) -> None:
    assert unregistered_trunks(frozenset({"carrier"}), states) == held


def test_a_trunk_that_does_not_register_is_never_held() -> None:
    assert unregistered_trunks(frozenset(), {"carrier": "Rejected"}) == {}


def test_registrations_map_to_trunks_by_endpoint_else_by_name() -> None:
    regs = [Registration("carrier-reg", "", "Rejected"), Registration("x", "jazz", "Registered")]
    assert trunk_states(regs) == {"carrier": "Rejected", "jazz": "Registered"}


def test_the_ami_event_is_read_as_asterisk_writes_it() -> None:
    event = {"Event": "OutboundRegistrationDetail", "ObjectType": "registration",
             "ObjectName": "carrier-reg", "Endpoint": "carrier", "Status": "Rejected"}
    assert registration_of(event) == Registration("carrier-reg", "carrier", "Rejected")


def test_the_router_skips_a_closed_trunk() -> None:
    pacer = Pacer([Trunk("a", 5, 10.0), Trunk("b", 5, 10.0)], 10.0, clock=lambda: 0.0)
    assert pacer.router(lambda n: None)("923001234567") == "a"
    assert pacer.router(lambda n: None, {"a"})("923001234567") == "b"
    assert pacer.router(lambda n: None, {"a", "b"})("923001234567") is None


def test_rules_know_which_trunks_register() -> None:
    s = load_settings(env={}, overrides={"trunk_sip": SIP})
    assert Rules.from_settings(s).registering == frozenset({"carrier"})
    assert Rules.from_settings(load_settings(env={})).registering == frozenset()


class ScriptedAMI:
    name = "pbx"

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.asked = 0

    def subscribe(self, kind: Any, handler: Any) -> None:
        return None

    async def registrations(self) -> list[Registration]:
        self.asked += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return [Registration("carrier-reg", "carrier", answer)]


async def test_the_dialer_holds_the_trunk_until_its_node_says_registered(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dialer_mod, "REGISTRATION_POLL_S", 0.0)
    s = load_settings(env={}, overrides={"trunk_sip": SIP})
    ami = ScriptedAMI(["Rejected", AMIError("no answer"), "Registered", "Unregistered"])
    d = Dialer(store=None, ami=[ami], settings=s, calls=CallRegistry(),  # type: ignore[arg-type, list-item]
               rules=Rules.from_settings(s))
    assert d.unregistered["pbx"] == {"carrier": "not yet read"}  # held before the first read
    caplog.set_level(logging.INFO, logger="scheduler.dialer")
    assert await d._closed_trunks(ami) == {"carrier"}  # type: ignore[arg-type]
    assert "registration is Rejected: its calls wait" in caplog.text
    assert await d._closed_trunks(ami) == {"carrier"}  # type: ignore[arg-type]  # unreadable: kept
    assert await d._closed_trunks(ami) == frozenset()  # type: ignore[arg-type]
    assert "trunk carrier is Registered: its calls go" in caplog.text
    assert await d._closed_trunks(ami) == {"carrier"}  # type: ignore[arg-type]
    assert ami.asked == 4


async def test_no_registering_trunk_means_no_query() -> None:
    s = load_settings(env={})
    ami: Any = SimpleNamespace(name="pbx", subscribe=lambda kind, handler: None)
    d = Dialer(store=None, ami=[ami], settings=s, calls=CallRegistry(),  # type: ignore[arg-type]
               rules=Rules.from_settings(s))
    assert await d._closed_trunks(ami) == frozenset()  # SimpleNamespace has no registrations()


async def test_a_refused_registration_query_names_the_missing_right() -> None:
    from ivr.asterisk.ami import AMI

    ami = AMI("127.0.0.1", 1, "rabta", "x")

    async def refused(action: dict[str, Any], timeout: float) -> Any:
        return {"Response": "Error", "Message": "Permission denied"}

    ami._send = refused  # type: ignore[method-assign]
    with pytest.raises(AMIError, match="write = reporting"):
        await ami.registrations()

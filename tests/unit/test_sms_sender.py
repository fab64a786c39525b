"""SMS planning, sending and replies against the store, with a scripted gateway (unit tier)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from storehelpers import value

from ivr.config import Settings
from ivr.models import Transaction
from ivr.sms import inbox
from ivr.sms import text as smstext
from ivr.sms.gateway import GatewayDown, GatewayInDoubt, GatewayRefused, Outgoing
from ivr.sms.sender import SmsSender
from ivr.store import SQLiteStore
from ivr.store.sms import SmsStore

pytestmark = pytest.mark.both_backends  # the store tests run on SQLite and PostgreSQL

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)  # 13:00 in Lahore: inside the calling window
NUMBER = "+923001234567"


class FakeGateway:
    """Takes messages, or fails as told."""

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []
        self.fail: Exception | None = None

    async def submit(self, msg: Outgoing) -> None:
        if self.fail is not None:
            raise self.fail
        self.sent.append(msg)

    async def close(self) -> None:
        pass


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, sms_per_second=1000.0, sms_notice_lead=3600.0,
                    sms_retry_delay=30.0, sms_doubt_after=300.0)


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def sender(store: SQLiteStore, settings: Settings, gateway: FakeGateway) -> SmsSender:
    return SmsSender(store, settings, gateway, smstext.load_templates(), clock=lambda: NOW)


async def add(store: SQLiteStore, ref: str, *, number: str = NUMBER, first_call_in: float = 1800,
              ago: float = 3 * 3600, status: str | None = None, language: str | None = "en"
              ) -> int:
    tx = Transaction(office="DC Office", ref=ref, name="", mobile=number, service="domicile",
                     district="Lahore", official="", visited_at=NOW - timedelta(seconds=ago),
                     language=language)
    await store.add_transactions([tx], NOW, lambda t: NOW + timedelta(seconds=first_call_in))
    got = await store.transaction("DC Office", ref)
    assert got is not None and got.id is not None
    if status:
        await store._tx([("UPDATE transactions SET status = ?, attempts = 3 WHERE id = ?",
                          (status, got.id))])
    return got.id


async def states(store: SQLiteStore, tx: int) -> dict[str, str]:
    return {m["kind"]: m["state"] for m in await SmsStore(store).messages_of(tx)}


async def test_the_notice_goes_once_a_set_time_before_the_first_call(
        store: SQLiteStore, sender: SmsSender, gateway: FakeGateway) -> None:
    soon = await add(store, "A", first_call_in=1800)
    later = await add(store, "B", first_call_in=3 * 3600, number="+923001234568")
    assert await sender.step(NOW) == 1
    assert [m.to for m in gateway.sent] == [NUMBER]
    assert gateway.sent[0].text.startswith("The Chief Minister's office will call you soon "
                                           "about your visit to DC Office on 2026-12-02")
    assert await states(store, soon) == {"notice": "sent"}
    assert await states(store, later) == {}
    assert await sender.step(NOW + timedelta(minutes=1)) == 0  # one of each kind: never again
    assert await sender.step(NOW + timedelta(hours=2, minutes=1)) == 1  # B's turn came
    assert len(gateway.sent) == 2


async def test_nothing_goes_outside_the_calling_window_it_waits_for_it(
        store: SQLiteStore, sender: SmsSender, gateway: FakeGateway) -> None:
    night = datetime(2026, 12, 2, 17, 0, tzinfo=UTC)  # 22:00 in Lahore
    await add(store, "A", status="unreachable")
    assert await sender.step(night) == 0
    assert gateway.sent == []
    assert await sender.step(night + timedelta(hours=1)) == 0  # held until 09:00 local
    assert await sender.step(datetime(2026, 12, 3, 4, 1, tzinfo=UTC)) == 1  # 09:01


async def test_a_do_not_call_number_gets_nothing(store: SQLiteStore, sender: SmsSender,
                                                 gateway: FakeGateway) -> None:
    tx = await add(store, "A", status="unreachable")
    await store.dnc_add([NUMBER], "admin", NOW)
    assert await sender.step(NOW) == 0
    assert gateway.sent == [] and await states(store, tx) == {}


async def test_a_gateway_that_is_down_loses_nothing_and_doubles_nothing(
        store: SQLiteStore, sender: SmsSender, gateway: FakeGateway) -> None:
    tx = await add(store, "A", status="unreachable")
    gateway.fail = GatewayDown("connection refused")
    assert await sender.step(NOW) == 0
    assert await states(store, tx) == {"survey": "queued"} and not sender.gateway_up
    assert await sender.step(NOW + timedelta(seconds=10)) == 0  # waits sms_retry_delay
    gateway.fail = None
    assert await sender.step(NOW + timedelta(seconds=31)) == 1
    assert await sender.step(NOW + timedelta(seconds=60)) == 0
    assert len(gateway.sent) == 1 and await states(store, tx) == {"survey": "sent"}


async def test_a_hand_over_in_doubt_goes_again_only_without_a_report(
        store: SQLiteStore, sender: SmsSender, gateway: FakeGateway) -> None:
    a = await add(store, "A", status="unreachable")
    b = await add(store, "B", status="unreachable", number="+923001234568")
    gateway.fail = GatewayInDoubt("cut off")
    await sender.step(NOW)
    assert await states(store, a) == {"survey": "sending"} == await states(store, b)
    gateway.fail = None
    sms = SmsStore(store)
    msg_a = (await sms.messages_of(a))[0]["id"]
    await sms.report(msg_a, 8, "sent", "ACK/", NOW + timedelta(seconds=5))  # A did arrive
    assert await sender.step(NOW + timedelta(seconds=60)) == 0  # too soon to doubt
    assert await sender.step(NOW + timedelta(seconds=301)) == 1
    assert [m.to for m in gateway.sent] == ["+923001234568"]


async def test_a_refused_message_fails_and_is_not_resent(
        store: SQLiteStore, sender: SmsSender, gateway: FakeGateway) -> None:
    tx = await add(store, "A", status="unreachable")
    gateway.fail = GatewayRefused("400 bad number")
    await sender.step(NOW)
    gateway.fail = None
    assert await sender.step(NOW + timedelta(hours=1)) == 0
    assert await states(store, tx) == {"survey": "failed"}


async def test_a_notice_held_overnight_goes_at_the_window_unless_the_call_went_first(
        store: SQLiteStore, sender: SmsSender, gateway: FakeGateway) -> None:
    evening = datetime(2026, 12, 2, 14, 45, tzinfo=UTC)  # 19:45 in Lahore
    due = (evening - NOW).total_seconds() + 3600  # first call due 20:45: outside the window
    a = await add(store, "A", first_call_in=due)
    b = await add(store, "B", first_call_in=due, number="+923001234568")
    await SmsStore(store).plan(evening, notice_lead=7200, max_age=3 * 86400)
    assert await sender.step(datetime(2026, 12, 2, 15, 30, tzinfo=UTC)) == 0  # 20:30: held
    await store._tx([("UPDATE transactions SET attempts = 1, status = 'dialing' WHERE id = ?",
                      (b,))])  # B's first call went at 09:00 sharp, before its notice
    assert await sender.step(datetime(2026, 12, 3, 4, 0, 1, tzinfo=UTC)) == 1  # 09:00:01
    assert [m.to for m in gateway.sent] == [NUMBER]
    assert await states(store, a) == {"notice": "sent"}
    assert await states(store, b) == {"notice": "expired"}


async def test_thanks_case_number_and_outcome_follow_the_transaction(
        store: SQLiteStore, sender: SmsSender, gateway: FakeGateway) -> None:
    from ivr.cases import CaseAction, CaseStatus

    tx = await add(store, "A", status="unreachable", language="ur")
    await sender.step(NOW)  # the SMS survey
    await inbox.receive(SmsStore(store), NUMBER, "4 1", NOW, 3 * 86400)
    await sender.step(NOW + timedelta(minutes=1))  # thanks + case number
    await store.change_case(tx, "user:o", CaseStatus.UNDER_REVIEW, None, None, "",
                            NOW + timedelta(hours=1))
    await store.change_case(tx, "user:o", CaseStatus.ACTION_TAKEN, CaseAction.SUSPENSION, None,
                            "", NOW + timedelta(days=1))
    await sender.step(NOW + timedelta(days=1, minutes=1))
    assert await states(store, tx) == {"survey": "sent", "thanks": "sent", "case": "sent",
                                       "outcome": "sent"}
    outcome = gateway.sent[-1].text
    assert f"کیس {tx}" in outcome and "معطل" in outcome and gateway.sent[-1].coding == 2


async def test_the_followup_call_gets_no_sms_and_takes_no_sms_answers(
        store: SQLiteStore, sender: SmsSender, gateway: FakeGateway) -> None:
    from ivr.cases import CaseAction, CaseStatus

    tx = await add(store, "A", status="unreachable", language="ur")
    await inbox.receive(SmsStore(store), NUMBER, "2 1", NOW, 3 * 86400)  # a bribe, by SMS
    await store.change_case(tx, "user:o", CaseStatus.UNDER_REVIEW, None, None, "", NOW)
    await store.change_case(tx, "user:o", CaseStatus.ACTION_TAKEN, CaseAction.WARNING, None,
                            "", NOW, followup_at=NOW + timedelta(minutes=30))
    followup = await value(store, "SELECT id FROM transactions WHERE followup_of = ?", (tx,))
    # Due within the notice lead, never called, pending: a visit would get a notice.
    await sender.step(NOW + timedelta(minutes=1))
    assert await states(store, followup) == {}
    assert "outcome" in await states(store, tx)  # the report's outcome SMS goes
    # The follow-up is open, yet a digit by SMS is not an answer to it.
    assert await inbox.receive(SmsStore(store), NUMBER, "1", NOW, 3 * 86400) == "text"
    assert await value(store, "SELECT COUNT(*) FROM answers WHERE transaction_id = ?",
                       (followup,)) == 0


async def test_delivery_reports_only_move_a_message_forward(store: SQLiteStore,
                                                            sender: SmsSender) -> None:
    tx = await add(store, "A", status="unreachable")
    await sender.step(NOW)
    sms = SmsStore(store)
    mid = (await sms.messages_of(tx))[0]["id"]
    assert await sms.report(mid, 1, "delivered", "", NOW) == "delivered"
    assert await sms.report(mid, 8, "sent", "ACK/", NOW) == "delivered"  # late, out of order
    assert await sms.report(mid, 2, "failed", "", NOW) == "delivered"  # final stays final
    with pytest.raises(Exception, match="no message 999"):
        await sms.report(999, 1, "delivered", "", NOW)


async def test_replies_fill_the_most_recent_open_transaction(store: SQLiteStore) -> None:
    sms = SmsStore(store)
    old = await add(store, "old", ago=2 * 86400, status="unreachable")
    mid = await add(store, "mid", ago=86400, status="unreachable")
    await add(store, "new", ago=3600, status="completed")
    assert await inbox.receive(sms, NUMBER, "4", NOW, 3 * 86400) == "answer"
    assert await sms.unanswered(mid) == ["bribe"] and await sms.unanswered(old) == [
        "rating", "bribe"]
    assert await inbox.receive(sms, NUMBER, "2", NOW, 3 * 86400) == "answer"
    row = await store.transaction("DC Office", "mid")
    assert row is not None and row.status.value == "completed"
    assert await inbox.receive(sms, NUMBER, "5 2", NOW, 3 * 86400) == "answer"  # now: old
    assert await sms.unanswered(old) == []
    # Nothing open any more: digits go to the queue, as text
    assert await inbox.receive(sms, NUMBER, "3", NOW, 3 * 86400) == "text"
    assert [r["text"] for r in await sms.replies()] == ["3"]
    # A number with no transaction at all
    assert await inbox.receive(sms, "+923331112223", "hello", NOW, 3 * 86400) == "text"


async def test_a_digit_that_fits_no_question_goes_to_the_queue(store: SQLiteStore) -> None:
    sms = SmsStore(store)
    tx = await add(store, "A", status="unreachable")
    assert await inbox.receive(sms, NUMBER, "9", NOW, 3 * 86400) == "text"
    assert await sms.unanswered(tx) == ["rating", "bribe"]


async def test_stop_puts_the_number_on_the_dnc_list_and_drops_queued_messages(
        store: SQLiteStore) -> None:
    sms = SmsStore(store)
    tx = await add(store, "A", status="unreachable")
    await sms.plan(NOW, notice_lead=3600, max_age=86400)
    assert await inbox.receive(sms, NUMBER, "بند", NOW, 86400) == "stop"
    assert [d["number"] for d in await store.dnc_list()] == [NUMBER]
    assert await states(store, tx) == {"survey": "failed"}


async def test_metrics_show_messages_failures_per_operator_and_replies(
        store: SQLiteStore, sender: SmsSender, gateway: FakeGateway) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from ivr.sms.metrics import SmsGauges

    await add(store, "A", status="unreachable")
    await add(store, "B", status="unreachable", number="+923331234567")
    await sender.step(NOW)
    sms = SmsStore(store)
    await sms.report(2, 16, "failed", "NACK/", NOW)
    await inbox.receive(sms, "+923001234567", "hello", NOW, 86400)
    registry = CollectorRegistry()
    gauges = SmsGauges(registry)
    await gauges.refresh(store)
    text = generate_latest(registry).decode()
    assert 'rabta_sms_messages{kind="survey",state="sent"} 1.0' in text
    assert 'rabta_sms_messages{kind="survey",state="failed"} 1.0' in text
    assert 'rabta_sms_failed_by_operator{operator="ufone"} 1.0' in text
    assert 'rabta_sms_inbound{kind="text"} 1.0' in text
    assert "rabta_sms_replies_uncategorised 1.0" in text


async def test_a_number_put_on_the_dnc_list_after_planning_gets_nothing(
        store: SQLiteStore, sender: SmsSender, gateway: FakeGateway) -> None:
    tx = await add(store, "A", status="unreachable")
    await SmsStore(store).plan(NOW, notice_lead=3600, max_age=86400)
    await store.dnc_add([NUMBER], "admin", NOW)  # e.g. `rabta dnc add`, between two rounds
    assert await sender.step(NOW) == 0
    assert gateway.sent == [] and await states(store, tx) == {"survey": "failed"}


async def test_replies_of_one_citizen_arriving_at_once_make_one_sms_attempt(store: SQLiteStore) -> None:
    # On PostgreSQL each request has its own connection: without the row lock two replies
    # of one citizen would each make an `sms` attempt. Repeated: a race does not show every
    # time.
    sms = SmsStore(store)
    for round_ in range(5):
        tx = await add(store, f"R{round_}", status="unreachable")
        await asyncio.gather(*(sms.record_answers(tx, NUMBER, str(k), [("rating", str(k))], NOW)
                               for k in range(1, 5)))
        assert await value(store, "SELECT COUNT(*) FROM attempts WHERE transaction_id = ? "
                                  "AND node = 'sms'", (tx,)) == 1
        assert await value(store, "SELECT COUNT(*) FROM answers WHERE transaction_id = ?",
                           (tx,)) == 1


async def test_drain_hands_over_what_the_last_calls_made_due_and_stops_while_the_gateway_is_down(
        store: SQLiteStore, sender: SmsSender, gateway: FakeGateway) -> None:
    done = await add(store, "A", status="completed")
    gateway.fail = GatewayDown("kannel restarting")
    assert await sender.drain() == 0  # the gateway is down: nothing went, nothing lost
    assert await states(store, done) == {"thanks": "queued"}
    gateway.fail = None
    sender.clock = lambda: NOW + timedelta(seconds=31)  # past sms_retry_delay
    sender.start()  # the engine's loop is running when an until-idle run ends
    assert await sender.drain() == 1
    assert await states(store, done) == {"thanks": "sent"}
    assert sender._task is None  # the loop is stopped, not left to race the close

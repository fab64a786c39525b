"""Kannel's callbacks and the replies queue over HTTP: forged or malformed posts change nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from storehelpers import sql
from web_support import NOW, Clock, add_user, signed_in, start_client

from ivr.accounts import Role
from ivr.config import Settings
from ivr.models import Transaction
from ivr.store import SQLiteStore
from ivr.store.sms import SmsStore

pytest_plugins = ["web_fixtures"]
pytestmark = pytest.mark.both_backends  # the store tests run on SQLite and PostgreSQL

SECRET = "s3cretS3cretS3cret42"
NUMBER = "+923001234567"


@pytest.fixture
async def sms_client(store: SQLiteStore, web_settings: Settings, clock: Clock) -> Any:
    async with start_client(store, web_settings, clock, sms_secret=SECRET) as c:
        yield c


async def _tx(store: SQLiteStore) -> int:
    tx = Transaction(office="O", ref="R", name="", mobile=NUMBER, service="domicile",
                     district="Lahore", official="", visited_at=NOW - timedelta(hours=3))
    await store.add_transactions([tx], NOW)
    await store._tx([("UPDATE transactions SET status = 'unreachable'", ())])
    got = await store.transaction("O", "R")
    assert got is not None and got.id is not None
    return got.id


async def _sent_message(store: SQLiteStore) -> int:
    tx = await _tx(store)
    sms = SmsStore(store)
    await sms.queue(tx, "survey", NOW, NOW + timedelta(days=1))
    mid = (await sms.messages_of(tx))[0]["id"]
    assert await sms.start_sending(mid, "x", 1, "jazz", NOW, from_state="queued")
    await sms.sent(mid, NOW)
    return int(mid)


async def _snapshot(store: SQLiteStore) -> tuple[Any, ...]:
    out = []
    for table in ("sms_messages", "sms_reports", "sms_inbound", "answers", "dnc"):
        out.append(await sql(store, f"SELECT * FROM {table} ORDER BY 1"))
    return tuple(out)


async def test_a_delivery_report_changes_the_state(sms_client: TestClient[Any, Any],
                                                   store: SQLiteStore) -> None:
    mid = await _sent_message(store)
    r = await sms_client.get("/sms/kannel/dlr", params={"secret": SECRET, "id": str(mid),
                                                        "status": "1", "answer": ""})
    assert r.status == 200 and await r.text() == "ok delivered\n"
    assert (await SmsStore(store).message(mid) or {})["state"] == "delivered"


@pytest.mark.parametrize(("params", "status", "says"), [
    ({"id": "1", "status": "1"}, 403, "secret"),                       # forged: no secret
    ({"secret": "guess", "id": "1", "status": "1"}, 403, "secret"),
    ({"secret": SECRET, "status": "1"}, 400, "id"),
    ({"secret": SECRET, "id": "x", "status": "1"}, 400, "id"),
    ({"secret": SECRET, "id": "1"}, 400, "status"),
    ({"secret": SECRET, "id": "1", "status": "3"}, 400, "DLR type"),
    ({"secret": SECRET, "id": "999", "status": "1"}, 404, "no message 999"),
    ({"secret": SECRET, "id": "１", "status": "1"}, 400, "id"),           # full-width digit
])
async def test_a_bad_delivery_report_is_refused_and_changes_nothing(
        sms_client: TestClient[Any, Any], store: SQLiteStore, params: dict[str, str],
        status: int, says: str) -> None:
    await _sent_message(store)
    before = await _snapshot(store)
    r = await sms_client.get("/sms/kannel/dlr", params=params)
    assert r.status == status and says in await r.text()
    assert await _snapshot(store) == before


async def test_an_inbound_answer_is_recorded(sms_client: TestClient[Any, Any],
                                             store: SQLiteStore) -> None:
    tx = await _tx(store)
    r = await sms_client.post(f"/sms/kannel/inbound?secret={SECRET}&from=923001234567",
                              data=b"4 1", headers={"Content-Type": "text/plain"})
    assert r.status == 200 and await r.text() == "ok answer\n"
    assert await SmsStore(store).unanswered(tx) == []


@pytest.mark.parametrize(("query", "body", "ctype", "status", "says"), [
    ("from=923001234567", b"4", "text/plain", 403, "secret"),
    (f"secret=x{SECRET}&from=923001234567", b"4", "text/plain", 403, "secret"),
    (f"secret={SECRET}", b"4", "text/plain", 400, "from"),
    (f"secret={SECRET}&from=12", b"4", "text/plain", 400, "from"),
    (f"secret={SECRET}&from=923001234567", b"\xff\xfe\xfa", "text/plain; charset=utf-8", 400,
     "not valid utf-8"),
    (f"secret={SECRET}&from=923001234567", b"4", "text/plain; charset=klingon", 400,
     "unknown charset"),
    (f"secret={SECRET}&from=923001234567", b"   ", "text/plain", 400, "empty"),
    (f"secret={SECRET}&from=923001234567", b"x" * 9000, "text/plain", 413, "8192"),
])
async def test_a_bad_inbound_post_is_refused_and_changes_nothing(
        sms_client: TestClient[Any, Any], store: SQLiteStore, query: str, body: bytes,
        ctype: str, status: int, says: str) -> None:
    await _tx(store)
    before = await _snapshot(store)
    r = await sms_client.post(f"/sms/kannel/inbound?{query}", data=body,
                              headers={"Content-Type": ctype})
    assert r.status == status and says in await r.text()
    assert await _snapshot(store) == before


async def test_without_a_configured_secret_every_callback_is_refused(
        client: TestClient[Any, Any], store: SQLiteStore) -> None:
    r = await client.get("/sms/kannel/dlr", params={"secret": "", "id": "1", "status": "1"})
    assert r.status == 403


async def test_officials_categorise_free_text_replies(sms_client: TestClient[Any, Any],
                                                      store: SQLiteStore) -> None:
    await _tx(store)
    r = await sms_client.post(f"/sms/kannel/inbound?secret={SECRET}&from=923001234567",
                              data="کلرک نے پیسے مانگے".encode(),
                              headers={"Content-Type": "text/plain; charset=utf-8"})
    assert await r.text() == "ok text\n"
    await add_user(store, "dept", Role.DEPARTMENT)
    await signed_in(sms_client, "dept")
    assert (await sms_client.get("/sms/replies")).status == 200  # scoped: not this one
    await sms_client.post("/logout", data={}, allow_redirects=False)
    await add_user(store, "over", Role.OVERSIGHT)
    sms_client.session.cookie_jar.clear()
    token = await signed_in(sms_client, "over")
    page = await sms_client.get("/sms/replies")
    html = await page.text()
    assert page.status == 200 and "کلرک نے پیسے مانگے" in html and "+92300*****67" in html
    reply_id = (await SmsStore(store).replies())[0]["id"]
    bad = await sms_client.post(f"/sms/replies/{reply_id}",
                                data={"csrf_token": token, "category": "nonsense"})
    assert bad.status == 400
    ok = await sms_client.post(f"/sms/replies/{reply_id}",
                               data={"csrf_token": token, "category": "complaint"},
                               allow_redirects=False)
    assert ok.status == 303
    assert (await SmsStore(store).replies())[0]["category"] == "complaint"
    forged = await sms_client.post(f"/sms/replies/{reply_id}", data={"category": "praise"})
    assert forged.status == 403  # no CSRF token


async def test_the_case_page_shows_each_sms_and_its_state(sms_client: TestClient[Any, Any],
                                                          store: SQLiteStore) -> None:
    tx = await _tx(store)
    sms = SmsStore(store)
    await sms.record_answers(tx, NUMBER, "4 1", [("rating", "4"), ("bribe", "1")], NOW)
    await sms.queue(tx, "case", NOW, NOW + timedelta(days=1))
    await add_user(store, "over", Role.OVERSIGHT)
    await signed_in(sms_client, "over")
    page = await sms_client.get(f"/cases/{tx}")
    html = await page.text()
    assert page.status == 200 and 'id="sms"' in html
    assert "<td>case</td>" in html and "status-queued" in html


async def _reply(sms_client: TestClient[Any, Any], text: str, number: str = NUMBER) -> str:
    r = await sms_client.post(f"/sms/kannel/inbound?secret={SECRET}&from={number[1:]}",
                              data=text.encode(),
                              headers={"Content-Type": "text/plain; charset=utf-8"})
    return await r.text()


async def test_an_official_opens_a_case_from_a_reply_in_scope_audited(
        sms_client: TestClient[Any, Any], store: SQLiteStore) -> None:
    tx = await _tx(store)  # Lahore, domicile
    assert await _reply(sms_client, "کلرک اب بھی پیسے مانگتا ہے") == "ok text\n"
    assert await _reply(sms_client, "who is this?", "+923009999999") == "ok text\n"
    sms = SmsStore(store)
    by_text = {r["text"]: r for r in await sms.replies()}
    linked, unlinked = by_text["کلرک اب بھی پیسے مانگتا ہے"], by_text["who is this?"]
    assert linked["transaction_id"] == tx and unlinked["transaction_id"] is None
    assert await store.bribe_report(tx) is None  # no bribe answer: not a report yet

    # Another district's official sees neither reply, and cannot open a case on it (404).
    await add_user(store, "multan", Role.DISTRICT, ("Multan",))
    token = await signed_in(sms_client, "multan")
    page = await (await sms_client.get("/sms/replies")).text()
    assert "پیسے" not in page and "who is this" not in page
    r = await sms_client.post(f"/sms/replies/{linked['id']}/case",
                              data={"csrf_token": token}, allow_redirects=False)
    assert r.status == 404 and await store.bribe_report(tx) is None
    sms_client.session.cookie_jar.clear()

    # Lahore's official sees the linked one, and opens a case on it.
    await add_user(store, "lahore", Role.DISTRICT, ("Lahore",))
    token = await signed_in(sms_client, "lahore")
    page = await (await sms_client.get("/sms/replies")).text()
    assert "پیسے" in page and "who is this" not in page and "Open a case" in page
    forged = await sms_client.post(f"/sms/replies/{linked['id']}/case", data={},
                                   allow_redirects=False)
    assert forged.status == 403 and await store.bribe_report(tx) is None  # no CSRF token
    r = await sms_client.post(f"/sms/replies/{linked['id']}/case",
                              data={"csrf_token": token}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == f"/cases/{tx}"
    report = await store.bribe_report(tx)
    assert report is not None and (report["case_status"], report["owner"]) == ("new", "lahore")
    assert "کلرک اب بھی پیسے مانگتا ہے" in report["events"][0]["note"]
    # Opening again links to the same case, nothing new; both are audited.
    r = await sms_client.post(f"/sms/replies/{linked['id']}/case",
                              data={"csrf_token": token}, allow_redirects=False)
    assert r.status == 303 and len((await store.bribe_report(tx) or {})["events"]) == 1
    audit = [(e["action"], e["actor"], e["detail"]) for e in await store.audit_entries()
             if e["action"] in ("case_open", "case_link")]
    assert sorted(audit, key=str) == sorted([
        ("case_open", "user:lahore", {"transaction": tx, "case": report["case_id"],
                                      "reply": linked["id"]}),
        ("case_link", "user:lahore", {"transaction": tx, "case": report["case_id"],
                                      "reply": linked["id"]})], key=str)
    page = await (await sms_client.get("/sms/replies")).text()
    assert f'href="/cases/{tx}"' in page
    sms_client.session.cookie_jar.clear()

    # Oversight sees the unmatched one too; a case on it is refused with the reason (409).
    await add_user(store, "over", Role.OVERSIGHT)
    token = await signed_in(sms_client, "over")
    r = await sms_client.post(f"/sms/replies/{unlinked['id']}/case",
                              data={"csrf_token": token}, allow_redirects=False)
    assert r.status == 409 and "matched to no visit" in await r.text()
    r = await sms_client.post("/sms/replies/99999/case", data={"csrf_token": token},
                              allow_redirects=False)
    assert r.status == 404


async def test_the_overview_counts_sms_sent_and_replies_today(
        store: SQLiteStore, web_settings: Settings, clock: Clock) -> None:
    await _sent_message(store)  # one sent, today
    async with start_client(store, web_settings, clock, sms_secret=SECRET,
                            sms_url="http://127.0.0.1:9/cgi-bin/sendsms",
                            sms_callback_url="http://127.0.0.1:8080") as c:
        assert await _reply(c, "4") == "ok answer\n"
        assert await _reply(c, "thank you", "+923009999999") == "ok text\n"
        await add_user(store, "over", Role.OVERSIGHT)
        await signed_in(c, "over")
        data = await (await c.get("/api/v1/overview")).json()
        assert (data["sms_sent"], data["sms_replied"]) == (1, 2)
        page = await (await c.get("/overview")).text()
        assert 'data-field="sms_sent"' in page and 'data-field="sms_replied"' in page
        c.session.cookie_jar.clear()
        await add_user(store, "multan", Role.DISTRICT, ("Multan",))
        await signed_in(c, "multan")
        data = await (await c.get("/api/v1/overview")).json()
        assert (data["sms_sent"], data["sms_replied"]) == (0, 0)  # Lahore's SMS, not theirs
    # Without SMS configured, the overview has no SMS tiles.
    async with start_client(store, web_settings, clock) as c:
        await signed_in(c, "over")
        assert "sms_sent" not in await (await c.get("/api/v1/overview")).json()

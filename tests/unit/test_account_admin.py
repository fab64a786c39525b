"""Accounts in the browser: the scope checked against the data ("did you mean"), add, change,
disable, own password, the one-time reset link, the audit, and hostile input: on SQLite and
PostgreSQL (the store's part) and through the web app in-process."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from web_support import (
    NOW,
    OFFICE,
    PASSWORD,
    Clock,
    add_user,
    csrf_in,
    login,
    signed_in,
    start_client,
    visits,
)

from ivr.accounts import (
    RESET_TTL,
    Role,
    check_scope_known,
    hash_password,
    parse_role,
    reset_usable,
    scope_from_fields,
    token_hash,
    verify_password,
)
from ivr.config import Settings
from ivr.errors import InputError, UnknownScope
from ivr.store import SQLiteStore

pytestmark = pytest.mark.both_backends
pytest_plugins = ["web_fixtures"]

Client = TestClient[Any, Any]
NEW_PASSWORD = "a brand new passphrase"
KNOWN = ["Lahore", "Multan", "Faisalabad", "Rawalpindi"]


# ---------------------------------------------------------------------------- pure rules


@pytest.mark.parametrize(("given", "expected"), [
    ("Lahore", ("Lahore",)), ("lahore", ("Lahore",)), ("  LAHORE ", ("Lahore",))])
def test_a_known_name_takes_the_data_spelling(given: str, expected: tuple[str, ...]) -> None:
    assert check_scope_known(Role.DISTRICT, (given,), KNOWN) == expected


@pytest.mark.parametrize(("given", "suggestion"), [
    ("Lahroe", "Lahore"), ("Multn", "Multan"), ("Faisalbad", "Faisalabad"), ("Karachi", None)])
def test_an_unknown_name_is_refused_with_the_closest_known(given: str,
                                                           suggestion: str | None) -> None:
    with pytest.raises(UnknownScope) as caught:
        check_scope_known(Role.DISTRICT, (given,), KNOWN)
    assert caught.value.suggestion == suggestion
    assert caught.value.kind == "district" and caught.value.value == given
    if suggestion:
        assert f"did you mean {suggestion}?" in str(caught.value)


def test_a_new_name_passes_only_on_purpose_and_only_if_no_known_one_is_close() -> None:
    assert check_scope_known(Role.DISTRICT, ("Chiniot",), KNOWN, allow_new=True) == ("Chiniot",)
    with pytest.raises(UnknownScope, match="did you mean Lahore"):
        check_scope_known(Role.DISTRICT, ("Lahroe",), KNOWN, allow_new=True)
    with pytest.raises(UnknownScope):
        check_scope_known(Role.DISTRICT, ("Chiniot",), KNOWN)
    assert check_scope_known(Role.OVERSIGHT, (), []) == ()  # no scope, nothing to check


def test_scope_fields_mirror_the_cli_flags() -> None:
    assert scope_from_fields(Role.DEPARTMENT, {"service": ["A", " B", ""], "district": [""]}) \
        == ("A", "B")
    with pytest.raises(InputError, match="a district does not apply to role department"):
        scope_from_fields(Role.DEPARTMENT, {"service": ["A"], "district": ["Lahore"]})
    with pytest.raises(InputError, match="needs a office"):
        scope_from_fields(Role.DATAENTRY, {"office": [""]})
    with pytest.raises(InputError, match="not a role"):
        parse_role("root")


def test_a_reset_token_works_until_it_expires_or_is_used() -> None:
    assert reset_usable(NOW + RESET_TTL, None, NOW)
    assert not reset_usable(NOW, None, NOW)
    assert not reset_usable(NOW + RESET_TTL, NOW, NOW)


# ---------------------------------------------------------------------------- store


async def test_known_scope_reads_the_data_by_loose_index_scan(store: SQLiteStore) -> None:
    assert await store.known_scope("district") == []
    await visits(store, districts=("Multan", "Lahore", "Chiniot"), services=("Police",))
    assert await store.known_scope("district") == ["Chiniot", "Lahore", "Multan"]
    assert await store.known_scope("service") == ["Police"]
    assert OFFICE in await store.known_scope("office")


async def test_a_reset_token_is_spent_once_and_ends_every_session(store: SQLiteStore) -> None:
    uid = await add_user(store, "amna", Role.DISTRICT, ("Lahore",))
    await store.create_session("s1", uid, "c", NOW, NOW + timedelta(hours=8))
    await store.create_reset(token_hash("t1"), uid, "user:boss", NOW, NOW + RESET_TTL)
    await store.create_reset(token_hash("t2"), uid, "user:boss", NOW, NOW + RESET_TTL)
    assert await store.reset_account(token_hash("t1"), NOW) is None  # replaced by the newer
    assert (await store.reset_account(token_hash("t2"), NOW)).username == "amna"  # type: ignore[union-attr]
    assert await store.use_reset(token_hash("t2"), hash_password(NEW_PASSWORD),
                                 NOW + RESET_TTL) is None  # expired
    user = await store.use_reset(token_hash("t2"), hash_password(NEW_PASSWORD), NOW)
    assert user is not None and verify_password(user.password_hash, NEW_PASSWORD)
    assert await store.session("s1", NOW) is None
    assert await store.use_reset(token_hash("t2"), hash_password("x" * 12), NOW) is None
    rows = await store.db.fetch("SELECT token_hash FROM password_resets")
    assert [r[0] for r in rows] == [token_hash("t2")]  # only the hash is kept


async def test_disabling_ends_sessions_and_reset_links(store: SQLiteStore) -> None:
    uid = await add_user(store, "amna", Role.DISTRICT, ("Lahore",))
    await store.create_session("s1", uid, "c", NOW, NOW + timedelta(hours=8))
    await store.create_reset(token_hash("t"), uid, "user:boss", NOW, NOW + RESET_TTL)
    assert await store.set_user_disabled(uid, True)
    assert await store.session("s1", NOW) is None
    assert await store.reset_account(token_hash("t"), NOW) is None
    assert not await store.set_user_disabled(9999, True)


async def test_own_password_change_keeps_only_the_asking_session(store: SQLiteStore) -> None:
    uid = await add_user(store, "amna", Role.DISTRICT, ("Lahore",))
    for name in ("here", "elsewhere"):
        await store.create_session(name, uid, "c", NOW, NOW + timedelta(hours=8))
    await store.change_password(uid, hash_password(NEW_PASSWORD), keep_session="here")
    assert await store.session("here", NOW) is not None
    assert await store.session("elsewhere", NOW) is None


async def test_account_history_finds_entries_by_and_about_an_account(store: SQLiteStore) -> None:
    await store.audit("user:boss", "user_add", {"username": "a_b", "role": "district"}, NOW)
    await store.audit("user:boss", "user_add", {"username": "axb"}, NOW)  # _ is no wildcard
    await store.audit("user:a_b", "login_ok", {}, NOW)
    assert [e["action"] for e in await store.account_history("a_b")] == ["login_ok", "user_add"]


# ---------------------------------------------------------------------------- web


async def _admin(client: Client, store: SQLiteStore) -> str:
    await visits(store)
    await add_user(store, "boss", Role.OVERSIGHT)
    return await signed_in(client, "boss")


async def _add(client: Client, csrf: str, **fields: str) -> Any:
    data = {"csrf_token": csrf, "username": "amna", "role": "district",
            "password": PASSWORD, **fields}
    return await client.post("/accounts", data=data, allow_redirects=False)


async def test_admin_adds_an_account_typo_first(client: Client, store: SQLiteStore) -> None:
    csrf = await _admin(client, store)
    refused = await _add(client, csrf, district="Lahroe")
    html = await refused.text()
    assert refused.status == 422
    assert "Did you mean Lahore?" in html
    assert 'value="Lahroe"' in html and PASSWORD not in html  # kept, but never the password
    assert await store.user_by_name("amna") is None
    added = await _add(client, csrf, district="Lahore")
    assert added.status == 303
    page = await client.get(added.headers["Location"])
    assert "The account was added." in await page.text()
    user = await store.user_by_name("amna")
    assert user is not None and user.scope == ("Lahore",)
    listing = await (await client.get("/accounts")).text()
    assert "amna" in listing and "never" in listing
    (entry,) = [e for e in await store.audit_entries() if e["action"] == "user_add"]
    assert entry["actor"] == "user:boss"
    assert entry["detail"] == {"username": "amna", "role": "district", "scope": ["Lahore"]}
    assert PASSWORD not in str(await store.audit_entries())


@pytest.mark.sqlite_only("drives the CLI, whose settings name a SQLite file")
async def test_the_cli_refuses_a_scope_typo_too(tmp_path: Any, store: SQLiteStore) -> None:
    from test_accounts import _cli

    from ivr.store import open_store
    async with await open_store(tmp_path / "t.db") as own:
        await visits(own)
    with pytest.raises(UnknownScope, match="did you mean Lahore"):
        await _cli(tmp_path, "users", "add", "x", "--role", "district", "--district", "Lahroe",
                   "--password-stdin", stdin=PASSWORD)
    out = await _cli(tmp_path, "users", "add", "x", "--role", "district", "--district",
                     "lahore", "--password-stdin", stdin=PASSWORD)
    assert "results of all services in Lahore" in out


async def test_admin_changes_role_and_scope_and_the_session_follows(
        client: Client, store: SQLiteStore, web_settings: Settings, clock: Clock) -> None:
    csrf = await _admin(client, store)
    uid = await add_user(store, "amna", Role.DISTRICT, ("Lahore",))
    async with start_client(store, web_settings, clock) as other:
        await signed_in(other, "amna")
        assert (await other.get("/results?district=Multan")).status == 200
        refused = await client.post(f"/accounts/{uid}", data={
            "csrf_token": csrf, "role": "department", "district": "Lahore"},
            allow_redirects=False)
        assert refused.status == 422
        assert "a district does not apply to role department" in await refused.text()
        changed = await client.post(f"/accounts/{uid}", data={
            "csrf_token": csrf, "role": "department", "service": "domicile, Pension"},
            allow_redirects=False)
        assert changed.status == 303
        user = await store.user_by_id(uid)
        assert user is not None and user.role is Role.DEPARTMENT
        assert user.scope == ("Domicile", "Pension")
        home = await (await other.get("/")).text()
        assert "department" in home  # the open session sees the new role at once
        disabled = await client.post(f"/accounts/{uid}/disable", data={"csrf_token": csrf},
                                     allow_redirects=False)
        assert disabled.status == 303
        assert (await other.get("/", allow_redirects=False)).status == 302  # signed out
    (change, *_) = [e for e in await store.audit_entries() if e["action"] == "user_change"]
    assert change["detail"] == {"username": "amna", "disabled": [False, True]}
    first = [e for e in await store.audit_entries() if e["action"] == "user_change"][-1]
    assert first["detail"]["role"] == ["district", "department"]
    assert first["detail"]["scope"] == [["Lahore"], ["Domicile", "Pension"]]
    page = await (await client.get(f"/accounts/{uid}")).text()
    assert "user_change" in page  # the account's history, on its page


async def test_an_admin_cannot_lock_themselves_out(client: Client, store: SQLiteStore) -> None:
    csrf = await _admin(client, store)
    boss = await store.user_by_name("boss")
    assert boss is not None
    for path, data in ((f"/accounts/{boss.id}/disable", {}),
                       (f"/accounts/{boss.id}", {"role": "district", "district": "Lahore"}),
                       (f"/accounts/{boss.id}/reset", {})):
        response = await client.post(path, data={"csrf_token": csrf, **data},
                                     allow_redirects=False)
        assert response.status == 422, path
    after = await store.user_by_name("boss")
    assert after is not None and after.role is Role.OVERSIGHT and not after.disabled


async def test_own_password_change(client: Client, store: SQLiteStore, web_settings: Settings,
                                   clock: Clock) -> None:
    await add_user(store, "amna", Role.DISTRICT, ("Lahore",))
    async with start_client(store, web_settings, clock) as elsewhere:
        await signed_in(elsewhere, "amna")
        csrf = await signed_in(client, "amna")
        form = await client.get("/account/password")
        assert form.status == 200
        for current, new, again, message in (
                ("wrong password!", NEW_PASSWORD, NEW_PASSWORD, "the current password is wrong"),
                (PASSWORD, "short", "short", "too short"),
                (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x", "the two new passwords differ")):
            refused = await client.post("/account/password", data={
                "csrf_token": csrf, "current": current, "new": new, "again": again},
                allow_redirects=False)
            assert refused.status == 422 and message in await refused.text()
        no_csrf = await client.post("/account/password", data={
            "current": PASSWORD, "new": NEW_PASSWORD, "again": NEW_PASSWORD},
            allow_redirects=False)
        assert no_csrf.status == 403
        ok = await client.post("/account/password", data={
            "csrf_token": csrf, "current": PASSWORD, "new": NEW_PASSWORD,
            "again": NEW_PASSWORD}, allow_redirects=False)
        assert ok.status == 303
        assert "Your password is changed." in await (await client.get(ok.headers["Location"])).text()
        assert (await client.get("/", allow_redirects=False)).status == 200  # this one stays
        assert (await elsewhere.get("/", allow_redirects=False)).status == 302  # the other ends
    user = await store.user_by_name("amna")
    assert user is not None and verify_password(user.password_hash, NEW_PASSWORD)
    actions = [e["action"] for e in await store.audit_entries()]
    assert "password_change" in actions and "password_change_refused" in actions
    assert NEW_PASSWORD not in str(await store.audit_entries())


_LINK = re.compile(r"(https?://[^/]+)?(/reset\?token=[A-Za-z0-9_-]+)")


async def test_reset_link_once(client: Client, store: SQLiteStore, web_settings: Settings,
                               clock: Clock) -> None:
    csrf = await _admin(client, store)
    uid = await add_user(store, "amna", Role.DISTRICT, ("Lahore",))
    issued = await client.post(f"/accounts/{uid}/reset", data={"csrf_token": csrf})
    html = await issued.text()
    match = _LINK.search(html)
    assert issued.status == 200 and match, html
    link = match.group(2)
    token = link.split("=", 1)[1]
    assert token not in str(await store.audit_entries())
    async with start_client(store, web_settings, clock) as official:
        await signed_in(official, "amna")  # an old session, which the reset ends
        async with start_client(store, web_settings, clock) as browser:
            page = await browser.get(link)
            assert page.status == 200 and "amna" in await page.text()
            form_csrf = csrf_in(await page.text())
            forged = await browser.post("/reset", data={
                "csrf_token": "forged", "token": token, "new": NEW_PASSWORD,
                "again": NEW_PASSWORD})
            assert forged.status == 403
            done = await browser.post("/reset", data={
                "csrf_token": form_csrf, "token": token, "new": NEW_PASSWORD,
                "again": NEW_PASSWORD})
            assert done.status == 200 and "Your password is set" in await done.text()
            again = await browser.post("/reset", data={
                "csrf_token": form_csrf, "token": token, "new": "yet another passphrase",
                "again": "yet another passphrase"})
            assert again.status == 404  # single use
            assert (await browser.get(link)).status == 404
        assert (await official.get("/", allow_redirects=False)).status == 302
        assert (await login(official, "amna", NEW_PASSWORD)).status == 303
    actions = [e["action"] for e in await store.audit_entries()]
    assert "password_reset_issued" in actions and "password_reset" in actions


async def test_a_reset_link_expires(client: Client, store: SQLiteStore, clock: Clock) -> None:
    csrf = await _admin(client, store)
    uid = await add_user(store, "amna", Role.DISTRICT, ("Lahore",))
    html = await (await client.post(f"/accounts/{uid}/reset", data={"csrf_token": csrf})).text()
    match = _LINK.search(html)
    assert match
    clock.advance(seconds=RESET_TTL.total_seconds() + 1)
    page = await client.get(match.group(2))
    assert page.status == 404 and "not valid" in await page.text()


async def test_the_api_says_did_you_mean_and_adds(client: Client, store: SQLiteStore) -> None:
    csrf = await _admin(client, store)
    headers = {"X-CSRF-Token": csrf}
    body = {"username": "ali", "role": "department", "scope": ["Domicle"], "password": PASSWORD}
    refused = await client.post("/api/v1/accounts", json=body, headers=headers)
    assert refused.status == 422
    assert (await refused.json())["details"] == {"field": "service", "value": "Domicle",
                                                 "did_you_mean": "Domicile"}
    added = await client.post("/api/v1/accounts", json={**body, "scope": ["Domicile"]},
                              headers=headers)
    assert added.status == 201
    account = await added.json()
    assert account["scope"] == ["Domicile"] and "password_hash" not in account
    listing = await (await client.get("/api/v1/accounts")).json()
    assert {a["username"] for a in listing["accounts"]} == {"boss", "ali"}
    assert "Lahore" in listing["known"]["district"]
    changed = await client.post(f"/api/v1/accounts/{account['id']}", json={"disabled": True},
                                headers=headers)
    assert changed.status == 200 and (await changed.json())["state"] == "disabled"
    reset = await client.post(f"/api/v1/accounts/{account['id']}/reset", headers=headers)
    assert reset.status == 422  # disabled: enable first


@pytest.mark.parametrize(("path", "data", "status"), [
    ("/accounts", {"role": "root", "username": "x", "password": PASSWORD}, 422),
    ("/accounts", {"role": "district", "username": "x" * 5000, "password": PASSWORD}, 422),
    ("/accounts", {"role": "district", "username": "x", "district": "L" * 100_000}, 413),
    ("/accounts", {"role": "district", "username": "x", "district": "Lahore\x00"}, 422),
    ("/accounts", {}, 422),
    ("/accounts/99999", {"role": "oversight"}, 404),
    ("/accounts/abc/disable", {}, 404),
    ("/accounts/%C2%B2/enable", {}, 404),
    ("/accounts/99999999999999999999/reset", {}, 404),
    ("/reset", {"token": "nope", "new": "x"}, 404),
])
@pytest.mark.sqlite_only("the edge's parsing, the same on both engines")
async def test_hostile_form_input_is_a_4xx_page(client: Client, store: SQLiteStore, path: str,
                                                data: dict[str, str], status: int) -> None:
    csrf = await _admin(client, store)
    response = await client.post(path, data={"csrf_token": csrf, **data},
                                 allow_redirects=False)
    assert response.status == status, await response.text()
    assert response.content_type == "text/html"


@pytest.mark.parametrize(("path", "body", "status"), [
    ("/api/v1/accounts", {"username": "x", "role": "root", "password": PASSWORD}, 422),
    ("/api/v1/accounts", {"username": 5, "role": "district", "password": PASSWORD}, 422),
    ("/api/v1/accounts", {"username": "x", "role": "district", "scope": "Lahore",
                          "password": PASSWORD}, 422),
    ("/api/v1/accounts", [], 400),
    ("/api/v1/accounts/99999", {"role": "oversight"}, 404),
    ("/api/v1/accounts/1", {"disabled": "yes"}, 422),
    ("/api/v1/account/password", {"current": 1, "new": 2}, 400),
    ("/api/v1/account/password", {"current": "wrong wrong", "new": NEW_PASSWORD}, 422),
])
@pytest.mark.sqlite_only("the edge's parsing, the same on both engines")
async def test_hostile_json_is_a_4xx_json_error(client: Client, store: SQLiteStore, path: str,
                                                body: Any, status: int) -> None:
    csrf = await _admin(client, store)
    response = await client.post(path, json=body, headers={"X-CSRF-Token": csrf})
    assert response.status == status, await response.text()
    assert set(await response.json()) == {"error", "details"}


@pytest.mark.sqlite_only("drives the CLI, whose settings name a SQLite file")
async def test_the_cli_makes_a_reset_link(tmp_path: Any, store: SQLiteStore) -> None:
    from test_accounts import _cli

    from ivr.store import open_store
    async with await open_store(tmp_path / "t.db") as own:
        await add_user(own, "amna", Role.OVERSIGHT)
    out = await _cli(tmp_path, "users", "reset", "amna")
    token = out.strip().rsplit("token=", 1)[1]
    async with await open_store(tmp_path / "t.db") as own:
        user = await own.use_reset(token_hash(token), hash_password(NEW_PASSWORD), NOW)
        assert user is not None and user.username == "amna"
        (entry, *_) = await own.audit_entries()
        assert entry["action"] == "password_reset_issued" and token not in str(entry)
    with pytest.raises(InputError, match="no user 'ghost'"):
        await _cli(tmp_path, "users", "reset", "ghost")


@pytest.mark.sqlite_only("a log filter")
async def test_reset_tokens_stay_out_of_the_access_log(client: Client, store: SQLiteStore,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from ivr.web.accounts import REDACT

    record = logging.LogRecord("aiohttp.access", logging.INFO, __file__, 1,
                               '127.0.0.1 "GET /reset?token=s3cr3t-Tok_en&x=1 HTTP/1.1" 404',
                               (), None)
    assert REDACT.filter(record)
    assert "s3cr3t" not in record.getMessage() and "token=[redacted]&x=1" in record.getMessage()
    assert REDACT in logging.getLogger("aiohttp.access").filters  # installed by the app
    with caplog.at_level(logging.INFO, logger="aiohttp.access"):
        await client.get("/reset?token=s3cr3t-value")
    assert "s3cr3t-value" not in caplog.text


@pytest.mark.sqlite_only("the pages' words")
async def test_the_new_pages_speak_urdu(client: Client, store: SQLiteStore) -> None:
    csrf = await _admin(client, store)
    uid = await add_user(store, "amna", Role.DISTRICT, ("Lahore",))
    client.session.cookie_jar.update_cookies({"rabta_lang": "ur"})
    refused = await _add(client, csrf, username="bilal", district="Lahroe")
    html = await refused.text()
    assert 'dir="rtl"' in html and "کیا آپ کا مطلب Lahore ہے؟" in html
    for path, words in (("/accounts", "نیا اکاؤنٹ بنائیں"), (f"/accounts/{uid}", "کردار اور دائرہ"),
                        ("/account/password", "موجودہ پاس ورڈ"), ("/reset?token=x", "درست نہیں")):
        page = await client.get(path)
        assert words in await page.text(), path

"""Web sign-in: login, lockout, sessions, CSRF, logout, and who may use which route."""

from __future__ import annotations

from typing import Any

import pytest
from accountability_matrix import ACCT_EXPECTED, ACCT_ROUTES
from accounts_matrix import ACCOUNTS_EXPECTED, ACCOUNTS_ROUTES
from aiohttp.test_utils import TestClient, TestServer
from dashboard_matrix import DASHBOARD_EXPECTED, DASHBOARD_ROUTES
from prompts_matrix import PROMPT_EXPECTED, PROMPT_FORMS, PROMPT_JSON, PROMPT_ROUTES
from sms_matrix import SMS_EXPECTED, SMS_ROUTES
from web_support import (
    ITEM,
    OFFICE,
    OTHER_OFFICE,
    PASSWORD,
    Clock,
    add_key,
    add_user,
    csrf_in,
    login,
    session_cookie,
    signed_in,
    start_client,
)

from ivr.accounts import LOCKOUT, Role, token_hash
from ivr.config import Settings
from ivr.store import SQLiteStore

pytest_plugins = ["web_fixtures"]  # client, clock, web_settings, cheap argon2

Client = TestClient[Any, Any]


# ---------------------------------------------------------------------------- login


async def test_login_page_has_a_csrf_field_and_safe_headers(client: Client) -> None:
    page = await client.get("/login")
    assert page.status == 200
    html = await page.text()
    assert csrf_in(html) == client.session.cookie_jar.filter_cookies(
        client.make_url("/login"))["rabta_login"].value
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"


async def test_login_ok_sets_a_strict_session_cookie_and_shows_who_you_are(
        client: Client, store: SQLiteStore) -> None:
    await add_user(store, "amna", Role.DEPARTMENT)
    response = await login(client, "amna")
    assert response.status == 303
    assert response.headers["Location"] == "/overview"  # lands on the overview
    cookie = session_cookie(response).lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    assert "secure" not in cookie.replace("httponly", "")
    home = await client.get("/")
    html = await home.text()
    assert home.status == 200
    assert "amna" in html and "department" in html
    assert "results of Domicile, Pension in all districts" in html
    assert [e["action"] for e in await store.audit_entries()] == ["login_ok"]


async def test_session_cookie_is_secure_when_the_setting_says_so(
        store: SQLiteStore, web_settings: Settings, clock: Clock) -> None:
    await add_user(store, "amna", Role.OVERSIGHT)
    async with start_client(store, web_settings, clock, cookie_secure=True) as c:
        page = await c.get("/login")
        assert "; secure" in page.headers["Set-Cookie"].lower()
        token = csrf_in(await page.text())
        # the test client rightly keeps Secure cookies off plain HTTP: send it as a browser
        # behind HTTPS would
        response = await c.post("/login", data={"csrf_token": token, "username": "amna",
                                                "password": PASSWORD},
                                headers={"Cookie": f"rabta_login={token}"}, allow_redirects=False)
        assert response.status == 303
        assert "; secure" in session_cookie(response).lower()


async def test_session_token_is_random_32_bytes_and_only_its_hash_is_stored(
        client: Client, store: SQLiteStore, clock: Clock) -> None:
    await add_user(store, "amna", Role.OVERSIGHT)
    response = await login(client, "amna")
    token = session_cookie(response).split(";")[0].split("=", 1)[1]
    assert len(token) >= 43  # 32 bytes, URL-safe base64
    assert await store.session(token_hash(token), clock()) is not None
    assert await store.session(token, clock()) is None  # the raw token is not kept


@pytest.mark.parametrize("username,password", [("amna", "wrong password!"),
                                               ("nobody", PASSWORD), ("", PASSWORD)])
async def test_bad_login_is_refused_with_one_generic_message(
        client: Client, store: SQLiteStore, username: str, password: str) -> None:
    await add_user(store, "amna", Role.OVERSIGHT)
    response = await login(client, username, password)
    assert response.status == 401
    html = await response.text()
    assert "Wrong username or password" in html
    assert "rabta_session" not in response.cookies
    assert (await client.get("/", allow_redirects=False)).status == 302


async def test_login_without_the_form_token_is_refused(client: Client, store: SQLiteStore
                                                       ) -> None:
    await add_user(store, "amna", Role.OVERSIGHT)
    await client.get("/login")  # the cookie is set, but the field is missing or wrong
    for data in ({"username": "amna", "password": PASSWORD},
                 {"username": "amna", "password": PASSWORD, "csrf_token": "forged"}):
        response = await client.post("/login", data=data, allow_redirects=False)
        assert response.status == 403
    client.session.cookie_jar.clear()  # and a field without its cookie
    response = await client.post("/login", data={"username": "amna", "password": PASSWORD,
                                                  "csrf_token": "x" * 43},
                                 allow_redirects=False)
    assert response.status == 403


async def test_login_page_escapes_what_it_echoes(client: Client) -> None:
    response = await login(client, "<script>alert(1)</script>")
    html = await response.text()
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;" in html


async def test_lockout_after_five_failures_for_fifteen_minutes(
        client: Client, store: SQLiteStore, clock: Clock) -> None:
    await add_user(store, "amna", Role.OVERSIGHT)
    for _ in range(5):
        assert (await login(client, "amna", "wrong password!")).status == 401
    user = await store.user_by_name("amna")
    assert user is not None and user.locked_until == clock() + LOCKOUT
    # locked: even the right password is refused, and with the same message
    response = await login(client, "amna")
    assert response.status == 401
    assert "Wrong username or password" in await response.text()
    clock.advance(minutes=14, seconds=59)
    assert (await login(client, "amna")).status == 401
    clock.advance(seconds=1)
    assert (await login(client, "amna")).status == 303
    user = await store.user_by_name("amna")
    assert user is not None and (user.failed_logins, user.locked_until) == (0, None)
    reasons = [e["detail"].get("reason") for e in await store.audit_entries()]
    assert reasons.count("wrong_password") == 5 and reasons.count("locked") == 2


async def test_a_good_login_resets_the_failure_count(client: Client, store: SQLiteStore) -> None:
    await add_user(store, "amna", Role.OVERSIGHT)
    for _ in range(4):
        await login(client, "amna", "wrong password!")
    assert (await login(client, "amna")).status == 303
    for _ in range(4):
        await login(client, "amna", "wrong password!")
    assert (await login(client, "amna")).status == 303  # 4 + 4 failures never locked it


async def test_disabled_account_cannot_sign_in_and_loses_its_sessions(
        client: Client, store: SQLiteStore) -> None:
    await add_user(store, "amna", Role.OVERSIGHT)
    await signed_in(client, "amna")
    assert await store.set_user_disabled("amna", True)
    assert (await client.get("/", allow_redirects=False)).status == 302
    assert (await login(client, "amna")).status == 401
    assert await store.set_user_disabled("amna", False)
    assert (await login(client, "amna")).status == 303


# ---------------------------------------------------------------------------- sessions


async def test_session_expires(store: SQLiteStore, clock: Clock,
                               web_settings: Settings) -> None:
    # idle longer than the session: only session_hours ends it here (the idle timeout has
    # its own test, test_web_edge.py)
    async with start_client(store, web_settings, clock, session_idle_minutes=24 * 60) as client:
        await add_user(store, "amna", Role.OVERSIGHT)
        await signed_in(client, "amna")
        clock.advance(hours=web_settings.session_hours, seconds=-1)
        assert (await client.get("/", allow_redirects=False)).status == 200
        clock.advance(seconds=1)
        response = await client.get("/", allow_redirects=False)
        assert response.status == 302
        assert response.headers["Location"] == "/login"
        assert 'rabta_session=""' in session_cookie(response)  # the stale cookie is cleared


async def test_each_login_gets_a_new_session_and_the_old_one_ends(
        client: Client, store: SQLiteStore) -> None:
    await add_user(store, "amna", Role.OVERSIGHT)
    first = session_cookie(await login(client, "amna")).split(";")[0]
    second = session_cookie(await login(client, "amna")).split(";")[0]
    assert first != second
    client.session.cookie_jar.clear()
    old = await client.get("/", headers={"Cookie": first}, allow_redirects=False)
    assert old.status == 302


async def test_logout_needs_the_csrf_token_then_ends_the_session(
        client: Client, store: SQLiteStore) -> None:
    await add_user(store, "amna", Role.OVERSIGHT)
    csrf = await signed_in(client, "amna")
    refused = await client.post("/logout", data={}, allow_redirects=False)
    assert refused.status == 403
    assert "CSRF token missing or wrong" in await refused.text()
    assert (await client.get("/")).status == 200  # still signed in
    refused = await client.post("/logout", data={"csrf_token": "forged"}, allow_redirects=False)
    assert refused.status == 403
    response = await client.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/login"
    assert (await client.get("/", allow_redirects=False)).status == 302
    assert "logout" in [e["action"] for e in await store.audit_entries()]


async def test_csrf_token_of_another_session_is_refused(
        client: Client, store: SQLiteStore, web_settings: Settings, clock: Clock) -> None:
    await add_user(store, "amna", Role.OVERSIGHT)
    await add_user(store, "bilal", Role.OVERSIGHT)
    await signed_in(client, "amna")
    async with start_client(store, web_settings, clock) as other:
        bilal_csrf = await signed_in(other, "bilal")
    response = await client.post("/logout", data={"csrf_token": bilal_csrf},
                                 allow_redirects=False)
    assert response.status == 403


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_every_unsafe_method_with_a_session_needs_the_token(
        client: Client, store: SQLiteStore, method: str) -> None:
    await add_user(store, "amna", Role.OVERSIGHT)
    csrf = await signed_in(client, "amna")
    refused = await client.request(method, "/api/v1/transactions", json=ITEM)
    assert refused.status == 403
    body = await refused.json()
    assert body["error"] == "CSRF token missing or wrong"
    allowed = await client.request(method, "/api/v1/transactions", json=ITEM,
                                   headers={"X-CSRF-Token": csrf})
    assert allowed.status == (201 if method == "POST" else 405)


async def test_api_errors_are_json_even_for_unknown_routes_and_methods(client: Client) -> None:
    missing = await client.get("/api/v1/nope")
    assert missing.status == 404
    assert (await missing.json())["error"] == "Not Found"
    wrong = await client.get("/api/v1/transactions")
    assert wrong.status == 405
    assert "POST" in wrong.headers["Allow"]
    assert set(await wrong.json()) == {"error", "details"}


# ---------------------------------------------------------------------------- who may do what

# Every route this module and the intake API add, by every kind of caller. A cell is the
# status expected; the intake item is for OFFICE.
PRINCIPALS = ["anonymous", *[r.value for r in Role], "dataentry_other_office", "apikey",
              "apikey_other_office", "apikey_revoked", "apikey_bogus"]
USERS = {r.value for r in Role} | {"dataentry_other_office"}
ROUTES = ["GET /login", "POST /login", "GET /", "POST /logout", "POST /api/v1/transactions",
          "GET /api/v1/openapi.json"]
_ANON = {"GET /login": 200, "POST /login": 401, "GET /": 302, "POST /logout": 303,
         "POST /api/v1/transactions": 401, "GET /api/v1/openapi.json": 200}
_USER = {**_ANON, "GET /": 200, "POST /api/v1/transactions": 403}
_KEY = {**_ANON, "POST /api/v1/transactions": 201}
EXPECTED: dict[str, dict[str, int]] = {
    "anonymous": _ANON,
    "oversight": {**_USER, "POST /api/v1/transactions": 201},
    "department": _USER,
    "district": _USER,
    "supervisor": _USER,
    "telephony": _USER,
    "dataentry": {**_USER, "POST /api/v1/transactions": 201},
    "dataentry_other_office": _USER,
    "apikey": _KEY,
    "apikey_other_office": {**_KEY, "POST /api/v1/transactions": 403},
    "apikey_revoked": _ANON,
    "apikey_bogus": _ANON,
}
ROUTES += DASHBOARD_ROUTES + PROMPT_ROUTES + SMS_ROUTES + ACCT_ROUTES + ACCOUNTS_ROUTES
EXPECTED = {p: {**cells, **DASHBOARD_EXPECTED[p], **PROMPT_EXPECTED[p], **SMS_EXPECTED[p],
                **ACCT_EXPECTED[p], **ACCOUNTS_EXPECTED[p]}
            for p, cells in EXPECTED.items()}


async def _as(principal: str, client: Client, store: SQLiteStore) -> dict[str, str]:
    """Become `principal`; return the headers its unsafe requests carry."""
    if principal in USERS:
        role = Role.DATAENTRY if principal == "dataentry_other_office" else Role(principal)
        scope = (OTHER_OFFICE,) if principal == "dataentry_other_office" else None
        await add_user(store, principal, role, scope)
        return {"X-CSRF-Token": await signed_in(client, principal)}
    if principal.startswith("apikey"):
        office = OTHER_OFFICE if principal == "apikey_other_office" else OFFICE
        key = await add_key(store, office)
        if principal == "apikey_revoked":
            (live,) = [k for k in await store.api_keys() if k.revoked_at is None]
            await store.revoke_api_key(live.id, live.created_at)
        if principal == "apikey_bogus":
            key = key[:-4] + "AAAA"
        return {"Authorization": f"Bearer {key}"}
    return {}


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("principal", PRINCIPALS)
async def test_role_endpoint_matrix(client: Client, store: SQLiteStore, principal: str,
                                    route: str) -> None:
    headers = await _as(principal, client, store)
    method, path = route.split(" ")
    path = path.replace("{version}", "999").replace("{id}", "999")  # no such version, reply
    path = path.replace("{name}", "overview.js")  # a static asset (ivr.web.assets)
    path = path.replace("{language}", "ur").replace("{prompt}", "greeting")  # what plays now
    kwargs: dict[str, Any] = {"headers": headers, "allow_redirects": False}
    if route in PROMPT_FORMS:
        kwargs["data"] = {"csrf_token": headers.get("X-CSRF-Token", ""), **PROMPT_FORMS[route]}
    elif route in PROMPT_JSON:
        kwargs["json"] = PROMPT_JSON[route]
    elif route == "POST /api/v1/transactions":
        kwargs["json"] = ITEM
    elif route == "POST /login":
        page = await client.get("/login")
        kwargs["data"] = {"csrf_token": csrf_in(await page.text()), "username": "nobody",
                          "password": "not the password"}
    elif route == "POST /logout":
        kwargs["data"] = {"csrf_token": headers.get("X-CSRF-Token", "")}
    elif route == "POST /export/responses":
        kwargs["data"] = {"csrf_token": headers.get("X-CSRF-Token", ""), "reveal": "1",
                          "format": "csv"}
    response = await client.request(method, path, **kwargs)
    assert response.status == EXPECTED[principal][route], await response.text()
    stored = await store.transaction(OFFICE, ITEM["ref"])
    assert (stored is not None) == (response.status == 201)
    if route == "POST /logout" and principal in USERS:
        assert (await client.get("/", allow_redirects=False)).status == 302  # really ended
    if response.status == 401 and path.startswith("/api/"):
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_matrix_covers_every_role_and_route(client: Client) -> None:
    assert {r.value for r in Role} <= set(EXPECTED)
    from test_cases import CASE_ROUTES  # the cases pages have their own matrix there

    routes = {f"{r.method} {r.resource.canonical}" for r in client.app.router.routes()
              if r.resource is not None and r.method != "HEAD"}
    assert routes == set(ROUTES) | set(CASE_ROUTES)


# ---------------------------------------------------------------------------- the engine's routes


async def test_metrics_and_healthz_are_served_with_an_engine_and_absent_without(
        client: Client, store: SQLiteStore, web_settings: Settings) -> None:
    assert (await client.get("/metrics")).status == 404  # no engine given
    from types import SimpleNamespace

    from ivr.engine import EngineHealth
    from ivr.web.app import create_app

    # /metrics itself is tested against a real engine in tests/integration/test_metrics.py
    up, down = (SimpleNamespace(name="rabta-pbx", connected=True),
                SimpleNamespace(name="other-pbx", connected=False))
    engine = SimpleNamespace(health=lambda: EngineHealth(
        {a.name: a.connected for a in (up, down)}, sessions=0, agi={}))
    app = create_app(web_settings, store, engine)  # type: ignore[arg-type]
    paths = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    assert {"/metrics", "/healthz", "/login", "/api/v1/transactions"} <= paths
    async with TestClient(TestServer(app)) as c:
        assert await (await c.get("/healthz")).json() == {
            "ok": True, "ami_connected": True, "nodes": {"rabta-pbx": True, "other-pbx": False}}
        down.connected = up.connected = False
        assert (await c.get("/healthz")).status == 503
        assert (await c.get("/login")).status == 200  # and the sign-in beside them

"""Helpers for the web tests: a settable clock, an app on a test server, sign-in.

Their fixtures are in web_fixtures.py, loaded with `pytest_plugins = ["web_fixtures"]`.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from ivr.accounts import Role, hash_password, new_api_key, token_hash
from ivr.config import Settings
from ivr.store import SQLiteStore
from ivr.web.app import create_app
from ivr.web.common import CLOCK

NOW = datetime(2024, 5, 2, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
OFFICE = "DC Office Lahore"
OTHER_OFFICE = "DC Office Multan"

ITEM: dict[str, Any] = {
    "ref": "DC-1",
    "name": "Ali Khan",
    "mobile": "0300-1234567",
    "service": "Domicile",
    "office": OFFICE,
    "district": "Lahore",
    "official": "Bilal",
    "visited_at": "2024-05-01T09:00",
    "language": "ur",
}

SCOPES: dict[Role, tuple[str, ...]] = {
    Role.OVERSIGHT: (),
    Role.DEPARTMENT: ("Domicile", "Pension"),
    Role.DISTRICT: ("Lahore",),
    Role.SUPERVISOR: (),
    Role.TELEPHONY: (),
    Role.DATAENTRY: (OFFICE,),
}


class Clock:
    """The app's clock, moved by the test."""

    def __init__(self, at: datetime = NOW) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


class start_client:  # a class named like a function: used as `async with start_client(...)`
    """Serve create_app(settings, store) without an engine; close the client after."""

    def __init__(self, store: SQLiteStore, settings: Settings, clock: Clock, **changes: Any
                 ) -> None:
        app = create_app(replace(settings, **changes) if changes else settings, store)
        app[CLOCK] = clock
        self.client: TestClient[Any, Any] = TestClient(TestServer(app))

    async def __aenter__(self) -> TestClient[Any, Any]:
        await self.client.start_server()
        return self.client

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()


async def add_user(store: SQLiteStore, username: str, role: Role,
                   scope: tuple[str, ...] | None = None, password: str = PASSWORD) -> int:
    user_id = await store.add_user(username, hash_password(password), role,
                                   SCOPES[role] if scope is None else scope, NOW)
    assert user_id is not None
    return user_id


async def add_key(store: SQLiteStore, office: str = OFFICE) -> str:
    key = new_api_key()
    await store.add_api_key(token_hash(key), office, "test", NOW)
    return key


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_in(html: str) -> str:
    match = _CSRF.search(html)
    assert match, html
    return match.group(1)


async def login(client: TestClient[Any, Any], username: str, password: str = PASSWORD
                ) -> ClientResponse:
    """Fill in the login form as a browser would (GET for the form, POST it)."""
    page = await client.get("/login")
    token = csrf_in(await page.text())
    return await client.post("/login", data={"csrf_token": token, "username": username,
                                             "password": password}, allow_redirects=False)


async def signed_in(client: TestClient[Any, Any], username: str) -> str:
    """Sign in and return the session's CSRF token (from the landing page's logout form)."""
    response = await login(client, username)
    assert response.status == 303, await response.text()
    home = await client.get("/")
    assert home.status == 200
    return csrf_in(await home.text())


async def visits(store: SQLiteStore, *, districts: tuple[str, ...] = ("Lahore", "Multan"),
                 services: tuple[str, ...] = ("Domicile", "Pension"),
                 offices: tuple[str, ...] = (OFFICE, OTHER_OFFICE)) -> None:
    """Store one visit per district x service x office, so those names are known to the data
    (an account's scope is checked against them)."""
    from ivr.models import Transaction

    txs = [Transaction(office=o, ref=f"V-{d}-{s}", name="", mobile=f"+92300{i:07d}", service=s,
                       district=d, official="", visited_at=NOW)
           for i, (d, s, o) in enumerate((d, s, o) for d in districts for s in services
                                         for o in offices)]
    await store.add_transactions(txs, NOW, lambda t: NOW)


def session_cookie(response: ClientResponse) -> str:
    """Return the raw Set-Cookie header for the session cookie."""
    for value in response.headers.getall("Set-Cookie", []):
        if value.startswith("rabta_session="):
            return value
    raise AssertionError(f"no session cookie in {response.headers}")

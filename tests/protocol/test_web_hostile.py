"""Hostile input against a real `rabta web` on a real socket: zero 5xx, and every error is JSON
under /api/ and an HTML page elsewhere.

Two drivers, both bounded so the whole file takes a minute or two:
- schemathesis reads the OpenAPI document the server itself serves and throws generated
  requests (valid and not) at every operation, signed in as oversight (an office API key for
  intake);
- hypothesis throws odd ids, queries, headers and bodies at every route of the router,
  pages included (which the OpenAPI document does not describe).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.accounts import Role, hash_password, new_api_key, token_hash
from ivr.store import open_store

PASSWORD = "correct horse battery"
OFFICE = "DC Office Lahore"
ROUTES = [
    ("GET", "/"), ("GET", "/login"), ("POST", "/login"), ("POST", "/logout"),
    ("POST", "/api/v1/transactions"), ("GET", "/api/v1/openapi.json"),
    ("GET", "/results"), ("GET", "/api/v1/results"), ("GET", "/overview"),
    ("GET", "/api/v1/overview"), ("GET", "/export/results.csv"), ("GET", "/export/results.xlsx"),
    ("GET", "/export/responses.csv"), ("GET", "/export/responses.xlsx"),
    ("POST", "/export/responses"), ("GET", "/cases"), ("GET", "/api/v1/cases"),
    ("GET", "/cases/{id}"), ("GET", "/api/v1/cases/{id}"), ("POST", "/cases/{id}"),
    ("POST", "/api/v1/cases/{id}"), ("POST", "/cases/{id}/reveal"),
    ("GET", "/cases/{id}/recordings/{id}"), ("GET", "/reports/actions"),
    ("GET", "/api/v1/reports/actions"), ("GET", "/audit"), ("GET", "/api/v1/audit"),
    ("GET", "/prompts"), ("GET", "/api/v1/prompts"), ("POST", "/prompts"),
    ("GET", "/prompts/versions/{id}/audio"), ("POST", "/prompts/versions/{id}"),
    ("POST", "/api/v1/prompts/versions/{id}"), ("GET", "/static/overview.js"),
    ("GET", "/no/such/page"), ("GET", "/api/v1/no/such/thing"),
    # accounts (ivr/web/accounts.py); the signed-in admin is account 1, whose own role and
    # state the pages refuse to change, so the shared session survives
    ("GET", "/accounts"), ("GET", "/api/v1/accounts"), ("POST", "/accounts"),
    ("POST", "/api/v1/accounts"), ("GET", "/accounts/{id}"), ("GET", "/api/v1/accounts/{id}"),
    ("POST", "/accounts/{id}"), ("POST", "/api/v1/accounts/{id}"),
    ("POST", "/accounts/{id}/disable"), ("POST", "/accounts/{id}/enable"),
    ("POST", "/accounts/{id}/reset"), ("POST", "/api/v1/accounts/{id}/reset"),
    ("GET", "/account/password"), ("POST", "/account/password"),
    ("POST", "/api/v1/account/password"), ("GET", "/reset"), ("POST", "/reset"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _prepare(db: Path, rootfs: Path) -> str:
    sys.path.insert(0, str(Path(__file__).parents[1]))
    from casedata import seed
    from resultsdata import seed_known

    from ivr.web.common import utcnow

    store = await open_store(db)
    try:
        now = utcnow()
        await store.add_user("amna", hash_password(PASSWORD), Role.OVERSIGHT, (), now)
        key = new_api_key()
        await store.add_api_key(token_hash(key), OFFICE, "hostile", now)
        await seed(store, rootfs, now)
        await seed_known(store, now)
    finally:
        await store.close()
    return key


class Served:
    """A `rabta web` process with an oversight account, an office key, reports and results."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.key = asyncio.run(_prepare(home / "rabta.db", home / "cache" / "rootfs"))
        env = {**os.environ, "RABTA_WEB_PORT": str(self.port), "RABTA_CACHE": str(home / "cache"),
               "RABTA_LOGIN_PER_MINUTE_ADDRESS": "100000",
               "RABTA_LOGIN_PER_MINUTE_ACCOUNT": "100000"}
        rabta = Path(sys.executable).parent / "rabta"
        self.log = (home / "web.log").open("w")
        self.proc = subprocess.Popen([str(rabta), "--home", str(home), "web"], env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(self.url + "/login", timeout=2)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise AssertionError((home / "web.log").read_text()) from None
                time.sleep(0.2)
        self.session = requests.Session()
        page = self.session.get(self.url + "/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token
        signed = self.session.post(self.url + "/login", data={
            "csrf_token": token.group(1), "username": "amna", "password": PASSWORD},
            allow_redirects=False)
        assert signed.status_code == 303, signed.text
        home_page = self.session.get(self.url + "/").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', home_page)
        assert csrf
        self.csrf = csrf.group(1)

    def close(self) -> None:
        self.proc.send_signal(signal.SIGINT)  # rabta web stops on Ctrl-C
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()

    def server_errors_logged(self) -> list[str]:
        return [line for line in (self.home / "web.log").read_text().splitlines()
                if "Traceback" in line or " ERROR " in line]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    s = Served(tmp_path_factory.mktemp("hostile"))
    try:
        yield s
    finally:
        s.close()


def _header(response: Any, name: str) -> str:
    value = response.headers.get(name) or response.headers.get(name.lower()) or ""
    return value[0] if isinstance(value, list) else str(value)


def check(response: Any, path: str) -> None:
    """Zero 5xx; an error is JSON {"error", "details"} under /api/ and an HTML page elsewhere."""
    where = f"{response.request.method} {response.request.url} -> {response.status_code}"
    assert response.status_code < 500, where + "\n" + response.text[:500]
    if response.status_code >= 400:
        kind = _header(response, "Content-Type")
        if path.startswith("/api/") and "not valid HTTP" not in response.text:
            # (a request the HTTP parser refuses has no path yet: it gets the HTML 400)
            assert kind.startswith("application/json"), where
            body = response.json()
            assert isinstance(body["error"], str) and isinstance(body["details"], dict), where
        else:
            assert kind.startswith("text/html"), where + " " + kind
    assert "aiohttp" not in _header(response, "Server"), where


# ---------------------------------------------------------------------------- schemathesis


def _hammer(served: Served, operation: Any) -> None:
    """Run generated cases of one operation against the server."""
    @settings(max_examples=int(os.environ.get("RABTA_HOSTILE_EXAMPLES", "150")),
              deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        headers = dict(case.headers or {})
        if operation.path == "/api/v1/transactions":
            headers["Authorization"] = f"Bearer {served.key}"
            response = case.call(base_url=served.url, headers=headers)
        else:
            headers["X-CSRF-Token"] = served.csrf
            headers["Cookie"] = f"rabta_session={served.session.cookies['rabta_session']}"
            headers.pop("Authorization", None)
            response = case.call(base_url=served.url, headers=headers)
        check(response, operation.path)

    run()


def test_schemathesis_finds_no_5xx_and_only_json_errors(served: Served) -> None:
    schema = schemathesis.openapi.from_url(served.url + "/api/v1/openapi.json")
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    # the event stream never ends by design: it is not a request/response operation
    operations = [op for op in operations if not op.path.endswith("/stream")]
    assert len(operations) >= 10
    for operation in operations:
        try:
            _hammer(served, operation)
        except AssertionError as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:2000])
    assert not failures, "\n\n".join(failures)
    assert not served.server_errors_logged()


# ---------------------------------------------------------------------------- hypothesis

_ODD_IDS = st.sampled_from(["1", "2", "0", "²", "١", "-1", "99999999999999999999", "1e3",
                            "%2e%2e", "..", "1%00", "NaN", " 1"])
_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
_DATES = st.sampled_from(["0001-01-01", "9999-12-31", "1000-01-01", "2024-05-01", "2024-13-01",
                          "", "yesterday", "2024-05-01T00:00", "٢٠٢٤-٠٥-٠١"])
_QUERY = st.dictionaries(st.sampled_from(["by", "from", "to", "district", "service", "office",
                                          "official", "page", "status", "actor", "action",
                                          "token", "done"]),
                         st.one_of(_TEXT, _DATES, _ODD_IDS), max_size=5)
_CONTENT_TYPES = st.sampled_from([
    "application/json", "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=bogus", "multipart/form-data",
    "multipart/form-data; boundary=zz", "text/plain", "application/json; charset=latin-1", ""])
_BODIES = st.one_of(
    st.binary(max_size=600),
    st.recursive(st.none() | st.booleans() | st.integers() | _TEXT,
                 lambda inner: st.lists(inner, max_size=3)
                 | st.dictionaries(_TEXT, inner, max_size=3), max_leaves=10).map(
        lambda v: repr(v).encode()),
    st.sampled_from([b"[" * 5000 + b"]" * 5000, b'{"note": "\\ud800"}', b"\xff\xfe\x00",
                     b"csrf_token=x&to=live", b'{"to": "approved"}',
                     b"role=root&username=x&district=Lahroe&password=0123456789",
                     b"role=district&username=" + b"x" * 500 + b"&district=L%00",
                     b'{"role": "department", "scope": ["Lahroe"], "disabled": "yes"}',
                     b"token=abc&new=0123456789&again=0123456789&csrf_token=x"]))
_HEADERS = st.fixed_dictionaries({}, optional={
    "Range": st.sampled_from(["bytes=²-", "bytes=5-1", "bytes=0-0", "bytes=-", "x", "bytes=0-1,2-3"]),
    # control characters the HTTP parser itself refuses (requests will not send CR or LF)
    "Accept-Charset": st.text(st.characters(max_codepoint=126, exclude_characters="\r\n"),
                              max_size=20).map(str.lstrip),
    "If-Modified-Since": st.sampled_from(["yesterday", "Mon, 32 Foo 2024 99:99:99 GMT"]),
})


@settings(max_examples=int(os.environ.get("RABTA_HOSTILE_EXAMPLES", "150")) * 5, deadline=None,
          database=None, suppress_health_check=list(HealthCheck))
@given(route=st.sampled_from(ROUTES), ids=st.lists(_ODD_IDS, min_size=2, max_size=2),
       query=_QUERY, headers=_HEADERS, content_type=_CONTENT_TYPES, body=_BODIES,
       signed_in=st.booleans())
def test_hypothesis_finds_no_5xx_on_any_route(served: Served, route: tuple[str, str],
                                              ids: list[str], query: dict[str, str],
                                              headers: dict[str, str], content_type: str,
                                              body: bytes, signed_in: bool) -> None:
    method, template = route
    path = template.replace("{id}", ids[0], 1).replace("{id}", ids[1], 1)
    send = {k: v for k, v in headers.items()}
    if content_type:
        send["Content-Type"] = content_type
    signed_in = signed_in and path != "/logout"  # the shared session stays signed in
    if signed_in:
        send["X-CSRF-Token"] = served.csrf
    client: Any = served.session if signed_in else requests
    response = client.request(method, served.url + path, params=query, headers=send,
                              data=body if method == "POST" else None, allow_redirects=False,
                              timeout=30)
    check(response, path)


def test_no_tracebacks_were_logged(served: Served) -> None:
    assert not served.server_errors_logged()

"""The web edge under hostile input (issue 10): one test per defect the probe found.

Each of these failed on the code before the fix (checked by stashing it once) and passes
after. The random, many-input side is in test_web_hostile.py.
"""

from __future__ import annotations

import ast
import asyncio
import csv
import io
import json
import subprocess
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from aiohttp import FormData, web
from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher
from results_support import many, survey
from web_support import (
    ITEM,
    NOW,
    OFFICE,
    OTHER_OFFICE,
    PASSWORD,
    Clock,
    add_key,
    add_user,
    csrf_in,
    login,
    signed_in,
)

from ivr import accounts, intake
from ivr.accounts import Role
from ivr.config import Settings
from ivr.store import SQLiteStore

pytest_plugins = ["web_fixtures"]

Client = TestClient[Any, Any]
EVIL = ['=HYPERLINK("http://evil.example/","click")', "+cmd|' /C calc'!A0", "@SUM(1+1)"]


async def _oversight(client: Client, store: SQLiteStore) -> str:
    await add_user(store, "amna", Role.OVERSIGHT)
    return await signed_in(client, "amna")


# ---------------------------------------------------------------------------- 1. formulas


async def test_every_export_neutralises_formulas(client: Client, store: SQLiteStore,
                                                 clock: Clock) -> None:
    await survey(store, [v for evil in EVIL for v in many(10, official=evil)], clock())
    await _oversight(client, store)
    table = (await (await client.get("/export/results.csv", params={"by": "official"})).read())
    groups = [r[0] for r in csv.reader(io.StringIO(table.decode("utf-8-sig")))][1:-1]
    assert sorted(groups) == sorted("'" + e for e in EVIL)
    for path in ("/export/results.xlsx?by=official", "/export/responses.xlsx"):
        book = openpyxl.load_workbook(io.BytesIO(await (await client.get(path)).read()))
        cells = [c for row in book.active.iter_rows() for c in row]  # type: ignore[union-attr]
        assert not [c.value for c in cells if c.data_type == "f"], path
        assert {"'" + e for e in EVIL} <= {c.value for c in cells}
    rows = (await (await client.get("/export/responses.csv")).read()).decode("utf-8-sig")
    officials = {r[4] for r in csv.reader(io.StringIO(rows))}
    assert officials == {"official", *("'" + e for e in EVIL)}


# ---------------------------------------------------------------------------- 2. date ranges


@pytest.mark.parametrize("path,query", [
    ("/api/v1/results", {"by": "day", "from": "1000-01-01"}),
    ("/api/v1/results", {"by": "day", "from": "2001-01-01"}),  # open end: up to today is > 10 y
    ("/api/v1/results", {"by": "week", "from": "2001-01-01"}),
    ("/export/results.csv", {"by": "day", "from": "0001-01-01"}),
    ("/api/v1/results", {"to": "0001-01-05"}),
    ("/api/v1/results", {"from": "9999-12-01"}),
    ("/export/responses.csv", {"to": "9999-12-31"}),
    ("/export/responses.xlsx", {"from": "0001-01-01"}),
])
async def test_every_date_range_is_bounded(client: Client, store: SQLiteStore, path: str,
                                           query: dict[str, str]) -> None:
    await _oversight(client, store)
    response = await client.get(path, params=query)
    assert response.status == 400, await response.text()
    if path.startswith("/api/"):
        assert "from" in (await response.json())["error"] or "to" in (
            await response.json())["error"]


# ---------------------------------------------------------------------------- 3. uploads


def _hour_of_flac(tmp_path: Path) -> bytes:
    out = tmp_path / "hour.flac"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "anullsrc=r=8000:cl=mono", "-t", "3600",
                    "-c:a", "flac", str(out)], check=True)
    return out.read_bytes()


async def test_a_long_upload_is_refused_by_its_stated_length_before_decoding(
        client: Client, store: SQLiteStore, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from pydub import AudioSegment

    def whole(*_a: object, **_k: object) -> None:
        raise AssertionError("decoded the whole file")
    monkeypatch.setattr(AudioSegment, "from_file", whole)
    await add_user(store, "sana", Role.SUPERVISOR)
    csrf = await signed_in(client, "sana")
    form = FormData()
    for k, v in (("csrf_token", csrf), ("prompt", "greeting"), ("language", "ur")):
        form.add_field(k, v)
    form.add_field("file", _hour_of_flac(tmp_path), filename="hour.flac")
    response = await client.post("/prompts", data=form, allow_redirects=False)
    assert response.status == 422
    assert "3600 s long" in await response.text()
    assert await store.prompt_versions() == []


# ---------------------------------------------------------------------------- 4. body limits


@pytest.mark.parametrize("path", ["/login", "/logout", "/cases/1", "/export/responses"])
async def test_large_bodies_are_refused_before_parsing_on_every_small_route(
        client: Client, path: str) -> None:
    big = b"username=" + b"a" * 1_000_000
    response = await client.post(path, data=big, headers={
        "Content-Type": "application/x-www-form-urlencoded"}, allow_redirects=False)
    assert response.status == 413

    async def chunks() -> Any:  # no Content-Length: refused while it is read
        for _ in range(100):
            yield b"a" * 10_000
    response = await client.post(path, data=chunks(), headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": "rabta_login=x"}, allow_redirects=False)
    assert response.status in (302, 303, 403, 413)  # refused without parsing a megabyte


# ---------------------------------------------------------------------------- 5. no 500s


async def test_a_visit_in_year_one_is_a_clear_row_error_in_intake_and_import(
        client: Client, store: SQLiteStore, tmp_path: Path) -> None:
    key = await add_key(store)
    response = await client.post("/api/v1/transactions", json={**ITEM, "visited_at":
                                                               "0001-01-01T00:00"},
                                 headers={"Authorization": f"Bearer {key}"})
    assert response.status == 422
    (error,) = (await response.json())["details"]["errors"]
    assert error["field"] == "visited_at" and "out of range" in error["message"]
    header = ",".join(intake.FIELDS)
    row = ",".join(str({**ITEM, "visited_at": "0001-01-01T00:00"}[f]) for f in intake.FIELDS)
    path = tmp_path / "t.csv"
    path.write_text(f"{header}\n{row}\n")
    with path.open("rb") as f:
        txs, errors = intake.parse_transactions_csv(f, source=str(path), default_tz="Asia/Karachi")
    assert txs == [] and [(line, field) for line, field, _ in errors] == [(2, "visited_at")]


@pytest.mark.parametrize("raw", ["²", "١", "1²", "-1", "+1", " 1", "1" * 13, "0x1", ""])
def test_ids_are_ascii_digits_only(raw: str) -> None:
    from ivr.web.common import parse_id
    assert parse_id(raw) is None
    assert parse_id("42") == 42 and parse_id("007") == 7


@pytest.mark.parametrize("path", ["/api/v1/cases/²", "/cases/²", "/cases/1/recordings/²",
                                  "/prompts/versions/²/audio", "/api/v1/cases/١"])
async def test_non_ascii_ids_are_404_not_500(client: Client, store: SQLiteStore,
                                            path: str) -> None:
    await _oversight(client, store)
    response = await client.get(path)
    assert response.status == 404


@pytest.mark.parametrize("header", ["bytes=²-", "bytes=5-1", "bytes=0-1,3-4", "items=0-1",
                                    "bytes=١-2", "bytes=-"])
def test_bad_range_headers_are_not_ranges(header: str) -> None:
    from ivr.web.common import valid_range
    assert not valid_range(header)
    assert valid_range("bytes=0-") and valid_range("bytes=10-20") and valid_range("bytes=-5")


async def test_a_bad_range_header_on_a_recording_is_not_a_500(
        client: Client, store: SQLiteStore, web_settings: Settings) -> None:
    from casedata import seed

    report = (await seed(store, web_settings.rootfs, NOW))[0]
    await _oversight(client, store)
    url = f"/cases/{report.id}/recordings/{report.recording_answer}"
    for header in ("bytes=²-", "bytes=5-1", "bytes=١-9", "bytes=0-1,5-9"):
        response = await client.get(url, headers={"Range": header})
        assert response.status in (200, 416), header  # ignored, or not satisfiable: never 500
    listens = [e for e in await store.audit_entries() if e["action"] == "recording_listen"]
    assert len(listens) == 4  # a malformed range is not a ranged re-fetch


_FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize("body,content_type", [
    (b"username=\xff\xfe&password=x", _FORM),
    (b"username=a&password=b", f"{_FORM}; charset=bogus-charset"),
    (b"--x\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--x--\r\n",
     "multipart/form-data"),
    (b"garbage", "multipart/form-data; boundary=x"),
])
async def test_malformed_forms_are_a_400_page(client: Client, store: SQLiteStore, body: bytes,
                                              content_type: str) -> None:
    page = await client.get("/login")
    assert csrf_in(await page.text())
    response = await client.post("/login", data=body, headers={"Content-Type": content_type},
                                 allow_redirects=False)
    assert response.status == 400, await response.text()
    assert response.content_type == "text/html"
    await _oversight(client, store)
    for path in ("/export/responses", "/logout"):  # the CSRF check reads the form first
        response = await client.post(path, data=body, headers={"Content-Type": content_type},
                                     allow_redirects=False)
        assert response.status == 400, (path, await response.text())
        assert response.content_type == "text/html"


@pytest.mark.parametrize("body", [b"[" * 30_000 + b"]" * 30_000,
                                  b'{"note": "\\ud800", "to": "under_review"}',
                                  b'{"note": "\xff"}', b'{"to": NaN}'])
async def test_hostile_json_is_a_400_on_every_json_route(client: Client, store: SQLiteStore,
                                                         clock: Clock, body: bytes) -> None:
    (tx,) = await survey(store, many(1, bribe="1"), clock())
    csrf = await _oversight(client, store)
    await add_user(store, "sana", Role.SUPERVISOR)
    for path in (f"/api/v1/cases/{tx}", "/api/v1/prompts/versions/1"):
        response = await client.post(path, data=body, headers={
            "Content-Type": "application/json", "X-CSRF-Token": csrf})
        assert response.status in (400, 403), (path, await response.text())
        assert "error" in await response.json()
    case = await (await client.get(f"/api/v1/cases/{tx}")).json()
    assert case["history"] == [] if "history" in case else True


# ---------------------------------------------------------------------------- 6. /metrics


def _engine() -> Any:
    from types import SimpleNamespace

    from ivr.engine import EngineHealth
    return SimpleNamespace(health=lambda: EngineHealth({"rabta-pbx": True}, sessions=0, agi={}))


async def test_metrics_and_healthz_detail_are_for_operators_only(
        store: SQLiteStore, web_settings: Settings, clock: Clock) -> None:
    from dataclasses import replace

    from aiohttp.test_utils import TestServer

    from ivr.web.app import create_app

    proxied = {"X-Forwarded-For": "203.0.113.9"}
    async with TestClient(TestServer(create_app(web_settings, store, _engine()))) as c:
        assert (await c.get("/metrics", headers=proxied)).status == 401
        assert await (await c.get("/healthz", headers=proxied)).json() == {"ok": True}
    settings = replace(web_settings, metrics_token="s3cret-token")
    async with TestClient(TestServer(create_app(settings, store, _engine()))) as c:
        assert (await c.get("/metrics")).status == 401  # loopback is not enough with a token
        assert (await c.get("/metrics", headers={"Authorization": "Bearer nope"})).status == 401
        assert await (await c.get("/healthz")).json() == {"ok": True}
        auth = {"Authorization": "Bearer s3cret-token"}
        detail = await (await c.get("/healthz", headers=auth)).json()
        assert detail["nodes"] == {"rabta-pbx": True}


# ---------------------------------------------------------------------------- 7. slow clients


class _Served:
    """The app on a real socket, through the runner `rabta web` uses."""

    def __init__(self, store: SQLiteStore, settings: Settings) -> None:
        from ivr.web.app import create_app, make_runner
        self.runner = make_runner(create_app(settings, store), settings)

    async def __aenter__(self) -> int:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port: int = self.runner.addresses[0][1]
        return port

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()


async def test_slow_headers_and_slow_bodies_are_cut_off(store: SQLiteStore,
                                                       web_settings: Settings,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    from dataclasses import replace
    settings = replace(web_settings, web_read_timeout=0.5)
    async with _Served(store, settings) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /login HTTP/1.1\r\nHost: x\r\n")  # ... and the rest never comes
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the server
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: " + _FORM.encode()
                     + b"\r\nContent-Length: 100\r\n\r\nusername=")
        await writer.drain()
        head = await asyncio.wait_for(reader.readline(), 5)
        assert head.startswith(b"HTTP/1.1 408"), head
        writer.close()
        # an upload dropped halfway: one line at info, no traceback at error
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: " + _FORM.encode()
                     + b"\r\nContent-Length: 1000\r\n\r\nusername=a")
        await writer.drain()
        writer.close()
        await asyncio.sleep(1)
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


# ---------------------------------------------------------------------------- 8. audit


async def test_refused_intake_is_audited(client: Client, store: SQLiteStore) -> None:
    key = await add_key(store)
    auth = {"Authorization": f"Bearer {key}"}
    assert (await client.post("/api/v1/transactions", json={**ITEM, "office": OTHER_OFFICE},
                              headers=auth)).status == 403
    assert (await client.post("/api/v1/transactions", json={**ITEM, "mobile": "12"},
                              headers=auth)).status == 422
    refusals = [e for e in await store.audit_entries() if e["action"] == "intake_refused"]
    assert sorted(e["detail"]["status"] for e in refusals) == [403, 422]
    assert all(e["actor"].startswith("apikey:") for e in refusals)
    assert OFFICE


# ---------------------------------------------------------------------------- 9. headers


async def test_every_response_has_security_headers_and_no_server_version(
        client: Client) -> None:
    for method, path in (("GET", "/api/v1/openapi.json"), ("GET", "/login"),
                         ("POST", "/api/v1/transactions"), ("GET", "/nowhere"),
                         ("GET", "/api/v1/nowhere"), ("GET", "/static/overview.js")):
        response = await client.request(method, path, allow_redirects=False)
        h = response.headers
        assert "frame-ancestors 'none'" in h["Content-Security-Policy"], path
        assert h["X-Content-Type-Options"] == "nosniff" and h["Referrer-Policy"], path
        assert "aiohttp" not in h.get("Server", "") and "Python" not in h.get("Server", "")


async def test_the_login_token_must_be_one_the_server_issued(client: Client,
                                                             store: SQLiteStore) -> None:
    await add_user(store, "amna", Role.OVERSIGHT)
    client.session.cookie_jar.update_cookies({"rabta_login": "chosen-by-the-attacker"})
    response = await client.post("/login", data={
        "csrf_token": "chosen-by-the-attacker", "username": "amna", "password": PASSWORD},
        allow_redirects=False)
    assert response.status == 403
    assert (await login(client, "amna")).status == 303  # a page's own token still works


# ---------------------------------------------------------------------------- sign-in


async def test_sign_in_is_rate_limited_per_account_and_per_address(
        client: Client, store: SQLiteStore, clock: Clock, web_settings: Settings) -> None:
    for _ in range(web_settings.login_per_minute_account):
        assert (await login(client, "amna", "wrong password!")).status == 401
    refused = await login(client, "amna", "wrong password!")
    assert refused.status == 429 and int(refused.headers["Retry-After"]) > 0
    # the address has made limit_account + 1 tries so far (the refused one counts too)
    for i in range(web_settings.login_per_minute_address - web_settings.login_per_minute_account
                   - 1):
        assert (await login(client, f"user{i}", "wrong password!")).status == 401
    assert (await login(client, "someone-else", "wrong password!")).status == 429
    clock.advance(seconds=61)
    assert (await login(client, "amna", "wrong password!")).status == 401


async def test_an_idle_session_ends(client: Client, store: SQLiteStore, clock: Clock,
                                    web_settings: Settings) -> None:
    await _oversight(client, store)
    idle = web_settings.session_idle_minutes
    clock.advance(minutes=idle - 1)
    assert (await client.get("/", allow_redirects=False)).status == 200  # used: counts anew
    clock.advance(minutes=idle - 1)
    assert (await client.get("/", allow_redirects=False)).status == 200
    clock.advance(minutes=idle + 1)
    assert (await client.get("/", allow_redirects=False)).status == 302


async def test_a_password_hashed_with_old_parameters_is_rehashed_on_login(
        client: Client, store: SQLiteStore) -> None:
    old = PasswordHasher(time_cost=2, memory_cost=128, parallelism=1).hash(PASSWORD)
    assert accounts.needs_rehash(old)
    await add_user(store, "amna", Role.OVERSIGHT)
    user = await store.user_by_name("amna")
    assert user is not None
    await store.set_password_hash(user.id, old)
    assert (await login(client, "amna")).status == 303
    user = await store.user_by_name("amna")
    assert user is not None and user.password_hash != old
    assert not accounts.needs_rehash(user.password_hash)
    assert accounts.verify_password(user.password_hash, PASSWORD)


# ---------------------------------------------------------------------------- the seam


def test_ivr_web_has_no_import_cycle() -> None:
    """Walk the imports between ivr/web's modules (at any depth in the file) and find no cycle."""
    root = Path(__file__).parents[2] / "ivr" / "web"
    graph: dict[str, set[str]] = {}
    for file in root.glob("*.py"):
        name = f"ivr.web.{file.stem}"
        deps = graph.setdefault(name, set())
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            deps |= {t for t in targets if t.startswith("ivr.web.") and t.count(".") == 2
                     and (root / f"{t.split('.')[2]}.py").exists()}
    seen: dict[str, int] = {}

    def visit(n: str, path: list[str]) -> None:
        if seen.get(n) == 1:
            raise AssertionError(f"import cycle: {' -> '.join([*path, n])}")
        if seen.get(n) == 2:
            return
        seen[n] = 1
        for d in sorted(graph.get(n, ())):
            visit(d, [*path, n])
        seen[n] = 2

    for n in sorted(graph):
        visit(n, [])
    assert "ivr.web.common" in graph
    assert graph["ivr.web.common"] <= {"ivr.web.i18n", "ivr.web.assets"}
    assert not graph["ivr.web.assets"]  # the static files and gzip: a leaf too
    assert not graph["ivr.web.i18n"]  # the languages: a leaf the edge uses, importing no route


def test_json_errors_quote_a_lone_surrogate_safely() -> None:
    from ivr.web.common import error_body
    assert json.loads(error_body("bad \ud800"))["error"] == "bad \ud800"

"""Light on slow links (ivr.web.assets): gzip for text, never for the event stream; static assets
under content-hashed names, cached for ever; the security headers on every response; pages'
CSP without 'unsafe-inline', their own <style>/<script> let in by a per-page nonce."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from web_support import Clock, add_user, signed_in, start_client

from ivr.accounts import Role
from ivr.config import Settings
from ivr.store import SQLiteStore
from ivr.web import assets
from ivr.web.api import OPENAPI

pytest_plugins = ["web_fixtures"]

Client = TestClient[Any, Any]
GZIP = {"Accept-Encoding": "gzip"}
TEMPLATES = Path(assets.__file__).parent / "templates"


async def _oversight(client: Client, store: SQLiteStore) -> None:
    await add_user(store, "ov", Role.OVERSIGHT)
    await signed_in(client, "ov")


# ---------------------------------------------------------------------------- gzip


async def test_pages_and_json_leave_gzipped_to_a_client_that_takes_it(
        client: Client, store: SQLiteStore) -> None:
    await _oversight(client, store)
    for path in ("/results", "/overview", OPENAPI, "/login"):
        gz = await client.get(path, headers=GZIP)
        assert gz.status == 200, path
        assert gz.headers.get("Content-Encoding") == "gzip", path
        assert "Accept-Encoding" in gz.headers.get("Vary", ""), path
        plain = await client.get(path, headers={"Accept-Encoding": "identity"})
        assert "Content-Encoding" not in plain.headers, path
    refused = await client.get("/results", headers={"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in refused.headers


async def test_the_event_stream_is_never_compressed(client: Client, store: SQLiteStore) -> None:
    await _oversight(client, store)
    async with client.get("/api/v1/overview/stream", headers=GZIP) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        assert "Content-Encoding" not in stream.headers
        line = await stream.content.readline()  # the first event arrives at once, readable
        assert line.startswith((b"event:", b":", b"retry:")), line


async def test_small_bodies_are_not_compressed(client: Client) -> None:
    response = await client.get("/api/v1/nowhere", headers=GZIP)  # a short JSON error
    assert response.status == 404 and "Content-Encoding" not in response.headers


async def test_compression_can_be_turned_off(store: SQLiteStore, web_settings: Settings,
                                             clock: Clock) -> None:
    async with start_client(store, web_settings, clock, web_compression=False) as client:
        page = await client.get("/login", headers=GZIP)
        assert "Content-Encoding" not in page.headers
        script = await client.get(assets.url("overview.js"), headers=GZIP)
        assert "Content-Encoding" not in script.headers
        assert script.headers["Cache-Control"] == "no-cache"


# ---------------------------------------------------------------------------- hashed assets


def test_an_asset_is_named_by_its_content() -> None:
    body = (assets.STATIC / "overview.js").read_bytes()
    digest = hashlib.sha256(body).hexdigest()[:12]
    assert assets.url("overview.js") == f"/static/overview.{digest}.js"
    with pytest.raises(LookupError):
        assets.url("nothing.js")


async def test_hashed_assets_are_cached_for_ever_the_plain_name_revalidated(
        client: Client) -> None:
    url = assets.url("overview.js")
    script = await client.get(url, headers=GZIP)
    assert script.status == 200 and "EventSource" in await script.text()
    assert script.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert script.headers["Content-Type"].startswith("text/javascript")
    assert script.headers["Content-Encoding"] == "gzip"
    assert script.headers["X-Content-Type-Options"] == "nosniff"
    again = await client.get(url, headers={"If-None-Match": script.headers["ETag"]})
    assert again.status == 304
    plain = await client.get("/static/overview.js")
    assert plain.status == 200 and plain.headers["Cache-Control"] == "no-cache"
    assert (await client.get("/static/overview.000000000000.js")).status == 404
    assert (await client.get("/static/..%2Fapp.py")).status == 404


async def test_pages_name_their_assets_through_the_helper(client: Client,
                                                          store: SQLiteStore) -> None:
    await _oversight(client, store)
    html = await (await client.get("/overview")).text()
    assert f'src="{assets.url("overview.js")}"' in html
    for template in TEMPLATES.glob("*.html"):  # no asset named by hand: it would never change
        assert not re.search(r'(src|href)="/static/', template.read_text()), template.name


# ---------------------------------------------------------------------------- security headers


async def test_every_response_carries_the_security_headers(client: Client,
                                                           store: SQLiteStore) -> None:
    paths = ["/login", "/api/v1/nowhere", "/nowhere", assets.url("overview.js"), "/results"]
    for signed in (False, True):
        if signed:
            await _oversight(client, store)
        for path in paths:
            r = await client.get(path, allow_redirects=False)
            h = r.headers
            assert "frame-ancestors 'none'" in h["Content-Security-Policy"], path
            assert h["X-Content-Type-Options"] == "nosniff", path
            assert h["Referrer-Policy"] == "same-origin", path
            assert h["X-Frame-Options"] == "DENY", path


_NONCE = re.compile(r"'nonce-([A-Za-z0-9_-]+)'")


async def test_pages_csp_has_no_unsafe_inline_and_a_fresh_nonce_per_page(
        client: Client, store: SQLiteStore) -> None:
    await _oversight(client, store)
    seen = set()
    for path in ("/login", "/results", "/overview", "/prompts", "/cases", "/nowhere"):
        page = await client.get(path)
        csp = page.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in csp, path
        match = _NONCE.search(csp)
        assert match, (path, csp)
        html = await page.text()
        tags = re.findall(r"<(style|script)\b([^>]*)>", html)
        assert tags, path
        for _, attrs in tags:  # every one of the page's own tags carries this page's nonce
            assert f'nonce="{match.group(1)}"' in attrs or "src=" in attrs, (path, attrs)
        seen.add(match.group(1))
    assert len(seen) == 6


def test_templates_hold_no_inline_style_attributes_or_unnonced_tags() -> None:
    # A style="" attribute or an on*="" handler would be blocked by the CSP: use a class.
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        assert not re.search(r"\sstyle=", text), template.name
        assert not re.search(r"\son[a-z]+=", text), template.name
        for tag in re.findall(r"<(?:style|script)\b[^>]*>", text):
            assert 'nonce="{{ nonce }}"' in tag or "src=" in tag, (template.name, tag)

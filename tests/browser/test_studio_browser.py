"""The prompt studio and the pages' own policy in real headless Chromium: a supervisor at phone
(360 px) and desktop (1366 px) widths, in English and Urdu, filters the studio, plays what plays
now in an <audio> element, and axe-core finds nothing serious. The pages load WITHOUT bypassing
their CSP (no 'unsafe-inline'): no violation is reported, their styles apply and the overview's
script runs (the other browser tests bypass the CSP to inject axe-core)."""

from __future__ import annotations

import io
import json
import math
import struct
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import Site, sign_in, start_site, stop_site
from playwright.sync_api import Browser, Page
from test_pages_browser import _axe, _sideways

from ivr.audio import load_manifest

WIDTHS = (360, 1366)


def _tone_wav(seconds: float = 1.0, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(i / 8)))
                               for i in range(int(seconds * rate))))
    return out.getvalue()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    s, proc = start_site(tmp_path_factory.mktemp("rabta-studio"))
    # the synthesised Urdu greeting, where `rabta prompts build` installs it in the PBX
    sounds = s.cache / "rootfs" / "usr/share/asterisk/sounds/ur/rabta"
    sounds.mkdir(parents=True, exist_ok=True)
    (sounds / "greeting.wav").write_bytes(_tone_wav())
    try:
        yield s
    finally:
        stop_site(proc)


def _open(browser: Browser, site: Site, width: int, lang: str, user: str = "supervisor",
          bypass_csp: bool = True) -> Page:
    context = browser.new_context(viewport={"width": width, "height": 800},
                                  bypass_csp=bypass_csp)
    # Record every CSP violation from the first byte of every page on.
    context.add_init_script("""window.__csp = [];
      document.addEventListener('securitypolicyviolation',
        e => window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline')));""")
    page = context.new_page()
    sign_in(page, site, user)
    page.goto(f"{site.url}/language?to={lang}&next=/")
    return page


@pytest.mark.parametrize("lang", ("en", "ur"))
@pytest.mark.parametrize("width", WIDTHS)
def test_studio_filters_plays_and_fits(browser: Browser, site: Site, width: int,
                                       lang: str) -> None:
    page = _open(browser, site, width, lang)
    page.goto(f"{site.url}/prompts")
    texts = {(p.id, p.language): p.text for p in load_manifest()}
    greeting = page.locator("#p-greeting")
    assert texts[("greeting", "en")] in greeting.inner_text()
    urdu = greeting.locator('p.text[lang="ur"]')
    assert urdu.get_attribute("dir") == "rtl" and urdu.inner_text() == texts[("greeting", "ur")]
    problems: dict[str, Any] = {}
    if sideways := _sideways(page):
        problems["sideways"] = sideways
    if violations := _axe(page):
        problems["axe"] = violations
    assert problems == {}, json.dumps(problems, indent=1, ensure_ascii=False)
    # What plays now: the browser loads and decodes it (a second of audio).
    duration = page.evaluate("""() => new Promise((ok, fail) => {
      const a = document.querySelector('#p-greeting audio[src="/prompts/now/ur/greeting"]');
      if (!a) return fail('no player');
      a.addEventListener('loadedmetadata', () => ok(a.duration));
      a.addEventListener('error', () => fail('audio error ' + (a.error && a.error.code)));
      a.preload = 'auto'; a.load();
    })""")
    assert 0.9 < duration < 1.1
    # Filter: the synthesised prompts in Urdu, chosen as an official would.
    page.select_option("#f-language", "ur")
    page.select_option("#f-state", "synthesised")
    page.locator("form.filters button[type=submit]").click()
    page.wait_for_url("**/prompts?**state=synthesised**")
    assert page.locator("section.prompt").count() == 1
    assert page.locator("section.prompt div.lang").count() == 1
    assert page.locator("#p-greeting audio").count() == 1
    if sideways := _sideways(page):
        problems["filtered sideways"] = sideways
    assert problems == {}, problems
    page.context.close()


def test_pages_keep_their_csp_and_still_work(browser: Browser, site: Site) -> None:
    page = _open(browser, site, 360, "ur", user="oversight", bypass_csp=False)
    for path in ("/", "/results", "/cases", "/prompts", "/no-such-page"):
        page.goto(f"{site.url}{path}")
        page.wait_for_load_state("load")
        # the page's own <style> applied (base.html sets the body's width and colour)
        assert page.evaluate("getComputedStyle(document.body).maxWidth") != "none", path
        assert page.evaluate("window.__csp") == [], path
    page.goto(f"{site.url}/overview")
    page.wait_for_selector("#status:has-text('تازہ کاری')", timeout=30_000)  # the script ran
    assert page.evaluate("window.__csp") == []
    # And the policy holds: an inline style injected without the nonce is refused.
    page.evaluate("""() => { const s = document.createElement('style');
      s.textContent = 'body { color: rgb(1, 2, 3); }'; document.head.append(s); }""")
    page.wait_for_function("window.__csp.length > 0")
    assert page.evaluate("getComputedStyle(document.body).color") != "rgb(1, 2, 3)"
    page.context.close()


def test_the_overview_script_comes_from_its_hashed_url_cached(browser: Browser,
                                                             site: Site) -> None:
    page = _open(browser, site, 1366, "en", user="oversight", bypass_csp=False)
    seen: list[tuple[str, str, str]] = []
    page.on("response", lambda r: seen.append((r.url, r.headers.get("cache-control", ""),
                                               r.headers.get("content-encoding", ""))))
    page.goto(f"{site.url}/overview")
    page.wait_for_selector("#status:has-text('Live: updated')", timeout=30_000)
    script = [s for s in seen if "/static/overview." in s[0]]
    assert script and script[0][1] == "public, max-age=31536000, immutable", seen
    assert Path(script[0][0]).name.count(".") == 2  # overview.<hash>.js
    doc = next(s for s in seen if s[0].endswith("/overview"))
    assert doc[2] == "gzip", seen
    page.context.close()

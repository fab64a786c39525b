"""Benchmark: the dashboard on an emulated slow 3G link (Chromium's network emulation, ~400 kbit/s
down and up, 400 ms round trip): bytes over the wire per page, and the time until the live
overview shows its figures, with compression and caching (ivr.web.assets) against the same pages
without them (web_compression=false and the browser's cache off: the baseline, same run).

    python bench/slow_link.py --rounds 3
    python bench/slow_link.py --kbps 400 --rtt-ms 400 --rounds 5
    python bench/slow_link.py --bodies          # bodies only: identity vs gzip, in process

A real `rabta web` is started on a temp store seeded like the browser tests' (tests/casedata.py's
reports, tests/resultsdata.py's made-up month across Punjab), once per mode, and driven by
Debian's headless Chromium through Playwright. Sign-in happens on a fast link; then the link is
slowed and the browser's cache emptied. Each page is loaded cold (an empty cache, an official's
first visit of the day) and then warm (the next visit: the light mode's hashed assets are not
asked for again). Bytes are what Chromium counts on the wire for each request that finished
(headers included; the overview's event stream never finishes and is left out). "Live" is the
moment the overview's status line says it was updated from the stream, timed from the start of
the navigation.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "browser"), str(ROOT / "tests" / "unit"), str(ROOT / "tests"),
                str(ROOT)]

from browser_support import (  # noqa: E402
    PASSWORD,
    Site,
    free_port,
    launch,
    start_site,
    stop_site,
)
from playwright.sync_api import Page, sync_playwright  # noqa: E402

LIVE = "#status:has-text('Live: updated')"
PAGES: list[tuple[str, Any]] = [
    ("/overview", LIVE),
    ("/results?by=district", None),
    ("/cases", None),
    ("case", None),  # one case's page (LHR-101)
    ("/prompts", None),
]


@contextmanager
def serving(site: Site, light: bool) -> Iterator[str]:
    """Run `rabta web` on the seeded store, with compression and caching on or off."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RABTA_")}
    env.update(RABTA_HOME=str(site.home), RABTA_CACHE=str(site.cache),
               RABTA_WEB_PORT=str(port), RABTA_WEB_HOST="127.0.0.1",
               RABTA_WEB_COMPRESSION="true" if light else "false")
    rabta = Path(sys.executable).with_name("rabta")
    proc = subprocess.Popen([str(rabta), "web"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("`rabta web` did not start") from None
            time.sleep(0.1)
    try:
        yield url
    finally:
        stop_site(proc)


class Wire:
    """Count what Chromium receives on the wire through one page's DevTools session."""

    def __init__(self, page: Page) -> None:
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("Network.enable")
        self.bytes = 0
        self.requests = 0
        self.cdp.on("Network.loadingFinished", self._finished)

    def _finished(self, event: dict[str, Any]) -> None:
        self.bytes += int(event.get("encodedDataLength", 0))
        self.requests += 1

    def slow(self, kbps: float, rtt_ms: float, cache: bool) -> None:
        rate = kbps * 1000 / 8  # bytes per second
        self.cdp.send("Network.emulateNetworkConditions", {
            "offline": False, "latency": rtt_ms, "downloadThroughput": rate,
            "uploadThroughput": rate})
        self.cdp.send("Network.setCacheDisabled", {"cacheDisabled": not cache})

    def reset(self) -> None:
        self.bytes, self.requests = 0, 0


def load(page: Page, wire: Wire, url: str, ready: str | None) -> tuple[int, int, float]:
    """Load url; return bytes, requests and seconds until ready (or the load event)."""
    wire.reset()
    start = time.monotonic()
    page.goto(url, wait_until="load", timeout=120_000)
    if ready:
        page.wait_for_selector(ready, timeout=120_000)
    took = time.monotonic() - start
    page.wait_for_timeout(300)  # let the last loadingFinished events arrive
    return wire.bytes, wire.requests, took


def measure(site: Site, url: str, light: bool, kbps: float, rtt_ms: float
            ) -> dict[str, dict[str, tuple[int, int, float]]]:
    """Return, per page, its (bytes, requests, seconds) loaded cold and then warm."""
    out: dict[str, dict[str, tuple[int, int, float]]] = {}
    case_id = site.report("LHR-101").id
    with sync_playwright() as p:
        browser = launch(p)
        try:
            context = browser.new_context(viewport={"width": 360, "height": 800})
            page = context.new_page()
            page.goto(f"{url}/login")
            page.fill("#username", "oversight")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{url}/")
            wire = Wire(page)
            for path, ready in PAGES:
                full = f"{url}/cases/{case_id}" if path == "case" else url + path
                wire.cdp.send("Network.clearBrowserCache")
                wire.slow(kbps, rtt_ms, cache=light)
                cold = load(page, wire, full, ready)
                warm = load(page, wire, full, ready)
                wire.cdp.send("Network.emulateNetworkConditions", {
                    "offline": False, "latency": 0, "downloadThroughput": -1,
                    "uploadThroughput": -1})
                page.goto("about:blank")
                out[path] = {"cold": cold, "warm": warm}
                print(f"  {'light' if light else 'baseline'} {path}: {cold} {warm}",
                      file=sys.stderr, flush=True)
        finally:
            browser.close()
    return out


async def _bodies() -> list[tuple[str, int, int]]:
    """Return (page, identity bytes, gzip bytes) of each page's body, served in process."""
    from datetime import UTC, datetime

    from browser_support import _prepare
    from web_support import Clock, login, start_client

    from ivr.config import Settings
    from ivr.store import open_store
    from ivr.web import assets

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        home, cache = Path(tmp) / "home", Path(tmp) / "cache"
        home.mkdir(parents=True)
        reports, _ = await _prepare(home, cache, True, "made-up")
        store = await open_store(home / "rabta.db")
        case = next(r for r in reports if r.ref == "LHR-101").id
        try:
            async with start_client(store, Settings(home=home, cache=cache),
                                    Clock(datetime.now(UTC))) as client:
                await login(client, "oversight", PASSWORD)
                for path in ("/overview", "/results?by=district", "/cases", f"/cases/{case}",
                             "/prompts", assets.url("overview.js")):
                    sizes = []
                    for coding in ("identity", "gzip"):
                        response = await client.get(path, auto_decompress=False,
                                                    headers={"Accept-Encoding": coding})
                        sizes.append(len(await response.read()))
                    out.append((path, sizes[0], sizes[1]))
        finally:
            await store.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kbps", type=float, default=400.0, help="link rate, kbit/s each way")
    parser.add_argument("--rtt-ms", type=float, default=400.0, help="added round trip, ms")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each mode (medians)")
    parser.add_argument("--bodies", action="store_true",
                        help="only the bodies' bytes, identity and gzip, served in process "
                             "(no browser, no emulated link)")
    args = parser.parse_args()
    if args.bodies:
        import asyncio

        print(f"{'page':<40}{'identity B':>12}{'gzip B':>10}{'ratio':>7}")
        for path, plain, gz in asyncio.run(_bodies()):
            print(f"{path:<40}{plain:>12}{gz:>10}{plain / gz:>7.1f}")
        return 0
    runs: dict[bool, list[dict[str, dict[str, tuple[int, int, float]]]]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as tmp:
        site, proc = start_site(Path(tmp), cases=True, results="made-up")
        stop_site(proc)  # seeded; each mode runs its own `rabta web` on the same store
        for _ in range(args.rounds):
            for light in (False, True):
                with serving(site, light) as url:
                    runs[light].append(measure(site, url, light, args.kbps, args.rtt_ms))

    def med(light: bool, path: str, visit: str, i: int) -> float:
        return statistics.median(r[path][visit][i] for r in runs[light])

    print(f"slow link: {args.kbps:.0f} kbit/s each way, {args.rtt_ms:.0f} ms round trip; "
          f"{args.rounds} rounds, medians; viewport 360 px")
    print(f"{'page':<22}{'visit':<6}{'baseline KB':>12}{'light KB':>10}{'ratio':>7}"
          f"{'baseline s':>12}{'light s':>9}{'ratio':>7}  requests b/l")
    for path, _ in PAGES:
        for visit in ("cold", "warm"):
            b_kb, l_kb = med(False, path, visit, 0) / 1000, med(True, path, visit, 0) / 1000
            b_s, l_s = med(False, path, visit, 2), med(True, path, visit, 2)
            b_n, l_n = med(False, path, visit, 1), med(True, path, visit, 1)
            print(f"{path:<22}{visit:<6}{b_kb:>12.1f}{l_kb:>10.1f}{b_kb / max(l_kb, 0.001):>7.1f}"
                  f"{b_s:>12.2f}{l_s:>9.2f}{b_s / max(l_s, 0.001):>7.1f}  {b_n:.0f}/{l_n:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

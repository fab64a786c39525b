"""Render dashboard pages with sample data in headless Chromium and write PNGs under docs/.

    .venv/bin/python tests/browser/screenshots.py [--out docs/screenshots]   (or: make screenshots)

The one script for every dashboard screenshot in docs/. It starts a real `rabta web` on a temp
store seeded with tests/casedata.py's reports (the browser tests' fixtures) and
tests/resultsdata.py's made-up month of answers across Punjab, signs in with real headless
Chromium (Debian's) and shoots each page in PAGES. To add a page, add a line to PAGES: the file
name, who signs in, the path (or a function of the site giving it), and a selector to wait for
before shooting ("" for none).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # browser_support, casedata, chromium

from browser_support import Site, launch, sign_in, start_site, stop_site  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

REPO = HERE.parents[1]
Path_ = str | Callable[[Site], str]
MAX_HEIGHT = 1400  # a long page (the cases queue of a month) is cut here
LIVE = "#status:has-text('Live: updated')"
PAGES: list[tuple[str, str, Path_, str]] = [
    ("overview.png", "oversight", "/overview", LIVE),  # after the live stream's first event
    ("results.png", "oversight", "/results?by=district", ""),
    ("results-weekly.png", "oversight", "/results?by=week", ""),
    ("cases.png", "oversight", "/cases", ""),
    ("case.png", "oversight", lambda s: f"/cases/{s.report('LHR-101').id}", ""),
    ("actions.png", "oversight", "/reports/actions", ""),
    ("audit.png", "oversight", "/audit", ""),
]


def shoot(out: Path, width: int = 1280, height: int = 900) -> list[Path]:
    """Write one PNG per entry of PAGES into out; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        site, proc = start_site(Path(tmp), cases=True, results="made-up")
        browser = launch(p)
        try:
            signed_in_as = ""
            context = browser.new_context(viewport={"width": width, "height": height})
            page = context.new_page()
            for name, user, path, ready in PAGES:
                if user != signed_in_as:
                    context.clear_cookies()
                    sign_in(page, site, user)
                    signed_in_as = user
                response = page.goto(site.url + (path if isinstance(path, str) else path(site)))
                if response is None or response.status != 200:
                    raise RuntimeError(f"{name}: {path} gave {response and response.status}")
                if ready:
                    page.wait_for_selector(ready, timeout=30_000)
                tall = int(page.evaluate("document.documentElement.scrollHeight"))
                clip = {"x": 0, "y": 0, "width": width, "height": min(tall, MAX_HEIGHT)}
                page.screenshot(path=str(out / name), full_page=True, clip=clip)  # type: ignore[arg-type]
                written.append(out / name)
        finally:
            browser.close()
            stop_site(proc)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = parser.parse_args()
    for path in shoot(args.out):
        print(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

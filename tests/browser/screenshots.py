"""Render dashboard pages with sample data in headless Chromium and write PNGs under docs/.

    .venv/bin/python tests/browser/screenshots.py [--out docs/screenshots]   (or: make screenshots)

It starts a real `rabta web` on a temp store seeded by tests/casedata.py (the browser tests'
fixtures), signs in and shoots each page in PAGES. To add a page, add a line to PAGES: the
file name, who signs in, and the path (or a function of the site giving it).
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
PAGES: list[tuple[str, str, Path_]] = [
    ("cases.png", "oversight", "/cases"),
    ("case.png", "oversight", lambda s: f"/cases/{s.report('LHR-101').id}"),
    ("actions.png", "oversight", "/reports/actions"),
    ("audit.png", "oversight", "/audit"),
]


def shoot(out: Path, width: int = 1280, height: int = 900) -> list[Path]:
    """Write one PNG per entry of PAGES into out; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        site, proc = start_site(Path(tmp), cases=True)
        browser = launch(p)
        try:
            signed_in_as = ""
            context = browser.new_context(viewport={"width": width, "height": height})
            page = context.new_page()
            for name, user, path in PAGES:
                if user != signed_in_as:
                    context.clear_cookies()
                    sign_in(page, site, user)
                    signed_in_as = user
                page.goto(site.url + (path if isinstance(path, str) else path(site)))
                page.screenshot(path=str(out / name), full_page=True)
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

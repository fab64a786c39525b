"""Render dashboard pages with sample data in headless Chromium and write PNGs under docs/.

    .venv/bin/python tests/browser/screenshots.py [--out docs/screenshots]   (or: make screenshots)

The one script for every dashboard screenshot in docs/. It starts a real `rabta web` on a temp
store seeded with tests/casedata.py's reports (the browser tests' fixtures) and
tests/resultsdata.py's made-up month of answers across Punjab, signs in with real headless
Chromium (Debian's) and shoots each page in PAGES: the overview, results and a case in English
and Urdu, at desktop (1366 px) and phone (360 px) widths, and a few more pages at desktop width.
To add a page, add a line to PAGES: the file name, who signs in, the path (or a function of the
site giving it), whether to wait for the live figures, the width and the language. Each PNG is
cut to a palette (Pillow) to stay small.
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
DESKTOP, PHONE = 1366, 360
COLOURS = 96  # PNGs are cut to a palette of this many colours: a tenth of the bytes, same look
LIVE = {"en": "#status:has-text('Live: updated')", "ur": "#status:has-text('تازہ کاری')"}
CASE: Path_ = lambda s: f"/cases/{s.report('LHR-101').id}"  # noqa: E731
# (file name, who signs in, path, wait for the live figures?, width, language)
PAGES: list[tuple[str, str, Path_, bool, int, str]] = [
    *((f"{name}-{lang}-{size}.png", "oversight", path, name == "overview", width, lang)
      for name, path in (("overview", "/overview"), ("results", "/results?by=district"),
                         ("case", CASE))
      for lang in ("en", "ur")
      for size, width in (("desktop", DESKTOP), ("phone", PHONE))),
    ("results-weekly.png", "oversight", "/results?by=week", False, DESKTOP, "en"),
    ("cases.png", "oversight", "/cases", False, DESKTOP, "en"),
    ("actions.png", "oversight", "/reports/actions", False, DESKTOP, "en"),
    ("audit.png", "oversight", "/audit", False, DESKTOP, "en"),
]


def shrink(path: Path) -> None:
    """Rewrite a PNG with a palette of COLOURS colours, optimised (Pillow)."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(COLOURS, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def shoot(out: Path, height: int = 900) -> list[Path]:
    """Write one PNG per entry of PAGES into out; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        site, proc = start_site(Path(tmp), cases=True, results="made-up")
        browser = launch(p)
        try:
            # One sign-in per official (sign-ins are limited per account and minute); the
            # width and the language change between shots.
            context = browser.new_context(viewport={"width": DESKTOP, "height": height})
            page = context.new_page()
            signed_in_as = ""
            for name, user, path, live, width, lang in PAGES:
                if user != signed_in_as:
                    context.clear_cookies()
                    sign_in(page, site, user)
                    signed_in_as = user
                page.set_viewport_size({"width": width, "height": height})
                page.goto(f"{site.url}/language?to={lang}&next=/")
                response = page.goto(site.url + (path if isinstance(path, str) else path(site)))
                if response is None or response.status != 200:
                    raise RuntimeError(f"{name}: {path} gave {response and response.status}")
                if live:
                    page.wait_for_selector(LIVE[lang], timeout=30_000)
                page.evaluate("document.fonts.ready")
                tall = int(page.evaluate("document.documentElement.scrollHeight"))
                clip = {"x": 0, "y": 0, "width": width, "height": min(tall, MAX_HEIGHT)}
                page.screenshot(path=str(out / name), full_page=True, clip=clip)  # type: ignore[arg-type]
                shrink(out / name)
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

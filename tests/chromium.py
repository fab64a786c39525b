"""Where Debian's Chromium is, and how the browser tests launch it (shared by the browser tier
and the integration tests that click through the dashboard). Never skip: fail without it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/lib/chromium/chromium", "/usr/bin/chromium-browser")
LAUNCH_ARGS = ["--no-sandbox", "--autoplay-policy=no-user-gesture-required", "--mute-audio"]


def chromium_path() -> str:
    """Return Debian's Chromium (or $RABTA_CHROMIUM), or fail the test run (never skip)."""
    chosen = os.environ.get("RABTA_CHROMIUM", "")
    if chosen and not (Path(chosen).is_file() and os.access(chosen, os.X_OK)):
        pytest.fail(f"RABTA_CHROMIUM={chosen} is not an executable file")
    for candidate in (chosen, *CHROMIUM_PATHS, shutil.which("chromium") or ""):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("Chromium not found: `apt-get install chromium` (make setup does it) or set "
                "RABTA_CHROMIUM")

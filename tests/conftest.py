"""Suite-wide: the shared `store` fixture, and a guard against hanging. A thread left running
(an unclosed aiosqlite connection, say) would keep the test process alive after the last test,
and CI would hang until its deadline: fail loudly instead, naming the threads."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ivr.store import SQLiteStore, open_store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    """A fresh SQLite store in the test's own directory (tmp_path / "t.db")."""
    s = await open_store(tmp_path / "t.db")
    try:
        yield s
    finally:
        await s.close()


def pytest_unconfigure(config: pytest.Config) -> None:
    deadline = time.monotonic() + 5.0
    while True:
        leaked = [t for t in threading.enumerate()
                  if t is not threading.main_thread() and t.is_alive() and not t.daemon]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    if leaked:
        names = ", ".join(f"{t.name} ({type(t).__module__}.{type(t).__name__})" for t in leaked)
        sys.stderr.write(f"\nERROR: threads still running after the tests: {names}\n"
                         f"(an unclosed store or client); exiting instead of hanging.\n")
        sys.stderr.flush()
        os._exit(3)

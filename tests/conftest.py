"""Suite-wide: the shared `store` fixture (SQLite; both SQLite and PostgreSQL in modules marked
`pytest.mark.both_backends`), the throw-away PostgreSQL cluster, and a guard against hanging. A
thread left running (an unclosed aiosqlite connection, say) would keep the test process alive
after the last test, and CI would hang until its deadline: fail loudly instead, naming the
threads."""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pgcluster import PgCluster

from ivr.store import SQLiteStore, open_database, open_store

BACKENDS = ("sqlite", "postgresql")
_TEMPLATE = "rabta_template"
_names = itertools.count(1)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "both_backends: run the module's `store` tests on SQLite and on PostgreSQL")
    config.addinivalue_line(
        "markers", "sqlite_only(reason): in a both_backends module, a test that stays on SQLite")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    mark = metafunc.definition.get_closest_marker
    if "store" in metafunc.fixturenames and mark("both_backends") and not mark("sqlite_only"):
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """Which engine the `store` fixture opens: sqlite unless parametrised (both_backends)."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """One PostgreSQL 15 server for the session, with a migrated template database."""
    cluster = PgCluster().start()
    try:
        url = cluster.create(_TEMPLATE)

        async def migrate() -> None:
            db = await open_database(url)
            await db.close()
        # asyncio.run in a thread of its own: this fixture may be set up inside a running loop.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, migrate()).result()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> str:
    """A fresh, migrated PostgreSQL database of its own for one test."""
    return pg_cluster.create(f"t{os.getpid()}_{next(_names)}", template=_TEMPLATE)


@pytest.fixture
async def store(tmp_path: Path, backend: str,
                request: pytest.FixtureRequest) -> AsyncIterator[SQLiteStore]:
    """A fresh store: SQLite in the test's own directory (tmp_path / "t.db"), or (backend
    postgresql) a database of its own on the session's PostgreSQL cluster."""
    where = tmp_path / "t.db" if backend == "sqlite" else request.getfixturevalue("pg_url")
    s = await open_store(where)
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

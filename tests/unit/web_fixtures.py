"""Fixtures for the web tests (a pytest plugin: `pytest_plugins = ["web_fixtures"]`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher
from web_support import Clock, start_client

from ivr import accounts
from ivr.config import Settings
from ivr.store import SQLiteStore


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Argon2 at its lightest: the same code path, a fraction of the time and memory."""
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=64,
                                                            parallelism=1))
    yield


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def web_settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", cache=tmp_path / "cache")


@pytest.fixture
async def client(store: SQLiteStore, web_settings: Settings, clock: Clock
                 ) -> AsyncIterator[TestClient[Any, Any]]:
    async with start_client(store, web_settings, clock) as c:
        yield c

"""The engine's event loop follows the event_loop setting: uvloop by default (unit tier)."""

from __future__ import annotations

import asyncio
import sys

import pytest

from ivr.cli.common import run_loop
from ivr.config import load_settings


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_uvloop_is_the_default_and_asyncio_can_be_chosen() -> None:
    assert load_settings(env={}).event_loop == "uvloop"
    assert run_loop(load_settings(env={}), _loop_module()).startswith("uvloop")
    chosen = load_settings(env={"RABTA_EVENT_LOOP": "asyncio"})
    assert run_loop(chosen, _loop_module()).startswith("asyncio")


def test_without_uvloop_installed_it_says_so_and_runs_on_asyncio(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop -> ImportError
    assert run_loop(load_settings(env={}), _loop_module()).startswith("asyncio")
    assert "uvloop is not installed" in caplog.text

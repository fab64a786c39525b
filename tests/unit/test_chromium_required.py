"""The browser tiers fail, never skip, without Chromium: tests/chromium.py's lookup."""

from __future__ import annotations

from pathlib import Path

import chromium
import pytest


def test_a_missing_chromium_fails_the_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RABTA_CHROMIUM", raising=False)
    monkeypatch.setattr(chromium, "CHROMIUM_PATHS", (str(tmp_path / "chromium"),))
    monkeypatch.setattr("shutil.which", lambda _name: None)
    with pytest.raises(pytest.fail.Exception, match="Chromium not found"):
        chromium.chromium_path()


def test_a_wrong_rabta_chromium_fails_rather_than_falling_back(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    monkeypatch.setenv("RABTA_CHROMIUM", str(tmp_path / "nowhere"))
    with pytest.raises(pytest.fail.Exception, match="RABTA_CHROMIUM"):
        chromium.chromium_path()


def test_an_executable_rabta_chromium_is_used(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    exe = tmp_path / "my-chromium"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    monkeypatch.setenv("RABTA_CHROMIUM", str(exe))
    assert chromium.chromium_path() == str(exe)

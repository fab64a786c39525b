"""Integration: a prompt missing from the real PBX's sounds directory never ends a call.

The English rating question, the thanks and a fragment of the visit confirmation ("on") are
removed from the PBX (every format). Over real SIP through the carrier simulator, the citizen
still confirms the visit, rates (pressing while the engine waits for a key without the
prompt), answers the bribe question, and the survey is completed; the engine logs a warning
naming each missing prompt. The confirmation's fragments go in one command (Asterisk's
Background), which stops at the missing one without naming it: the engine plays them again one
by one, and that names it. The files are put back after.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from dataclasses import replace as dc_replace
from pathlib import Path

import pytest
from support import Citizen, install_phonebook, run_until_idle, transactions_for

from ivr.config import Settings
from ivr.lab import rootfs
from ivr.store import SQLiteStore

MISSING = ("rating", "thanks", "visit-on")


@pytest.fixture
def prompts_removed(node_settings: Settings, tmp_path: Path) -> Iterator[list[Path]]:
    """Move the English rating and thanks prompts out of the PBX; put them back after."""
    sounds = rootfs.sounds_dir(node_settings.rootfs, "en") / "rabta"
    moved: list[Path] = []
    try:
        for prompt in MISSING:
            for f in sorted(sounds.glob(f"{prompt}.*")):
                shutil.move(f, tmp_path / f.name)
                moved.append(f)
        assert len(moved) >= 2 * len(MISSING), f"prompt files not found in {sounds}"
        yield moved
    finally:
        for f in moved:
            shutil.move(tmp_path / f.name, f)


async def test_a_missing_prompt_is_skipped_with_a_warning_and_the_survey_completes(
        node_settings: Settings, store: SQLiteStore, prompts_removed: list[Path],
        caplog: pytest.LogCaptureFixture) -> None:
    # s1: confirm the visit after its question; ww5: the rating question has no sound, so
    # the line is quiet: wait two seconds and press 5; s2: "no" after the bribe question.
    citizen = Citizen("03005559801", "answer", "s1ww5s2")
    install_phonebook(node_settings, [citizen])
    [tx] = transactions_for([citizen], "missing")
    tx = dc_replace(tx, service="police", language="en")
    assert await store.add_transactions([tx], tx.visited_at) == (1, 0)
    with caplog.at_level(logging.WARNING, logger="ivr.flows"):
        await run_until_idle(node_settings, store, timeout=180)
    [row] = [r for r in await store.results() if r["ref"] == tx.ref]
    assert row["status"] == "completed", row
    assert row["answers"] == {"visit_confirmed": "1", "rating": "5", "bribe": "2"}, row
    warned = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    for prompt in MISSING:
        assert f"prompt {prompt}: cannot play it" in warned, warned
    assert "one cannot be played, playing them one by one" in warned, warned

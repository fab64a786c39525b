"""ivr.log: loggers that forward to `logging` (caller's line kept), or write to stderr without
importing it (the classic AGI script) (unit tier)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ivr.log import getLogger

ROOT = Path(__file__).resolve().parents[2]


def test_by_default_records_go_through_logging_with_the_callers_name_and_line(
        caplog: pytest.LogCaptureFixture) -> None:
    log = getLogger("ivr.flows.survey")
    with caplog.at_level("INFO"):
        log.debug("not shown")
        log.info("question %s: %s", "rating", "4"); line = sys._getframe().f_lineno  # noqa: E702
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed %d", 7)
        assert log.isEnabledFor(20) and not log.isEnabledFor(10)
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        ("ivr.flows.survey", "INFO", "question rating: 4"),
        ("ivr.flows.survey", "ERROR", "failed 7")]
    assert caplog.records[0].pathname == __file__ and caplog.records[0].lineno == line
    assert caplog.records[0].exc_info is None and caplog.records[1].exc_info is not None


STDERR_RUN = """
import sys
from ivr import log as L
L.to_stderr("WARNING", "rabta-agi")
log = L.getLogger("ivr.flows.session")
log.info("hidden")
log.warning("prompt %s: cannot play it", "rabta/en/x")
L.set_level("INFO")
log.info("attempt %d: %s", 5)  # a bad format: said, not raised
try:
    1 / 0
except ZeroDivisionError:
    log.exception("attempt %d failed", 5)
print(" ".join(m for m in ("logging", "_colorize") if m in sys.modules))
"""


def test_to_stderr_writes_one_line_a_record_without_importing_logging() -> None:
    done = subprocess.run([sys.executable, "-c", STDERR_RUN], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    lines = done.stderr.splitlines()
    assert "hidden" not in done.stderr
    assert lines[0].startswith("rabta-agi[") and lines[0].endswith(
        "] WARNING ivr.flows.session: prompt rabta/en/x: cannot play it")
    assert "INFO ivr.flows.session: attempt %d: %s (5,) (unformattable" in lines[1]
    assert "ERROR ivr.flows.session: attempt 5 failed" in lines[2]
    assert lines[3] == "Traceback (most recent call last):" and "ZeroDivisionError" in lines[-1]
    assert done.stdout.strip() == ""  # neither logging nor its colour themes were imported

"""The integration tier's shards: every file runs exactly once, balanced, the exclusive ones last."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "integration" / "shards.py"
_spec = importlib.util.spec_from_file_location("integration_shards", _PATH)
assert _spec and _spec.loader
shards = importlib.util.module_from_spec(_spec)
sys.modules["integration_shards"] = shards
_spec.loader.exec_module(shards)

FILES = sorted(p.name for p in _PATH.parent.glob("test_*.py"))


def test_every_integration_file_runs_exactly_once_across_the_shards_and_the_last_pass() -> None:
    runs = [shards.selected(FILES, "1/2"), shards.selected(FILES, "2/2"),
            shards.selected(FILES, "last")]
    assert sorted(f for r in runs for f in r) == FILES


def test_the_exclusive_files_run_only_in_the_last_pass() -> None:
    assert "test_missing_prompt.py" in FILES
    assert shards.selected(FILES, "last") == {"test_missing_prompt.py"}
    assert "test_missing_prompt.py" not in shards.selected(FILES, "1/2") | shards.selected(FILES, "2/2")


def test_shards_are_balanced_counting_the_head_start() -> None:
    files = ["a.py", "b.py", "c.py", "d.py"]
    weights = {"a.py": 100.0, "b.py": 60.0, "c.py": 50.0, "d.py": 10.0}
    old = dict(shards.SECONDS)
    try:
        shards.SECONDS = weights
        assert shards.assign(files, 2, head_start=(0.0, 0.0)) == [["a.py", "d.py"], ["b.py", "c.py"]]
        # A late second shard gets less work.
        assert shards.assign(files, 2, head_start=(0.0, 100.0)) == [["a.py", "b.py"], ["c.py", "d.py"]]
    finally:
        shards.SECONDS = old


@pytest.mark.parametrize("spec", ["", "0/2", "3/2", "1", "x/2", "first"])
def test_a_bad_shard_is_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="RABTA_TEST_SHARD"):
        shards.parse(spec)


def test_the_shard_variable_is_not_taken_for_a_setting() -> None:
    # Engine workers started by integration tests inherit the environment: a RABTA_* variable
    # that is not a setting would stop them ("unknown setting"), as RABTA_SHARD once did.
    from ivr.config import load_settings

    load_settings(env={"RABTA_TEST_SHARD": "1/2"})

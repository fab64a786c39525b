"""Unit tier: scheduler.rules, the calling, retry and routing rules built once from Settings,
and the one dial-string builder."""

from __future__ import annotations

import ast
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from ivr.config import load_settings
from ivr.errors import ConfigError
from ivr.models import Outcome
from scheduler.dialstring import dial_string, preferred_trunk
from scheduler.policy import Trunk
from scheduler.rules import Rules

ROOT = Path(__file__).resolve().parents[2]


def rules(**overrides: Any) -> Rules:
    return Rules.from_settings(load_settings(env={}, overrides=overrides))


def test_rules_are_built_typed_from_settings() -> None:
    r = rules(service_windows=["pension=10:00-16:00"], blocked_dates=["2026-12-25"],
              quiet_periods=["fri 12:30-14:30"], retry_delays=["busy=60"], retry_delay=120,
              max_attempts=4, trunks=["jazz channels=2 cps=5 operators=jazz",
                                      "national channels=3 cps=10"])
    assert r.calling.window == "09:00-20:00"
    assert r.calling.service_windows == {"pension": "10:00-16:00"}
    assert r.calling.blocked_dates == frozenset({date(2026, 12, 25)})
    assert [q.weekday for q in r.calling.quiet] == [4]
    assert r.retry.max_attempts == 4
    assert r.retry.delay_for(Outcome.BUSY) == 60.0
    assert r.retry.delay_for(Outcome.NO_ANSWER) == 120.0  # not in the list given: retry_delay
    assert r.retry.delay_for(Outcome.UNKNOWN) == 120.0  # not listed: retry_delay
    assert r.trunks == (Trunk("jazz", 2, 5.0, frozenset({"jazz"})), Trunk("national", 3, 10.0))
    assert r.prefixes["034"] == "telenor"


def test_without_trunks_the_one_trunk_carries_every_node() -> None:
    r = rules(max_concurrent=4, calls_per_second=2, nodes=["a@127.0.0.1:5038", "b@127.0.0.2:5038"])
    assert r.trunks == (Trunk("carrier", 8, 2.0),)


@pytest.mark.parametrize(("overrides", "key"), [
    ({"calling_window": "20:00-09:00"}, "calling_window"),
    ({"calling_window": "always"}, "calling_window"),
    ({"service_windows": ["pension"]}, "service_windows"),
    ({"service_windows": ["pension=late"]}, "service_windows: pension"),
    ({"blocked_dates": ["25/12/2026"]}, "blocked_dates"),
    ({"quiet_periods": ["friday"]}, "quiet_periods"),
    ({"retry_delays": ["sometimes=60"]}, "retry_delays: sometimes=60"),
    ({"retry_delays": ["busy=soon"]}, "retry_delays: busy=soon"),
    ({"retry_delays": ["busy=-5"]}, "retry rules"),
    ({"trunks": ["jazz channels=2"]}, "trunks: .*cps="),
    ({"operator_prefixes": ["jazz"]}, "operator_prefixes"),
    ({"dial_template": "PJSIP/{number}@{trunk}"}, "dial_template"),
    ({"dial_template": "PJSIP/{0}"}, "dial_template"),
])
def test_a_bad_rule_is_a_config_error_naming_its_key(overrides: dict[str, Any], key: str) -> None:
    settings = load_settings(env={}, overrides=overrides)  # strings are fine as settings
    with pytest.raises(ConfigError, match=key):
        Rules.from_settings(settings)


def test_the_dial_string_is_built_in_one_place() -> None:
    r = rules(trunks=["jazz channels=2 cps=5 operators=jazz only", "national channels=3 cps=10"])
    assert dial_string(r, "+923001234567", "jazz") == "PJSIP/923001234567@jazz"
    assert dial_string(r, "+923001234567") == "PJSIP/923001234567@carrier"  # the default trunk
    assert preferred_trunk(r, "+923001234567") == "jazz"  # a Jazz number: its own trunk first
    assert preferred_trunk(r, "+923331234567") == "national"  # Ufone: the general one
    national = rules(dial_template="SIP/{national}@{trunk}")
    assert dial_string(national, "+923001234567", "x") == "SIP/03001234567@x"


# Not installed inside the Asterisk rootfs, where the classic AGI script runs (it has only
# aiosqlite, argon2-cffi and pyst2 there).
NOT_IN_THE_ROOTFS = ("phonenumbers", "numpy", "scipy", "asyncpg", "babel", "fpdf", "aiohttp",
                     "jinja2", "pydub", "openpyxl")


def test_the_classic_agi_script_needs_nothing_the_rootfs_lacks() -> None:
    code = ("import sys; import ivr.classic_agi; "
            f"print(' '.join(m for m in {NOT_IN_THE_ROOTFS!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"ivr.classic_agi imports {done.stdout.strip()}"


# Heavy for a process started per call (issue 12, item 6: the classic script's CPU is mostly
# its start): every area's store, the statistics and accounts behind them, prompt building,
# and stdlib modules only other paths need. A survey session needs none of them.
NOT_FOR_A_SESSION = ("ivr.store.store", "ivr.store.accountability", "ivr.store.results",
                     "ivr.store.accounts", "ivr.results", "ivr.accounts", "ivr.audio",
                     "ivr.accountability.arms", "ivr.accountability.integrity", "ivr.trunk_sip",
                     "argon2", "fractions", "concurrent.futures.process", "multiprocessing",
                     # item 6 again: the session runs without an event loop (run_blocking), on
                     # plain sqlite3; the rest is imported only where a mistake or a sample needs it
                     "asyncio", "aiosqlite", "ivr.asterisk.agi.server",
                     "difflib", "random", "runpy",
                     # and without `logging` (ivr.log writes its lines to stderr)
                     "logging", "traceback")


def test_the_classic_agi_script_imports_only_what_a_session_needs() -> None:
    code = ("import sys; import ivr.classic_agi; "
            f"print(' '.join(m for m in {NOT_FOR_A_SESSION!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"ivr.classic_agi imports {done.stdout.strip()}"


def test_click_to_call_and_the_dialer_use_the_same_builder() -> None:
    for path in ("scheduler/dialer.py", "ivr/directcalls.py"):
        source = (ROOT / path).read_text()
        assert "dial_template" not in source, f"{path} builds a dial string itself"
        assert "dialstring.dial_string(" in source


def test_config_knows_nothing_of_the_scheduler() -> None:
    tree = ast.parse((ROOT / "ivr" / "config.py").read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in imported if m.split(".")[0] == "scheduler"}

"""CLI, demo: `rabta demo`, everything on the embedded default (Asterisk, calls, report)."""

from __future__ import annotations

import argparse
import csv
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ivr.cli.asterisk import asterisk_down, asterisk_up
from ivr.cli.common import EXIT_OK, add_command, run_loop
from ivr.cli.data import do_import, do_report
from ivr.cli.serve import do_run
from ivr.config import Settings, replace

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_DIR = REPO_ROOT / "demo"


def register(sub: Any) -> None:
    """Add `demo` to the `rabta` parser's subcommands."""
    add_command(
        sub, "demo", help="everything on the embedded default: Asterisk, calls, report",
        description="Start a real Asterisk and the carrier simulator, import the bundled "
                    "transactions into <home>/demo.db, call the simulated citizens over SIP "
                    "with short timers, print the report and stop what it started.",
        examples=["rabta demo", "rabta --home /tmp/rabta-demo demo"],
        func=_run)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    demo_on = demo_settings(settings)
    return run_loop(demo_on, demo(demo_on))


async def demo(settings: Settings) -> int:
    """Run the demo on settings (see demo_settings)."""
    print("== Rabta demo: a real Asterisk calls simulated citizens over SIP ==", file=sys.stderr)
    started = asterisk_up(settings, DEMO_DIR / "phonebook.csv")
    try:
        if settings.db_path.exists():
            for suffix in ("", "-wal", "-shm"):
                Path(f"{settings.db_path}{suffix}").unlink(missing_ok=True)
        await do_import(settings, demo_transactions(settings.home / "demo-transactions.csv"),
                        out=sys.stderr)
        t0 = time.monotonic()
        await do_run(settings, until_idle=True)
        print(f"\nAll calls done in {time.monotonic() - t0:.0f} s.\n")
        print("Results by district:\n")
        await do_report(settings, "district", "table")
        print(f"\nThe data lives in {settings.db_path}")
        print(f"Try: rabta --database {settings.db_path} report --by service")
        print(f"     rabta --database {settings.db_path} export --format csv")
    finally:
        if started:  # leave a PBX the operator started alone
            asterisk_down(settings)
    return EXIT_OK


def demo_settings(settings: Settings) -> Settings:
    """The demo's own database and short timers, so it finishes in a few minutes."""
    return replace(settings, database=str(settings.home / "demo.db"), database_url="",
                   calling_window="00:00-24:00", quiet_periods=(), blocked_dates=(),
                   retry_delay=3.0, retry_delays=(), callback_delay=3.0, ring_timeout=10.0,
                   first_call_delay=0.0)


def demo_transactions(dest: Path) -> Path:
    """Copy the bundled transactions with visits moved to three hours ago, so none is stale."""
    rows = list(csv.reader((DEMO_DIR / "transactions.csv").open(encoding="utf-8")))
    base = datetime.now(ZoneInfo("Asia/Karachi")).replace(microsecond=0) - timedelta(hours=3)
    col = rows[0].index("visited_at")
    for i, row in enumerate(rows[1:]):
        row[col] = (base - timedelta(minutes=7 * i)).replace(tzinfo=None).isoformat()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with dest.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    return dest

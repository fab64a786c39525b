"""CLI, status: `rabta status`, the live state and whether every node's AMI answers.

Exits 0 when every PBX node answers on AMI and 1 when one does not, so it serves as a check.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from typing import Any
from zoneinfo import ZoneInfo

from ivr.cli.common import EXIT_OK, EXIT_PROBLEMS, add_command, now
from ivr.config import Settings
from ivr.lab import rootfs
from ivr.models import FINAL, ORDER
from ivr.services import status
from ivr.store import open_store


def register(sub: Any) -> None:
    """Add `status` to the `rabta` parser's subcommands."""
    st = add_command(
        sub, "status", help="live state: waiting, due, on the line, today's calls",
        description="Show the transactions by status, what is due now, the calls on the line "
                    "per PBX node and trunk, today's calls by outcome, and whether each node's "
                    "AMI answers. Exits 1 while a node's AMI does not answer.",
        examples=["rabta status", "rabta status --json | jq .statuses",
                  "watch -n 5 rabta status"],
        func=_run)
    st.add_argument("--json", action="store_true", help="machine-readable")


def _run(args: argparse.Namespace, settings: Settings) -> int:
    summary = asyncio.run(status_summary(settings))
    write_status(settings, summary, args.json, sys.stdout)
    return EXIT_OK if all(summary["ami_by_node"].values()) else EXIT_PROBLEMS


async def status_summary(settings: Settings) -> dict[str, Any]:
    """Return the live state (the one status snapshot, as `--json` prints it) with AMI per node."""
    async with await open_store(settings.db_url) as store:
        snap = await status.snapshot(store, settings, now(), ZoneInfo(settings.timezone),
                                     probe=lambda host, port: rootfs.ami_answers(
                                         dataclasses.replace(settings, ami_host=host,
                                                             ami_port=port)))
    summary = snap.as_dict(settings)
    summary["ami_by_node"] = dict(summary["ami_connected"])
    return summary


async def do_status(settings: Settings, as_json: bool, out: Any = None) -> int:
    """Show live state: waiting, due, on the line per node, today's outcomes, AMI health.

    Returns 0 once shown; `rabta status` itself exits 1 while a node's AMI is down.
    """
    write_status(settings, await status_summary(settings), as_json, out or sys.stdout)
    return EXIT_OK


def write_status(settings: Settings, summary: dict[str, Any], as_json: bool, out: Any) -> None:
    """Write the summary as JSON or as bars for a person."""
    if as_json:
        out.write(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        return
    statuses = summary["statuses"]
    total = sum(statuses.values())
    final = sum(statuses.get(k.value, 0) for k in FINAL)
    print(f"transactions: {total}   done {final}   waiting {summary['waiting']} "
          f"(due now {summary['due_now']})", file=out)
    width = 30
    for name in (st.value for st in ORDER):
        n = statuses.get(name, 0)
        bar = "#" * (round(width * n / total) if total else 0)
        print(f"  {name:<12} {bar:<{width}} {n}", file=out)
    on_line = sum(summary["in_flight_by_node"].values())
    print(f"on the line: {on_line}", file=out)
    for kind in ("nodes", "trunks"):
        for name, u in summary[kind].items():
            used = round(width * min(1.0, u["in_flight"] / u["capacity"]))
            print(f"  {kind[:-1]} {name:<14} [{'#' * used:<{width}}] "
                  f"{u['in_flight']}/{u['capacity']}"
                  + (f"  ({u['attempts_today']} calls today)" if kind == "trunks" else ""),
                  file=out)
    today = ", ".join(f"{k} {v}" for k, v in sorted(summary["attempts_today"].items())) or "none"
    print(f"calls today: {today}", file=out)
    for name, host, port in settings.pbx_nodes():
        answering = summary["ami_by_node"].get(name, False)
        print(f"AMI {host}:{port} ({name}): {'answering' if answering else 'NOT answering'}",
              file=out)
    for name, a in summary.get("admission", {}).items():
        figures = ", ".join(f"{label} {a[key]:{fmt}}" for key, label, fmt in (
            ("agi_rtt_ms", "AGI round trip ms", ".0f"), ("cpu_busy", "host CPU", ".0%"),
            ("channels", "calls", "d")) if a.get(key) is not None)
        state = "open" if a.get("open") else f"CLOSED to new calls ({a.get('reason', '')})"
        print(f"admission {name}: {state}" + (f"; {figures}" if figures else ""), file=out)

"""Entry point, accountability: `rabta report monthly --month YYYY-MM [--district D] --format pdf|html|json`,
`rabta experiments start|stop|list|results` (randomised arms) and
`rabta accountability digest [--date D] [--send]` (the daily digest to each official).

The monthly district report the programme published: per district and for the province (or
one district), transactions entered, citizens contacted, responses, satisfaction and bribe
reports with intervals, actions taken by kind, data-integrity flags, overdue cases and the
offices that stand out where the numbers allow. The same figures as GET /api/v1/reports/monthly
(ivr.accountability.reading). Reading it first applies the case deadlines at now.

An experiment's arms are drawn at intake for every transaction entered while it runs
(ivr.accountability.arms); `results` shows each arm's figures, the differences from the
control (the first arm) and the balance check, or writes the per-transaction CSV.

The daily digest (ivr.accountability.digest) tells each official who sees results, in their
scope, of yesterday: new bribe-rate alerts, overdue cases, cases waiting. Without --send it is
shown; with --send it is delivered to <home>/digests/ (ivr.services.digests), from where the
live overview shows each official their latest. A timer runs it each morning
(deploy/systemd/rabta-digest.timer).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ivr.accountability import arms, digest, reading, report
from ivr.config import Settings
from ivr.errors import InputError
from ivr.services import digests
from ivr.store import open_store

__all__ = ["register"]

_EXAMPLE = """examples:
  rabta report monthly --month 2026-11 --format pdf            # writes rabta-2026-11-province.pdf
  rabta report monthly --month 2026-11 --district Lahore --format html -o lahore.html
  rabta report monthly --month 2026-11 --format json | jq .total
"""


_EXPERIMENTS = """examples:
  rabta experiments start greeting formal warm      # the first arm is the control
  rabta experiments start first_call 2h 24h
  rabta experiments list
  rabta experiments results greeting                # per arm, with intervals (JSON)
  rabta experiments results greeting --format csv -o greeting.csv   # one row per transaction
  rabta experiments stop greeting
"""


_DIGEST = """examples:
  rabta accountability digest                      # show yesterday's digests, send nothing
  rabta accountability digest --send               # write them to <home>/digests/ (the timer)
  rabta accountability digest --date 2026-11-30 --send
"""


def register(subparsers: Any) -> None:
    """Add `report monthly` under the existing `report` command (`rabta report --by` stays),
    and the `experiments` command."""
    parent = subparsers.choices["report"]
    kinds = parent.add_subparsers(dest="report_kind", metavar="KIND")
    m = kinds.add_parser(
        "monthly", help="the monthly district report (PDF, HTML or JSON)",
        description="The monthly district report: per district and for the province, or for "
                    "one district. Shares below min_responses answers are withheld.",
        epilog=_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    m.add_argument("--month", required=True, help="the month, YYYY-MM (local time)")
    m.add_argument("--district", help="one district only (default: every district and the "
                                      "province)")
    m.add_argument("--format", choices=["pdf", "html", "json"], default="pdf")
    m.add_argument("--output", "-o", type=Path,
                   help="file to write (default: rabta-MONTH-SCOPE.pdf for pdf, stdout else)")
    m.set_defaults(func=run_monthly)
    e = subparsers.add_parser(
        "experiments", help="randomised arms: start, stop, list, results",
        description="An experiment's arms are drawn at random for every transaction entered "
                    "while it runs, and stored with it.",
        epilog=_EXPERIMENTS, formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("action", choices=["start", "stop", "list", "results"])
    e.add_argument("name", nargs="?", help="the experiment (start, stop, results)")
    e.add_argument("arms", nargs="*", help="start: two or more arms, the control first")
    e.add_argument("--format", choices=["json", "csv"], default="json",
                   help="results: per-arm figures (json) or one row per transaction (csv)")
    e.add_argument("--output", "-o", type=Path, help="results: file to write (default: stdout)")
    e.set_defaults(func=run_experiments)
    a = subparsers.add_parser(
        "accountability", help="the daily digest to each official concerned",
        description="Accountability tasks a timer runs: the daily digest to each official.",
        epilog=_DIGEST,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    tasks = a.add_subparsers(dest="task", metavar="TASK", required=True)
    d = tasks.add_parser(
        "digest", help="each official's digest of a day: new alerts, overdue and waiting cases",
        description="Build, for every official who sees results, a short digest of a day in "
                    "their scope: new bribe-rate alerts, overdue cases, cases waiting. Shown "
                    "unless --send; --send writes each to <home>/digests/<username>/, where the "
                    "live overview shows it.",
        epilog=_DIGEST, formatter_class=argparse.RawDescriptionHelpFormatter)
    d.add_argument("--date", help="the local day told of, YYYY-MM-DD (default: yesterday)")
    d.add_argument("--send", action="store_true",
                   help="deliver (write the files) instead of showing them")
    d.set_defaults(func=run_digest)


def run_digest(args: argparse.Namespace, settings: Settings) -> int:
    """Show or deliver the daily digests; return the exit status."""
    import asyncio
    return asyncio.run(_digest(settings, args))


async def _digest(settings: Settings, args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    day = (reading.query_day(args.date, "--date") if args.date
           else digest.day_of(now, ZoneInfo(settings.timezone)))
    if day >= now.astimezone(ZoneInfo(settings.timezone)).date():
        raise InputError(f"--date: {day.isoformat()} has not ended yet (give an earlier day)")
    store = await open_store(settings.db_url)
    try:
        built = await digests.build(store, settings, day, now)
    finally:
        await store.close()
    if not args.send:
        for d in built:
            sys.stdout.write(digest.to_text(d) + "\n")
        print(f"{len(built)} digests of {day.isoformat()} (not sent: add --send)", file=sys.stderr)
        return 0
    paths = digests.deliver(built, settings.home)
    print(f"delivered {len(paths)} digests of {day.isoformat()} to "
          f"{settings.home / digests.DIRECTORY}", file=sys.stderr)
    return 0


def run_monthly(args: argparse.Namespace, settings: Settings) -> int:
    """Write the monthly report; return the exit status."""
    import asyncio
    return asyncio.run(_monthly(settings, args))


async def _monthly(settings: Settings, args: argparse.Namespace) -> int:
    store = await open_store(settings.db_url)
    try:
        data = await reading.monthly(store, settings, args.month, ZoneInfo(settings.timezone),
                                     datetime.now(UTC), district=args.district)
    finally:
        await store.close()
    if args.district and not data["districts"]:
        print(f"note: no transactions in district {args.district!r} in {data['month']}",
              file=sys.stderr)
    if args.format == "pdf":
        body = report.to_pdf(data)
        out = args.output or Path(f"rabta-{data['month']}-{data['scope']}.pdf".replace(" ", "_"))
    else:
        text = report.to_html(data) if args.format == "html" else json.dumps(data, indent=2)
        if args.output is None:
            sys.stdout.write(text + "\n")
            return 0
        body, out = text.encode(), args.output
    tmp = out.with_name(out.name + ".part")
    tmp.write_bytes(body)
    os.replace(tmp, out)  # never a half-written report
    print(f"wrote {out}", file=sys.stderr)
    return 0


def run_experiments(args: argparse.Namespace, settings: Settings) -> int:
    """Start, stop, list or show an experiment; return the exit status."""
    import asyncio
    return asyncio.run(_experiments(settings, args))


async def _experiments(settings: Settings, args: argparse.Namespace) -> int:
    if args.action != "list" and not args.name:
        raise InputError(f"experiments {args.action}: name the experiment")
    if args.action != "start" and args.arms:
        raise InputError(f"experiments {args.action}: arms are given only to start")
    store = await open_store(settings.db_url)
    try:
        now = datetime.now(UTC)
        if args.action == "start":
            experiment = arms.parse_experiment(args.name, args.arms)
            await store.start_experiment(experiment, now)
            print(f"started {experiment.name}: arms {', '.join(experiment.arms)} "
                  f"(control: {experiment.arms[0]})")
            return 0
        if args.action == "stop":
            if not await store.stop_experiment(args.name, now):
                raise InputError(f"no running experiment {args.name!r}")
            print(f"stopped {args.name}")
            return 0
        if args.action == "list":
            for e in await store.experiments():
                state = f"stopped {e['stopped_at'][:16]}" if e["stopped_at"] else "running"
                print(f"{e['name']}: {', '.join(e['arms'])} ({state}; {e['n']} transactions)")
            return 0
        names, counts = await store.arm_counts(args.name)
        if args.format == "json":
            text = json.dumps({"experiment": args.name, **arms.compare(names, counts)}, indent=2)
        else:
            rows = await store.arm_rows(args.name)
            buf = io.StringIO()
            w = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["transaction_id"])
            w.writeheader()
            w.writerows(rows)
            text = buf.getvalue()
    finally:
        await store.close()
    if args.output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return 0
    tmp = args.output.with_name(args.output.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, args.output)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0

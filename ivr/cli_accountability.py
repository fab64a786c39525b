"""Entry point, accountability: `rabta report monthly --month YYYY-MM [--district D] --format pdf|html|json`.

The monthly district report the programme published: per district and for the province (or
one district), transactions entered, citizens contacted, responses, satisfaction and bribe
reports with intervals, actions taken by kind, data-integrity flags, overdue cases and the
offices that stand out where the numbers allow. The same figures as GET /api/v1/reports/monthly
(ivr.accountability.reading). Reading it first applies the case deadlines at now.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ivr.accountability import reading, report
from ivr.config import Settings
from ivr.store import open_store

__all__ = ["register"]

_EXAMPLE = """examples:
  rabta report monthly --month 2026-11 --format pdf            # writes rabta-2026-11-province.pdf
  rabta report monthly --month 2026-11 --district Lahore --format html -o lahore.html
  rabta report monthly --month 2026-11 --format json | jq .total
"""


def register(subparsers: Any) -> None:
    """Add `report monthly` under the existing `report` command (`rabta report --by` stays)."""
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


def run_monthly(settings: Settings, args: argparse.Namespace) -> int:
    """Write the monthly report; return the exit status."""
    import asyncio
    return asyncio.run(_monthly(settings, args))


async def _monthly(settings: Settings, args: argparse.Namespace) -> int:
    store = await open_store(settings.db_path)
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

"""Reports: the end of the road, as a file or a terminal shows it. Rows in, table/CSV/JSON out.

Pure rendering: ivr.services.results builds the rows (counts from the store, figures from the
same sums and suppression as the dashboard); this module lays them out, and gives the web's
results export the same figure columns, so `rabta report` and /export/results.csv print one
figure the same way. No database, no I/O.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ivr.results import ResultRow

__all__ = ["COUNTS", "FIGURE_COLUMNS", "GROUP_BY", "TOTAL", "ReportRow", "figure_cells", "render"]

GROUP_BY = ("district", "service", "office", "official")
FORMATS = ("table", "csv", "json")
TOTAL = "TOTAL"
NO_GROUP = "(none)"  # e.g. a transaction logged without an official's name

# How far a group's transactions got (pending: not final yet, i.e. models.OPEN).
COUNTS = ("transactions", "attempts", "answered", "completed", "partial", "unreachable",
          "opted_out", "expired", "pending")
# A results row's figures, as the dashboard's export and `rabta report --format csv` write them.
FIGURE_COLUMNS = ("responses", "rank", "satisfaction", "satisfaction_low", "satisfaction_high",
                  "mean_rating", "bribe_answers", "bribe_rate", "bribe_low", "bribe_high",
                  "suppressed")


def _r(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(x, digits)


def figure_cells(row: ResultRow) -> list[Any]:
    """Return a results row's figures in FIGURE_COLUMNS order (None where withheld)."""
    s, b = row.satisfaction, row.bribe
    return [row.responses, row.rank, _r(s.value), _r(s.low), _r(s.high), _r(row.mean_rating, 3),
            b.n, _r(b.value), _r(b.low), _r(b.high), int(row.suppressed)]


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One group (or the TOTAL): its transactions' progress and its figures."""

    group: str
    counts: Mapping[str, int]  # COUNTS -> number
    figures: ResultRow

    @classmethod
    def of(cls, group: str, counts: Mapping[str, int], figures: ResultRow) -> ReportRow:
        """Build a row, every count present (0 when the store had none)."""
        return cls(group, {k: int(counts.get(k, 0)) for k in COUNTS}, figures)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}"


def _share(row: ResultRow, which: str) -> str:
    e = row.satisfaction if which == "satisfaction" else row.bribe
    if e.suppressed:
        return "withheld" if e.n else "-"
    return f"{_pct(e.value)}% ({_pct(e.low)}-{_pct(e.high)})"


# Table columns: header, and how to show a row's value there.
_TABLE: tuple[tuple[str, Any], ...] = (
    ("txns", lambda r: str(r.counts["transactions"])),
    ("attempts", lambda r: str(r.counts["attempts"])),
    ("answered", lambda r: str(r.counts["answered"])),
    ("completed", lambda r: str(r.counts["completed"])),
    ("partial", lambda r: str(r.counts["partial"])),
    ("unreachable", lambda r: str(r.counts["unreachable"])),
    ("opted out", lambda r: str(r.counts["opted_out"])),
    ("expired", lambda r: str(r.counts["expired"])),
    ("pending", lambda r: str(r.counts["pending"])),
    ("ratings", lambda r: str(r.figures.responses)),
    ("satisfied (95% CI)", lambda r: _share(r.figures, "satisfaction")),
    ("mean rating", lambda r: "-" if r.figures.mean_rating is None
     else f"{r.figures.mean_rating:.2f}"),
    ("bribe asked (95% CI)", lambda r: _share(r.figures, "bribe")),
    ("rank", lambda r: "-" if r.figures.rank is None else str(r.figures.rank)),
)


def _render_table(rows: Sequence[ReportRow], by: str, min_n: int | None) -> str:
    headers = [by] + [h for h, _ in _TABLE]
    cells = [[row.group] + [show(row) for _, show in _TABLE] for row in rows]
    widths = [max(len(col) for col in column) for column in zip(headers, *cells, strict=True)]

    def line(values: Sequence[str]) -> str:
        first = values[0].ljust(widths[0])
        rest = [v.rjust(w) for v, w in zip(values[1:], widths[1:], strict=True)]
        return " | ".join([first, *rest]).rstrip()

    rule = "-+-".join("-" * w for w in widths)
    out = [line(headers), rule]
    for row, values in zip(rows, cells, strict=True):
        if row.group == TOTAL:
            out.append(rule)
        out.append(line(values))
    if min_n is not None:
        out.append("")
        out.append(f"Satisfied: rating 4 or 5. Figures are weighted by 1/selection probability. "
                   f"A group with fewer than {min_n} answers shows none (withheld), nor do the "
                   f"smallest others where the total would give it away, as on the dashboard.")
    return "\n".join(out) + "\n"


# A text cell that starts with one of these is read as a formula by spreadsheet programs
# (= + - @, their full-width forms, and tab/CR, which some strip before looking).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


_PLAIN_NUMBER = re.compile(r"[+-]?[0-9][0-9 .]*")  # +923001234567, -1.5: data, not formulas


def safe_cell(value: Any) -> Any:
    """Return a cell value that no spreadsheet runs as a formula (every export writes through
    this): text starting like a formula gets a leading apostrophe; numbers, and signed numbers
    written as text (a phone number in E.164), stay as they are."""
    if (isinstance(value, str) and value.startswith(_FORMULA_START)
            and not _PLAIN_NUMBER.fullmatch(value)):
        return "'" + value
    return value


def _render_csv(rows: Sequence[ReportRow], by: str) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([by, *COUNTS, *FIGURE_COLUMNS])
    for row in rows:
        writer.writerow([safe_cell(row.group), *(row.counts[k] for k in COUNTS),
                         *("" if c is None else c for c in figure_cells(row.figures))])
    return buffer.getvalue()


def _render_json(rows: Sequence[ReportRow], by: str) -> str:
    objects = []
    for row in rows:
        figures = row.figures.as_dict()
        del figures["group"]
        objects.append({by: row.group, **row.counts, **figures})
    return json.dumps(objects, ensure_ascii=False, indent=2) + "\n"


def render(rows: Sequence[ReportRow], fmt: str, by: str = "group", *,
           min_responses: int | None = None) -> str:
    """Render report rows as an aligned table, CSV or JSON; `by` names the first column.

    JSON rows carry the same figure objects as /api/v1/results (satisfaction, bribe_rate:
    n, value, low, high, suppressed); min_responses, if given, is explained under the table.
    """
    if fmt == "table":
        return _render_table(rows, by, min_responses)
    if fmt == "csv":
        return _render_csv(rows, by)
    if fmt == "json":
        return _render_json(rows, by)
    raise ValueError(f"unknown report format {fmt!r}: choose one of {', '.join(FORMATS)}")

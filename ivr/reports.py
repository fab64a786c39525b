"""Reports: the end of the road. Per-transaction results in, one row per group out.

Pure aggregation and formatting: the store hands over one mapping per transaction and this
module counts, averages and renders it as a table, CSV or JSON. No database, no I/O.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["GROUP_BY", "TOTAL", "ReportRow", "render", "summarize"]

GROUP_BY = ("district", "service", "office", "official")
FORMATS = ("table", "csv", "json")
TOTAL = "TOTAL"
NO_GROUP = "(none)"  # e.g. a transaction logged without an official's name

_PENDING = frozenset({"pending", "scheduled", "dialing", "in_call"})
_RATINGS = frozenset({"1", "2", "3", "4", "5"})
_BRIBE_YES, _BRIBE_NO = "1", "2"


@dataclass(frozen=True)
class ReportRow:
    """Counts for one group (or the TOTAL) of transactions.

    `pending` counts transactions not yet final (pending, scheduled, dialing, in_call);
    expired transactions are in `transactions` but in no status column.
    """

    group: str
    transactions: int
    attempts: int
    answered: int
    completed: int
    partial: int
    unreachable: int
    opted_out: int
    pending: int
    ratings: int
    rating_sum: int
    bribe_yes: int
    bribe_answers: int

    @property
    def avg_rating(self) -> float | None:
        """Return the mean rating (1..5), or None when nobody rated."""
        return self.rating_sum / self.ratings if self.ratings else None

    @property
    def bribe_rate(self) -> float | None:
        """Return the share of bribe answers that were yes, or None when nobody answered."""
        return self.bribe_yes / self.bribe_answers if self.bribe_answers else None

    @property
    def completion_rate(self) -> float | None:
        """Return completed / transactions, or None for no transactions."""
        return self.completed / self.transactions if self.transactions else None


_COUNTS = tuple(f.name for f in fields(ReportRow) if f.name != "group")


class _Tally:
    """Mutable counters for one group while summarizing."""

    def __init__(self) -> None:
        self.counts = dict.fromkeys(_COUNTS, 0)

    def add(self, record: Mapping[str, Any]) -> None:
        c = self.counts
        c["transactions"] += 1
        c["attempts"] += int(record.get("attempts") or 0)
        c["answered"] += 1 if record.get("answered") else 0
        status = str(record.get("status") or "")
        if status in ("completed", "partial", "unreachable", "opted_out"):
            c[status] += 1
        elif status in _PENDING:
            c["pending"] += 1
        answers = record.get("answers") or {}
        if isinstance(answers, str):  # the export's JSON text, passed straight through
            answers = json.loads(answers)
        rating = str(answers.get("rating", "")).strip()
        if rating in _RATINGS:
            c["ratings"] += 1
            c["rating_sum"] += int(rating)
        bribe = str(answers.get("bribe", "")).strip()
        if bribe in (_BRIBE_YES, _BRIBE_NO):
            c["bribe_answers"] += 1
            c["bribe_yes"] += bribe == _BRIBE_YES

    def row(self, group: str) -> ReportRow:
        return ReportRow(group=group, **self.counts)


def summarize(records: Iterable[Mapping[str, Any]], by: str) -> list[ReportRow]:
    """Aggregate per-transaction records into rows per `by` group, sorted, then a TOTAL row."""
    if by not in GROUP_BY:
        raise ValueError(f"cannot group by {by!r}: choose one of {', '.join(GROUP_BY)}")
    groups: dict[str, _Tally] = {}
    total = _Tally()
    for record in records:
        group = str(record.get(by) or "").strip() or NO_GROUP
        groups.setdefault(group, _Tally()).add(record)
        total.add(record)
    ordered = sorted(groups, key=lambda g: (g.casefold(), g))
    return [groups[g].row(g) for g in ordered] + [total.row(TOTAL)]


# Table columns: header, and how to show a row's value there.
_TABLE: tuple[tuple[str, Any], ...] = (
    ("txns", lambda r: str(r.transactions)),
    ("attempts", lambda r: str(r.attempts)),
    ("answered", lambda r: str(r.answered)),
    ("completed", lambda r: str(r.completed)),
    ("partial", lambda r: str(r.partial)),
    ("unreachable", lambda r: str(r.unreachable)),
    ("opted out", lambda r: str(r.opted_out)),
    ("pending", lambda r: str(r.pending)),
    ("avg rating", lambda r: "-" if r.avg_rating is None else f"{r.avg_rating:.2f}"),
    ("bribe asked %", lambda r: "-" if r.bribe_rate is None else f"{100 * r.bribe_rate:.1f}"),
)


def _render_table(rows: Sequence[ReportRow], by: str) -> str:
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
    writer.writerow([by, *_COUNTS])
    for row in rows:
        writer.writerow([safe_cell(row.group), *(getattr(row, name) for name in _COUNTS)])
    return buffer.getvalue()


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _render_json(rows: Sequence[ReportRow], by: str) -> str:
    objects = []
    for row in rows:
        obj: dict[str, Any] = {by: row.group}
        obj.update((name, getattr(row, name)) for name in _COUNTS)
        obj["avg_rating"] = _rounded(row.avg_rating)
        obj["bribe_rate"] = _rounded(row.bribe_rate)
        obj["completion_rate"] = _rounded(row.completion_rate)
        objects.append(obj)
    return json.dumps(objects, ensure_ascii=False, indent=2) + "\n"


def render(rows: Sequence[ReportRow], fmt: str, by: str = "group") -> str:
    """Render report rows as an aligned table, CSV or JSON; `by` names the first column."""
    if fmt == "table":
        return _render_table(rows, by)
    if fmt == "csv":
        return _render_csv(rows, by)
    if fmt == "json":
        return _render_json(rows, by)
    raise ValueError(f"unknown report format {fmt!r}: choose one of {', '.join(FORMATS)}")

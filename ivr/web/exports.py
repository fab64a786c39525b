"""Web, exports: rows of cells as CSV or XLSX bytes, every cell through reports.safe_cell.

The end of the road, as a file an official opens in a spreadsheet program. The intake's
callers choose some of these cells (ref, name, official, office), so no text may reach a
spreadsheet as a formula: one function (ivr.reports.safe_cell) neutralises every cell of
every export, CSV and XLSX alike.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from ivr.reports import safe_cell

__all__ = ["csv_bytes", "xlsx_bytes"]


def _cells(rows: Iterable[Sequence[Any]]) -> list[list[Any]]:
    return [["" if c is None else safe_cell(c) for c in row] for row in rows]


def csv_bytes(rows: Iterable[Sequence[Any]]) -> bytes:
    """Return rows as CSV (CRLF, with a BOM so spreadsheet programs read Urdu)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(_cells(rows))
    return buffer.getvalue().encode("utf-8-sig")


def xlsx_bytes(title: str, rows: Iterable[Sequence[Any]]) -> bytes:
    """Return rows as one XLSX sheet (None cells left empty)."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    for row in rows:
        sheet.append([None if c is None else safe_cell(c) for c in row])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()

"""The monthly district report as HTML and PDF, from monthly_view's dict. Pure: dict in, text
or bytes out (fpdf2 lays out the PDF; nothing is drawn by hand).

Both show the same figures, formatted by the same functions (`pct`, `interval`), so a PDF read
back as text carries the figures of the JSON API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fpdf import FPDF
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ivr.cases import CaseAction

__all__ = ["interval", "pct", "to_html", "to_pdf"]

_FONT = Path("/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf")
_BOLD = Path("/usr/share/fonts/truetype/noto/NotoSans-Bold.ttf")
_COLUMNS = ["District", "Entered", "Contacted", "Responses", "Satisfied", "Bribe reports",
            "Actions", "Integrity flags", "Overdue now"]


def pct(value: float | None) -> str:
    """Return a share as the report prints it: '72.5%', or 'withheld' (too few answers)."""
    return "withheld" if value is None else f"{100 * value:.1f}%"


def interval(est: dict[str, Any]) -> str:
    """Return an estimate's 95% interval as printed: '65.0-79.1%', or '' when withheld."""
    if est.get("value") is None:
        return ""
    return f"{100 * est['low']:.1f}-{100 * est['high']:.1f}%"


def _cells(name: str, d: dict[str, Any]) -> list[str]:
    return [name, str(d["transactions"]), str(d["contacted"]), str(d["responses"]),
            pct(d["satisfaction"]["value"]), pct(d["bribe_rate"]["value"]),
            str(sum(d["actions"].values())), str(d["integrity_flags"]), str(d["overdue_cases"])]


def _title(report: dict[str, Any]) -> str:
    where = f"district {report['district']}" if report.get("district") else "the province"
    return f"Monthly report {report['month']}: {where}"


_HTML = Environment(loader=FileSystemLoader(Path(__file__).parent),
                    autoescape=select_autoescape(default=True)).get_template("monthly.html")


def _rows(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    rows = [(d["district"], d) for d in report["districts"]]
    if not report.get("district"):
        rows.append(("Province", report["total"]))
    return rows


def to_html(report: dict[str, Any]) -> str:
    """Return the monthly report as one self-contained HTML page."""
    return _HTML.render(title=_title(report), r=report, rows=_rows(report), columns=_COLUMNS,
                        cells=_cells, pct=pct, interval=interval,
                        actions=[a.value for a in CaseAction])


def to_pdf(report: dict[str, Any]) -> bytes:
    """Return the monthly report as a PDF (A4 landscape), laid out by fpdf2."""
    pdf = FPDF(orientation="L", format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    if _FONT.exists() and _BOLD.exists():
        pdf.add_font("Noto", "", str(_FONT))
        pdf.add_font("Noto", "B", str(_BOLD))
        family = "Noto"
    else:  # a machine without fonts-noto-core: the core font (Latin-1 text only)
        family = "Helvetica"
    pdf.set_title(_title(report))
    pdf.set_creator("Rabta")
    pdf.add_page()
    pdf.set_font(family, "B", 15)
    pdf.cell(0, 10, _title(report), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "", 9)
    pdf.multi_cell(0, 5, f"Shares below {report['min_responses']} answers are withheld. "
                   "Intervals are 95%.", new_x="LMARGIN", new_y="NEXT")

    def table(title: str, head: list[str], body: list[list[str]]) -> None:
        pdf.set_font(family, "B", 11)
        pdf.cell(0, 9, title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(family, "", 8)
        with pdf.table(text_align="RIGHT", first_row_as_headings=True) as t:
            for values in [head, *body]:
                row = t.row()
                for v in values:
                    row.cell(v)
        pdf.ln(3)

    rows = _rows(report)
    table("Districts", _COLUMNS, [_cells(name, d) for name, d in rows])
    table("Satisfaction and bribe reports, with intervals",
          ["District", "Satisfied", "95% interval", "Bribe reports", "95% interval"],
          [[name, pct(d["satisfaction"]["value"]), interval(d["satisfaction"]),
            pct(d["bribe_rate"]["value"]), interval(d["bribe_rate"])] for name, d in rows])
    actions = [a.value for a in CaseAction]
    table("Actions taken", ["District", *[a.replace("_", " ") for a in actions]],
          [[name, *[str(d["actions"][a]) for a in actions]] for name, d in rows])
    pdf.set_font(family, "B", 11)
    pdf.cell(0, 9, "Data integrity flags", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "", 8)
    for f in report["flags"] or [{"office": "None", "reason": "no office's share differs from "
                                  "its district's or the province's beyond chance"}]:
        pdf.multi_cell(0, 4.5, f"{f['office']}: {f['reason']}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font(family, "B", 11)
    pdf.cell(0, 9, "Offices that stand out", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "", 8)
    standing = report["offices_standing_out"]
    if not standing:
        pdf.multi_cell(0, 4.5, "None: where the numbers do not allow it, no office is singled out.",
                       new_x="LMARGIN", new_y="NEXT")
    for o in standing:
        pdf.multi_cell(0, 4.5, f"{o['office']} ({o['district']}): satisfaction "
                       f"{pct(o['satisfaction'])} ({pct(o['low'])} to {pct(o['high'])}), "
                       f"credibly {o['stands_out']} the group.", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())

"""Unit tests for ivr.reports: report rows rendered as a table, CSV and JSON (pure).

The rows' figures come from ivr.results (the dashboard's rules); what the store reads and how
the figures agree with the dashboard is tested in test_one_figure.py.
"""

from __future__ import annotations

import csv
import io
import json

import pytest

from ivr.reports import COUNTS, FIGURE_COLUMNS, TOTAL, ReportRow, figure_cells, render
from ivr.results import GroupSums, summarize


def sums(rated: int, satisfied: int, bribes: int = 0, yes: int = 0) -> GroupSums:
    """Unweighted sums: `rated` ratings of which `satisfied` were 4-5 (each rated 5 or 2)."""
    return GroupSums(rated=rated, rated_w=rated, rated_w2=rated, satisfied_w=satisfied,
                     rating_sum_w=5 * satisfied + 2 * (rated - satisfied), bribe_n=bribes,
                     bribe_w=bribes, bribe_w2=bribes, bribe_yes_w=yes)


GROUPS = [("Attock", sums(0, 0)), ("Lahore", sums(20, 15, 20, 2)), ("Multan", sums(12, 6, 12, 6)),
          ("Okara", sums(3, 3, 3, 0))]
COUNT = {"transactions": 30, "attempts": 41, "answered": 25, "completed": 20, "partial": 2,
         "unreachable": 3, "opted_out": 1, "expired": 1, "pending": 3}


def rows() -> list[ReportRow]:
    shown, total = summarize(GROUPS, 10)
    out = [ReportRow.of(name, COUNT, row) for (name, _), row in zip(GROUPS, shown, strict=True)]
    return [*out, ReportRow.of(TOTAL, {k: 4 * v for k, v in COUNT.items()}, total)]


def test_missing_counts_are_zero() -> None:
    (row,) = summarize([("x", sums(0, 0))], 10)[0]
    assert ReportRow.of("x", {"transactions": 2}, row).counts == {**dict.fromkeys(COUNTS, 0),
                                                                  "transactions": 2}


def test_table_withholds_what_the_dashboard_withholds() -> None:
    text = render(rows(), "table", by="district", min_responses=10)
    lines = {line.split("|")[0].strip(): line for line in text.splitlines() if "|" in line}
    assert lines["district"].split("|")[1].strip() == "txns"
    assert "75% (53-89)" in lines["Lahore"]  # 15 of 20, with its Wilson interval
    assert " 10% " in lines["Lahore"]
    assert "withheld" in lines["Okara"] and "%" not in lines["Okara"]  # 3 < 10
    assert "withheld" in lines["Multan"] and "%" not in lines["Multan"]  # 3 + 12: complementary
    assert lines["Attock"].rstrip().endswith("- |                    - |    -")  # no answers
    assert "%" in lines[TOTAL]
    assert "fewer than 10 answers shows none" in text


def test_table_widens_for_long_group_names() -> None:
    (row,) = summarize([("Dera Ghazi Khan", sums(10, 10))], 10)[0]
    text = render([ReportRow.of("Dera Ghazi Khan", COUNT, row)], "table", by="district")
    assert text.splitlines()[0].startswith("district        | txns |")
    assert text.splitlines()[2].startswith("Dera Ghazi Khan |   30 |")


def test_csv_has_the_counts_then_the_exports_figure_cells() -> None:
    header, *lines = list(csv.reader(io.StringIO(render(rows(), "csv", by="district"))))
    assert header == ["district", *COUNTS, *FIGURE_COLUMNS]
    by_group = {line[0]: line for line in lines}
    assert by_group["Lahore"][1:1 + len(COUNTS)] == [str(COUNT[k]) for k in COUNTS]
    lahore = next(r for r in rows() if r.group == "Lahore")
    assert by_group["Lahore"][1 + len(COUNTS):] == [
        "" if c is None else str(c) for c in figure_cells(lahore.figures)]
    okara = dict(zip(header, by_group["Okara"], strict=True))
    assert (okara["responses"], okara["satisfaction"], okara["suppressed"]) == ("3", "", "1")


def test_json_rows_carry_the_apis_figure_objects() -> None:
    data = json.loads(render(rows(), "json", by="district"))
    assert [d["district"] for d in data] == ["Attock", "Lahore", "Multan", "Okara", TOTAL]
    lahore = next(r for r in rows() if r.group == "Lahore")
    expected = lahore.figures.as_dict()
    del expected["group"]
    assert data[1] == {"district": "Lahore", **COUNT, **expected}
    assert data[3]["satisfaction"] == {"n": 3, "value": None, "low": None, "high": None,
                                       "suppressed": True}
    assert data[1]["rank"] == 1 and data[3]["rank"] is None


def test_json_keeps_urdu_readable() -> None:
    (row,) = summarize([("لاہور", sums(0, 0))], 10)[0]
    assert '"district": "لاہور"' in render([ReportRow.of("لاہور", {}, row)], "json",
                                            by="district")


def test_render_rejects_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown report format 'xml'"):
        render(rows(), "xml")

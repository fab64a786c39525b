"""Unit tests for ivr.reports: aggregation per group and the three renderings."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ivr.models import TxStatus
from ivr.reports import GROUP_BY, ReportRow, render, summarize


def rec(district: str, status: str, attempts: int, answered: bool, answers: Any = None,
        official: str = "Bilal", service: str = "Domicile") -> dict[str, Any]:
    return {
        "district": district,
        "service": service,
        "office": f"DC Office {district}",
        "official": official,
        "status": status,
        "attempts": attempts,
        "answered": answered,
        "answers": answers,
    }


RECORDS = [
    rec("Lahore", "completed", 1, True, {"rating": "4", "bribe": "2"}),
    rec("Lahore", "partial", 2, True, {"rating": "5", "bribe": "1"}, official=""),
    rec("Lahore", TxStatus.COMPLETED, 1, True, {"rating": "2", "bribe": "2"}),
    rec("Multan", "unreachable", 3, False, {}, service="Licence"),
    rec("Multan", "opted_out", 1, True, {"rating": "9", "bribe": "*"}, service="Licence"),
    rec("attock", "pending", 0, False, None, service="Licence"),
    rec("attock", "scheduled", 1, False, {}, official=""),
    rec("attock", "expired", 3, False, {}),
]


def test_summarize_by_district() -> None:
    assert summarize(RECORDS, "district") == [
        ReportRow("attock", 3, 4, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0),
        ReportRow("Lahore", 3, 4, 3, 2, 1, 0, 0, 0, 3, 11, 1, 3),
        ReportRow("Multan", 2, 4, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0),
        ReportRow("TOTAL", 8, 12, 4, 2, 1, 1, 1, 2, 3, 11, 1, 3),
    ]


def test_summarize_by_official_names_the_blank_group() -> None:
    rows = summarize(RECORDS, "official")
    assert [(r.group, r.transactions) for r in rows] == [("(none)", 2), ("Bilal", 6), ("TOTAL", 8)]


@pytest.mark.parametrize("by", GROUP_BY)
def test_total_is_the_same_whatever_the_grouping(by: str) -> None:
    total = summarize(RECORDS, by)[-1]
    assert total == ReportRow("TOTAL", 8, 12, 4, 2, 1, 1, 1, 2, 3, 11, 1, 3)
    assert sum(r.transactions for r in summarize(RECORDS, by)[:-1]) == 8


def test_summarize_nothing_gives_a_zero_total() -> None:
    (total,) = summarize([], "district")
    assert total == ReportRow("TOTAL", *([0] * 12))
    assert (total.avg_rating, total.bribe_rate, total.completion_rate) == (None, None, None)


def test_summarize_rejects_unknown_grouping() -> None:
    with pytest.raises(ValueError, match="cannot group by 'mobile'"):
        summarize(RECORDS, "mobile")


def test_rates() -> None:
    row = summarize(RECORDS, "district")[1]
    assert row.avg_rating == pytest.approx(11 / 3)
    assert row.bribe_rate == pytest.approx(1 / 3)
    assert row.completion_rate == pytest.approx(2 / 3)


def test_answers_may_arrive_as_export_json_text() -> None:
    rows = summarize([rec("Lahore", "completed", 1, True, '{"rating": "3", "bribe": "1"}')],
                     "district")
    assert (rows[0].ratings, rows[0].rating_sum, rows[0].bribe_yes) == (1, 3, 1)


TABLE = """\
district | txns | attempts | answered | completed | partial | unreachable | opted out | pending | avg rating | bribe asked %
---------+------+----------+----------+-----------+---------+-------------+-----------+---------+------------+--------------
attock   |    3 |        4 |        0 |         0 |       0 |           0 |         0 |       2 |          - |             -
Lahore   |    3 |        4 |        3 |         2 |       1 |           0 |         0 |       0 |       3.67 |          33.3
Multan   |    2 |        4 |        1 |         0 |       0 |           1 |         1 |       0 |          - |             -
---------+------+----------+----------+-----------+---------+-------------+-----------+---------+------------+--------------
TOTAL    |    8 |       12 |        4 |         2 |       1 |           1 |         1 |       2 |       3.67 |          33.3
"""  # noqa: E501

CSV = """\
district,transactions,attempts,answered,completed,partial,unreachable,opted_out,pending,ratings,rating_sum,bribe_yes,bribe_answers
attock,3,4,0,0,0,0,0,2,0,0,0,0
Lahore,3,4,3,2,1,0,0,0,3,11,1,3
Multan,2,4,1,0,0,1,1,0,0,0,0,0
TOTAL,8,12,4,2,1,1,1,2,3,11,1,3
"""


def test_render_table() -> None:
    assert render(summarize(RECORDS, "district"), "table", by="district") == TABLE


def test_render_table_widens_for_long_group_names() -> None:
    rows = summarize([rec("Dera Ghazi Khan", "completed", 1, True, {"rating": "5"})], "district")
    text = render(rows, "table", by="district")
    assert text.splitlines()[0].startswith("district        | txns |")
    assert text.splitlines()[2].startswith("Dera Ghazi Khan |    1 |")
    assert text.splitlines()[2].endswith("|       5.00 |             -")


def test_render_csv() -> None:
    assert render(summarize(RECORDS, "district"), "csv", by="district") == CSV


def test_render_json() -> None:
    data = json.loads(render(summarize(RECORDS, "district"), "json", by="district"))
    assert [d["district"] for d in data] == ["attock", "Lahore", "Multan", "TOTAL"]
    assert data[1] == {
        "district": "Lahore", "transactions": 3, "attempts": 4, "answered": 3, "completed": 2,
        "partial": 1, "unreachable": 0, "opted_out": 0, "pending": 0, "ratings": 3,
        "rating_sum": 11, "bribe_yes": 1, "bribe_answers": 3,
        "avg_rating": 3.667, "bribe_rate": 0.333, "completion_rate": 0.667,
    }
    assert (data[0]["avg_rating"], data[0]["bribe_rate"], data[0]["completion_rate"]) == (
        None, None, 0.0)
    assert data[3]["completion_rate"] == 0.25


def test_render_json_keeps_urdu_readable() -> None:
    text = render(summarize([rec("لاہور", "completed", 1, True)], "district"), "json",
                  by="district")
    assert '"district": "لاہور"' in text


def test_render_rejects_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown report format 'xml'"):
        render(summarize(RECORDS, "district"), "xml")

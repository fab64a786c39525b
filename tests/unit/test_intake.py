"""Unit tests for ivr.intake: the transactions CSV and the one row validator behind it."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.errors import ConfigError, InputError, InvalidRow
from ivr.intake import FIELDS, format_errors, parse_transactions_csv, validate_transaction
from ivr.models import Transaction

NOW = datetime(2024, 5, 2, 12, 0, tzinfo=UTC)
PKT = ZoneInfo("Asia/Karachi")
HEADER = ",".join(FIELDS)

BASE: dict[str, str] = {
    "ref": "DC-1",
    "name": "Ali Khan",
    "mobile": "0300-1234567",
    "service": "Domicile",
    "office": "DC Office Lahore",
    "district": "Lahore",
    "official": "Bilal",
    "visited_at": "2024-05-01T09:00",
    "language": "ur",
}


def row(**changes: str) -> str:
    """Return one CSV line for BASE with `changes`, quoted as csv.writer would."""
    values = {**BASE, **changes}
    return cells(*(values[f] for f in FIELDS))


def cells(*values: str) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def parse(text: str, **kwargs: Any) -> tuple[list[Transaction], list[tuple[int, str, str]]]:
    kwargs.setdefault("now", NOW)
    kwargs.setdefault("source", "t.csv")
    # newline="" is what open() should be given for csv, so the StringIO mimics a file.
    return parse_transactions_csv(io.StringIO(text, newline=""), **kwargs)


def lines(*parts: str) -> str:
    return "".join(part if part.endswith("\n") else part + "\n" for part in parts)


# -- good files ----------------------------------------------------------------------------


def test_good_file() -> None:
    text = lines(
        HEADER,
        row(),
        row(ref="DC-2", name="", mobile="+923451234567", official="", language="",
            visited_at="2024-05-01T10:30:00+05:00"),
    )
    good, errors = parse(text)
    assert errors == []
    assert good == [
        Transaction(
            office="DC Office Lahore", ref="DC-1", name="Ali Khan", mobile="+923001234567",
            service="Domicile", district="Lahore", official="Bilal",
            visited_at=datetime(2024, 5, 1, 9, 0, tzinfo=PKT), language="ur",
        ),
        Transaction(
            office="DC Office Lahore", ref="DC-2", name="", mobile="+923451234567",
            service="Domicile", district="Lahore", official="",
            visited_at=datetime(2024, 5, 1, 5, 30, tzinfo=UTC), language=None,
        ),
    ]


def test_header_only_is_empty_not_an_error() -> None:
    assert parse(lines(HEADER)) == ([], [])


def test_utf8_bom_in_text() -> None:
    good, errors = parse("\ufeff" + lines(HEADER, row()))
    assert errors == []
    assert [t.ref for t in good] == ["DC-1"]


def test_utf8_bom_in_bytes() -> None:
    data = ("\ufeff" + lines(HEADER, row(name="علی خان"))).encode("utf-8")
    good, errors = parse_transactions_csv(io.BytesIO(data), now=NOW)
    assert errors == []
    assert good[0].name == "علی خان"


def test_bom_file_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "transactions.csv"
    path.write_bytes(("\ufeff" + lines(HEADER, row())).encode("utf-8"))
    with path.open(encoding="utf-8", newline="") as stream:
        good, errors = parse_transactions_csv(stream, source=path.name, now=NOW)
    assert (len(good), errors) == (1, [])


def test_columns_in_any_order_and_any_case() -> None:
    order = ["Language", "visited_at", "MOBILE", " ref ", "office", "district", "service",
             "official", "name"]
    values = {**BASE}
    text = lines(cells(*order), cells(*(values[c.strip().lower()] for c in order)))
    good, errors = parse(text)
    assert errors == []
    assert good[0].mobile == "+923001234567"
    assert good[0].language == "ur"


def test_optional_columns_may_be_left_out() -> None:
    text = lines("ref,mobile,service,office,district,visited_at",
                 "R1,03001234567,Domicile,DC,Lahore,2024-05-01T09:00")
    good, errors = parse(text)
    assert errors == []
    assert (good[0].name, good[0].official, good[0].language) == ("", "", None)


def test_crlf_line_endings_keep_line_numbers() -> None:
    text = lines(HEADER, row(), row(ref="DC-2", mobile="x")).replace("\n", "\r\n")
    _, errors = parse(text)
    assert errors == [(3, "mobile", "not a number ('***')")]


# -- whole-file problems -------------------------------------------------------------------


def test_missing_columns_is_a_whole_file_error() -> None:
    text = lines("ref,name,service,district,official,visited_at,language", "")
    with pytest.raises(InputError) as info:
        parse(text)
    assert "t.csv:1: missing required columns: mobile, office" in str(info.value)


@pytest.mark.parametrize("text", ["", "\n\n", "\ufeff"])
def test_empty_file_is_a_whole_file_error(text: str) -> None:
    with pytest.raises(InputError, match="empty file"):
        parse(text)


def test_duplicate_column_is_a_whole_file_error() -> None:
    with pytest.raises(InputError, match=r"t\.csv:1: column 'mobile' appears more than once"):
        parse(lines(HEADER + ",mobile"))


def test_unknown_columns_stop_the_file_and_name_the_closest_known_one() -> None:
    # Kept rows would lose the column for good: a fixed file re-imported finds them "known".
    text = lines(HEADER.replace("language", "Langauge") + ",notes",
                 row().rstrip("\n") + ",hello")
    with pytest.raises(InputError) as info:
        parse(text)
    assert str(info.value) == (
        "t.csv:1: unknown columns 'langauge' (did you mean 'language'?); 'notes'; nothing was "
        "imported (the columns are ref,name,mobile,service,office,district,official,"
        "visited_at,language)")


def test_an_empty_header_cell_from_a_trailing_comma_is_no_column() -> None:
    good, errors = parse(lines(HEADER + ",", row().rstrip("\n") + ","))
    assert ([t.ref for t in good], errors) == (["DC-1"], [])


def test_a_semicolon_separated_file_gets_a_hint() -> None:
    text = lines(HEADER.replace(",", ";"), row().replace(",", ";"))
    with pytest.raises(InputError, match=r"^t\.csv:1: missing required columns: .*"
                                         r"the header looks separated by semicolons \(;\): "
                                         r"Rabta reads comma-separated CSV"):
        parse(text)


def test_text_after_a_closing_quote_rejects_that_row_only() -> None:
    good, errors = parse(lines(HEADER, row(), 'DC-2,"Ali" Khan,03001234567,Domicile,'
                                              'DC Office Lahore,Lahore,Bilal,2024-05-01T09:00,ur',
                               row(ref="DC-3")))
    assert [t.ref for t in good] == ["DC-1", "DC-3"]
    assert [(line, field) for line, field, _ in errors] == [(3, "row")]
    assert "double a quote inside a quoted cell" in errors[0][2]


def test_nul_byte_is_a_whole_file_error_with_line() -> None:
    text = lines(HEADER, row(), row(ref="DC\x002"))
    with pytest.raises(InputError, match=r"^t\.csv:3: contains a NUL byte"):
        parse(text)


def test_undecodable_bytes_is_a_whole_file_error_with_line() -> None:
    data = lines(HEADER, row()).encode() + b"DC-2,\xff\xfe,03001234567\n"
    with pytest.raises(InputError, match=r"^t\.csv:3: not valid UTF-8 \(byte 0xff at column 6\)"):
        parse_transactions_csv(io.BytesIO(data), source="t.csv", now=NOW)


def test_utf16_file_gets_a_hint() -> None:
    data = lines(HEADER, row()).encode("utf-16")
    with pytest.raises(InputError, match="UTF-16"):
        parse_transactions_csv(io.BytesIO(data), source="t.csv", now=NOW)


def test_undecodable_text_file_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(lines(HEADER, row()).encode() + b"\xff\n")
    with path.open(encoding="utf-8", newline="") as stream, pytest.raises(InputError,
                                                                          match="not valid UTF-8"):
        parse_transactions_csv(stream, source="t.csv", now=NOW)


def test_text_instead_of_stream_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        parse_transactions_csv(lines(HEADER, row()))


def test_unknown_default_tz_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="Asia/Lahore"):
        parse(lines(HEADER, row()), default_tz="Asia/Lahore")


# -- bad rows: exact lines, fields and reasons ---------------------------------------------

# Line 1 header, line 2 a good row, lines 3-5 one good row whose quoted name spans three
# physical lines (the line breaks are at its end, so the stripped name is fine), then the
# row under test on line 6 and a good row on line 7.
PRELUDE = lines(HEADER, row()) + 'DC-ML,"Ali Khan\n\n",03001234567,Domicile,DC Office Lahore,' \
    "Lahore,Bilal,2024-05-01T09:00,ur\n"

BAD_ROWS = [
    ({"ref": ""}, "ref", "required"),
    ({"ref": "   "}, "ref", "required"),
    ({"ref": "R" * 65}, "ref", "too long (65 characters, max 64)"),
    ({"mobile": ""}, "mobile", "required"),
    ({"mobile": "0421234567"}, "mobile", "not a mobile number ('0421****67')"),
    ({"mobile": "+14155550123"}, "mobile", "not a Pakistani number ('+1415*****23')"),
    ({"mobile": "0300-12345"}, "mobile", "too short ('0300***45')"),
    ({"mobile": "call me"}, "mobile", "not a number ('***')"),
    ({"mobile": "0300\x001234567".replace("\x00", "\x07")}, "mobile",
     "contains a control character ('***')"),
    ({"service": ""}, "service", "required"),
    ({"service": "S" * 201}, "service", "too long (201 characters, max 200)"),
    ({"office": "  "}, "office", "required"),
    ({"district": ""}, "district", "required"),
    ({"name": "N" * 201}, "name", "too long (201 characters, max 200)"),
    ({"name": "Ali\x07"}, "name", "contains a control character ('Ali\\x07')"),
    ({"official": "a\tb"}, "official", "contains a control character ('a\\tb')"),
    ({"official": "a\u2028b"}, "official", "contains a control character ('a\\u2028b')"),
    ({"visited_at": ""}, "visited_at", "required"),
    ({"visited_at": "2024-05-01"}, "visited_at", "date without a time ('2024-05-01')"),
    ({"visited_at": "yesterday"}, "visited_at", "not an ISO 8601 date and time ('yesterday')"),
    ({"visited_at": "01/05/2024 09:00"}, "visited_at",
     "not an ISO 8601 date and time ('01/05/2024 09:00')"),
    ({"visited_at": "2024-05-01x09:00"}, "visited_at",
     "not an ISO 8601 date and time ('2024-05-01x09:00')"),
    ({"visited_at": "2024-13-01T09:00"}, "visited_at",
     "not an ISO 8601 date and time ('2024-13-01T09:00')"),
    ({"visited_at": "2024-05-04T09:00"}, "visited_at",
     "in the future ('2024-05-04T09:00:00+05:00')"),
    ({"language": "urdu"}, "language", "must be one of ur, pa, en or empty ('urdu')"),
    ({"language": "FR"}, "language", "must be one of ur, pa, en or empty ('fr')"),
]


@pytest.mark.parametrize(("changes", "field", "reason"), BAD_ROWS)
def test_bad_field_is_collected_with_exact_line(
    changes: dict[str, str], field: str, reason: str
) -> None:
    text = PRELUDE + row(**{"ref": "DC-BAD", **changes}) + row(ref="DC-LAST")
    good, errors = parse(text)
    assert errors == [(6, field, reason)]
    assert [t.ref for t in good] == ["DC-1", "DC-ML", "DC-LAST"]
    assert good[1].name == "Ali Khan"


def test_line_break_inside_a_value_is_an_error_at_the_row_start() -> None:
    text = lines(HEADER, row(name="Ali\nKhan"), row(ref="DC-2", mobile="0421234567"))
    good, errors = parse(text)
    assert good == []
    assert errors == [
        (2, "name", "contains a control character ('Ali\\nKhan') (row spans lines 2-3)"),
        (4, "mobile", "not a mobile number ('0421****67')"),
    ]


def test_unclosed_quote_stops_the_file_and_names_its_line() -> None:
    text = lines(HEADER, row(), 'DC-2,"Ali,03001234567', row(ref="DC-3"), row(ref="DC-4"))
    with pytest.raises(InputError, match=r'^t\.csv:3: a quote \("\) opened on this line is '
                                         r"never closed"):
        parse(text)


def test_a_quote_closed_rows_later_names_where_it_opened() -> None:
    text = lines(HEADER, row(), 'DC-2,"Ali,03001234567', row(ref="DC-3"), 'x",y')
    good, errors = parse(text)
    assert [t.ref for t in good] == ["DC-1"]
    assert errors == [(3, "row", "expected 9 cells, got 3 (row spans lines 3-5); is a quote (\")"
                                 " on line 3 not closed?")]


@pytest.mark.parametrize(
    ("line", "count"),
    [
        (cells(*BASE.values())[:-4] + "\n", 8),  # last cell cut off with its comma
        (row().rstrip("\n") + ",extra\n", 10),
        ("just one cell\n", 1),
    ],
)
def test_wrong_cell_count(line: str, count: int) -> None:
    good, errors = parse(lines(HEADER, row(), line))
    assert errors == [(3, "row", f"expected 9 cells, got {count}")]
    assert len(good) == 1


def test_blank_rows_are_skipped_but_counted() -> None:
    text = lines(HEADER, "", row(), ",,,,,,,,", "  ", row(ref="DC-2", mobile="x"))
    good, errors = parse(text)
    assert len(good) == 1
    assert errors == [(6, "mobile", "not a number ('***')")]


# -- duplicates ----------------------------------------------------------------------------


def test_duplicate_office_ref_keeps_the_first() -> None:
    text = lines(
        HEADER,
        row(name="first"),
        row(ref="DC-2"),
        row(name="second"),
        row(ref=" DC-1 ", name="third"),  # the same ref once stripped
        row(office="DC Office Multan", name="other office"),
    )
    good, errors = parse(text)
    assert [(t.office, t.ref, t.name) for t in good] == [
        ("DC Office Lahore", "DC-1", "first"),
        ("DC Office Lahore", "DC-2", "Ali Khan"),
        ("DC Office Multan", "DC-1", "other office"),
    ]
    assert errors == [(4, "ref", "duplicate of line 2"), (5, "ref", "duplicate of line 2")]


def test_duplicate_of_a_rejected_row_is_still_a_duplicate() -> None:
    text = lines(HEADER, row(mobile="0421234567"), row())
    good, errors = parse(text)
    assert good == []
    assert errors == [
        (2, "mobile", "not a mobile number ('0421****67')"),
        (3, "ref", "duplicate of line 2"),
    ]


# -- time and language ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "2024-05-01T09:00",
        "2024-05-01 09:00:00",
        "2024-05-01T09:00:00+05:00",
        "2024-05-01T04:00:00Z",
        "2024-05-01T04:00+00:00",
        "2024-05-01T00:00-04:00",
        "20240501T090000",
    ],
)
def test_visited_at_offset_or_karachi(value: str) -> None:
    good, errors = parse(lines(HEADER, row(visited_at=value)))
    assert errors == []
    assert good[0].visited_at == datetime(2024, 5, 1, 4, 0, tzinfo=UTC)
    assert good[0].visited_at.utcoffset() is not None


def test_naive_time_follows_default_tz() -> None:
    good, _ = parse(lines(HEADER, row(visited_at="2024-05-01T09:00")), default_tz="UTC")
    assert good[0].visited_at == datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("offset", "ok"),
    [
        (timedelta(days=1), True),
        (timedelta(days=1, seconds=1), False),
        (-timedelta(days=900), True),
    ],
)
def test_future_limit_is_one_day(offset: timedelta, ok: bool) -> None:
    when = (NOW + offset).isoformat()
    _, errors = parse(lines(HEADER, row(visited_at=when)))
    assert (errors == []) is ok


@pytest.mark.parametrize(("value", "expected"),
                         [("", None), ("  ", None), ("UR", "ur"), (" Pa ", "pa"), ("en", "en")])
def test_language(value: str, expected: str | None) -> None:
    good, errors = parse(lines(HEADER, row(language=value)))
    assert errors == []
    assert good[0].language == expected


# -- the shared validator (the intake API sends the same fields as JSON) -------------------


def test_validate_transaction_accepts_json_values() -> None:
    record = {**BASE, "ref": 1234, "mobile": 3001234567, "name": None, "language": None,
              "visited_at": datetime(2024, 5, 1, 9, 0)}
    tx = validate_transaction(record, line=1, now=NOW)
    assert (tx.ref, tx.mobile, tx.name, tx.language) == ("1234", "+923001234567", "", None)
    assert tx.visited_at == datetime(2024, 5, 1, 4, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("record", "field", "reason"),
    [
        ({**BASE, "langauge": "ur"}, "langauge", "unknown field (did you mean 'language'?)"),
        ({**BASE, "notes": "x"}, "notes", "unknown field"),
        ({k: v for k, v in BASE.items() if k != "office"}, "office", "required"),
        ({**BASE, "mobile": 3.0e9}, "mobile", "must be text, not float"),
        ({**BASE, "ref": True}, "ref", "must be text, not bool"),
        ({**BASE, "visited_at": ["2024"]}, "visited_at", "must be text, not list"),
    ],
)
def test_validate_transaction_rejects(record: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(InvalidRow) as info:
        validate_transaction(record, line=7, now=NOW)
    assert (info.value.line, info.value.field, info.value.reason) == (7, field, reason)


def test_validate_transaction_wants_an_aware_now() -> None:
    with pytest.raises(ValueError, match="aware"):
        validate_transaction(BASE, line=1, now=datetime(2024, 5, 2))


# -- formatting ----------------------------------------------------------------------------


def test_format_errors() -> None:
    errors = [(1, "header", "unknown columns ignored: 'notes'"),
              (7, "mobile", "not a mobile number ('0421****67')")]
    assert format_errors(errors, "transactions.csv") == (
        "transactions.csv:1: header: unknown columns ignored: 'notes'\n"
        "transactions.csv:7: mobile: not a mobile number ('0421****67')"
    )
    assert format_errors([], "x.csv") == ""


def test_errors_never_show_a_whole_mobile_number() -> None:
    numbers = ["03001234567x", "+923001234567890", "0300123456", "04212345678"]
    text = lines(HEADER, *(row(ref=f"R{i}", mobile=n) for i, n in enumerate(numbers)))
    _, errors = parse(text)
    report = format_errors(errors, "t.csv")
    assert len(errors) == len(numbers)
    for number in numbers:
        assert number not in report
        assert "1234567" not in report


# -- no row can crash the reader -----------------------------------------------------------

cell_text = st.text(max_size=30) | st.sampled_from(
    ["", "03001234567", "+923001234567", "0421234567", "2024-05-01T09:00", "ur", "x" * 250]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(cell_text, min_size=0, max_size=11), max_size=6))
def test_arbitrary_rows_never_raise(rows: Sequence[Sequence[str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # "\r\n" terminator, so a lone "\r" in a cell gets quoted
    writer.writerow(FIELDS)
    writer.writerows(rows)
    try:
        good, errors = parse(buffer.getvalue())
    except InputError:
        return  # a whole-file problem (e.g. a NUL byte), reported with its line
    assert all(isinstance(t, Transaction) for t in good)
    assert all(isinstance(line, int) and line >= 2 for line, _, _ in errors)
    assert len(good) + len(errors) <= len(rows)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_arbitrary_text_after_header_never_raises(body: str) -> None:
    try:
        good, errors = parse(HEADER + "\n" + body)
    except InputError:
        return
    assert all(line >= 2 for line, _, _ in errors)
    assert len(good) + len(errors) <= body.count("\n") + body.count("\r") + 1


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_as_whole_file_never_raises(text: str) -> None:
    try:
        parse(text)
    except InputError:
        pass

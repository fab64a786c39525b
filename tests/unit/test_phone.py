"""Unit tests for ivr.phone: what counts as a Pakistani mobile number, and how it is masked."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.errors import InvalidNumber
from ivr.phone import digits, mask, national, normalize, operator_prefix

E164_PK_MOBILE = re.compile(r"^\+923\d{9}$")

ACCEPTED = [
    ("03001234567", "+923001234567"),
    ("0300-1234567", "+923001234567"),
    ("0300 1234567", "+923001234567"),
    ("+923001234567", "+923001234567"),
    ("923001234567", "+923001234567"),
    ("00923001234567", "+923001234567"),
    ("3001234567", "+923001234567"),
    ("  03001234567\t", "+923001234567"),
    ("+92 300 1234567", "+923001234567"),
    ("(0300) 123-4567", "+923001234567"),
    ("0300.1234567", "+923001234567"),
    ("۰۳۰۰۱۲۳۴۵۶۷", "+923001234567"),  # Extended Arabic-Indic digits, as an Urdu keyboard types
    ("0311-7654321", "+923117654321"),
    ("0345 0000000", "+923450000000"),
    ("03551234567", "+923551234567"),
]

REJECTED = [
    ("", "empty"),
    ("   ", "empty"),
    ("abc", "not a number"),
    ("0300-CALLME", "not a number"),
    ("1-800-FLOWERS", "not a number"),
    ("03001234567 x5", "not a number"),
    ("0300+1234567", "not a number"),
    ("---", "not a number"),
    ("0421234567", "not a mobile number"),  # Lahore landline, written short
    ("04212345678", "not a mobile number"),  # Lahore landline
    ("+92421234567", "not a mobile number"),
    ("+924212345678", "not a mobile number"),
    ("03801234567", "not a mobile number"),  # 038x is no operator's prefix
    ("+14155550123", "not a Pakistani number"),
    ("00447911123456", "not a Pakistani number"),
    ("+0300", "not a Pakistani number"),
    ("0300123", "too short"),
    ("0300123456", "too short"),
    ("92300123456", "too short"),
    ("0", "too short"),
    ("+92", "too short"),
    ("030012345678", "too long"),
    ("0" * 30, "too long"),
]


@pytest.mark.parametrize(("raw", "expected"), ACCEPTED)
def test_normalize_accepts(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize(("raw", "reason"), REJECTED)
def test_normalize_rejects_with_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidNumber) as info:
        normalize(raw)
    assert str(info.value) == reason


def test_helpers() -> None:
    assert digits("+923001234567") == "923001234567"
    assert national("+923001234567") == "03001234567"
    assert operator_prefix("+923001234567") == "0300"
    assert operator_prefix("+923451234567") == "0345"


@pytest.mark.parametrize("bad", ["03001234567", "923001234567", "+92421234567", "", "+"])
def test_national_and_prefix_want_normalized_mobile(bad: str) -> None:
    with pytest.raises(InvalidNumber):
        national(bad)
    with pytest.raises(InvalidNumber):
        operator_prefix(bad)


@pytest.mark.parametrize("bad", ["923001234567", "", "+", "+0123", "abc"])
def test_digits_wants_e164(bad: str) -> None:
    with pytest.raises(InvalidNumber):
        digits(bad)


MASKED = [
    ("+923001234567", "+92300*****67"),
    ("03001234567", "+92300*****67"),  # any accepted form masks to the same text
    ("0300-1234567", "+92300*****67"),
    ("0421234567", "0421****67"),  # not a mobile, still somebody's number
    ("+14155550123", "+1415*****23"),
    ("", "***"),
    ("abc", "***"),
    ("0300123", "***"),  # too short to keep anything
    ("Ali Khan 03001234567", "***"),
    ("\x00\ud800", "***"),
    ("9" * 40, "***"),
]


@pytest.mark.parametrize(("raw", "expected"), MASKED)
def test_mask(raw: str, expected: str) -> None:
    assert mask(raw) == expected


def test_mask_hides_the_middle() -> None:
    masked = mask("+923001234567")
    assert "1234" not in masked
    assert "12345" not in masked.replace("*", "")


@given(st.text())
def test_normalize_returns_e164_or_raises_invalid_number(raw: str) -> None:
    try:
        result = normalize(raw)
    except InvalidNumber:
        return
    assert E164_PK_MOBILE.match(result)


@given(st.from_regex(r"\A(\+92|0092|92|0)?3[0-4][0-9][ -]?[0-9]{7}\Z"))
def test_normalize_mobile_shapes(raw: str) -> None:
    try:
        result = normalize(raw)
    except InvalidNumber:
        return  # an unassigned prefix such as 0309 or 0349 is refused, which is fine
    assert result[-7:] == raw[-7:]
    assert E164_PK_MOBILE.match(result)


@given(st.text())
def test_mask_never_raises_and_never_leaks_a_mobile(raw: str) -> None:
    masked = mask(raw)
    assert isinstance(masked, str)
    try:
        e164 = normalize(raw)
    except InvalidNumber:
        return
    assert masked == e164[:6] + "*****" + e164[-2:]
